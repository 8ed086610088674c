//! The `audio` / `video` options and getUserMedia.

use super::call::Call;
use super::error::js_failure;
use crate::error::{Error, ErrorCode, Phase};
use crate::machine::Input;
use js_sys::Reflect;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamConstraints, MediaStreamTrack};

/// One of `audio` / `video`: nothing, a caller's track, or something to ask getUserMedia for.
#[derive(Clone)]
pub enum MediaChoice {
    Off,
    Track(MediaStreamTrack),
    Capture(JsValue),
}

impl MediaChoice {
    pub fn read(options: &JsValue, key: &str, default_on: bool) -> Result<MediaChoice, Error> {
        let value = super::json::get(options, key)?;
        if value.is_undefined() || value.is_null() {
            return Ok(if default_on {
                MediaChoice::Capture(JsValue::TRUE)
            } else {
                MediaChoice::Off
            });
        }
        if let Some(b) = value.as_bool() {
            return Ok(if b {
                MediaChoice::Capture(JsValue::TRUE)
            } else {
                MediaChoice::Off
            });
        }
        if let Some(track) = value.dyn_ref::<MediaStreamTrack>() {
            let expected = if key == "audio" { "audio" } else { "video" };
            if track.kind() != expected {
                return Err(Error::invalid(format!(
                    "`{key}` is a {} track; it must be an {expected} track",
                    track.kind()
                )));
            }
            return Ok(MediaChoice::Track(Clone::clone(track)));
        }
        if value.is_object() && !value.is_function() && !value.is_instance_of::<js_sys::Array>() {
            return Ok(MediaChoice::Capture(value));
        }
        Err(Error::invalid(format!(
            "`{key}` must be a boolean, MediaTrackConstraints or a MediaStreamTrack"
        )))
    }

    /// The microphone asked for with `echoCancellation: "all"` where the page asked for nothing
    /// more precise: the canceller then covers everything the device plays, Web Audio included
    /// (a WebSocket call's bot), where the browser has such a mode (Chromium's capabilities list
    /// it where it can; elsewhere the value reads as `true`, the default).
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    pub fn cancel_all_echo(self) -> MediaChoice {
        match self {
            MediaChoice::Capture(v) if v == JsValue::TRUE => MediaChoice::Capture(echo_all()),
            other => other,
        }
    }

    /// The caller's own track, which the peer connection can send from its creation.
    pub fn given(&self) -> Option<MediaStreamTrack> {
        match self {
            MediaChoice::Track(t) => Some(Clone::clone(t)),
            _ => None,
        }
    }

    pub fn is_on(&self) -> bool {
        !matches!(self, MediaChoice::Off)
    }

    fn capture(&self) -> JsValue {
        match self {
            MediaChoice::Capture(c) => c.clone(),
            _ => JsValue::FALSE,
        }
    }
}

/// Tracks for both kinds: the caller's as given, the rest from one getUserMedia call. The second
/// list holds the tracks this library opened (it stops them on disconnect; never the caller's).
pub async fn acquire(
    audio: &MediaChoice,
    video: &MediaChoice,
) -> Result<
    (
        Option<MediaStreamTrack>,
        Option<MediaStreamTrack>,
        Vec<MediaStreamTrack>,
    ),
    Error,
> {
    // `Clone::clone` everywhere here: `track.clone()` would be JS `MediaStreamTrack.clone()`, a new
    // capture that nothing stops.
    let mut audio_track = if let MediaChoice::Track(t) = audio {
        Some(Clone::clone(t))
    } else {
        None
    };
    let mut video_track = if let MediaChoice::Track(t) = video {
        Some(Clone::clone(t))
    } else {
        None
    };
    let mut own = Vec::new();
    let wants_audio = matches!(audio, MediaChoice::Capture(_));
    let wants_video = matches!(video, MediaChoice::Capture(_));
    if wants_audio || wants_video {
        let stream = get_user_media(&audio.capture(), &video.capture()).await?;
        for t in stream.get_tracks().iter() {
            let track: MediaStreamTrack = t.unchecked_into();
            if track.kind() == "audio" && wants_audio && audio_track.is_none() {
                audio_track = Some(Clone::clone(&track));
            } else if track.kind() == "video" && wants_video && video_track.is_none() {
                video_track = Some(Clone::clone(&track));
            }
            own.push(track);
        }
    }
    Ok((audio_track, video_track, own))
}

/// `{ echoCancellation: "all" }`.
pub fn echo_all() -> JsValue {
    let c = js_sys::Object::new();
    let _ = Reflect::set(&c, &"echoCancellation".into(), &"all".into());
    c.into()
}

pub async fn get_user_media(audio: &JsValue, video: &JsValue) -> Result<MediaStream, Error> {
    let media_error = |message: String, name: String| {
        Error::new(ErrorCode::Media, message)
            .with_phase(Phase::Media)
            .with_name(name)
    };
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or_else(|| {
            media_error(
                "getUserMedia is unavailable (a secure context is required)".into(),
                "NotSupportedError".into(),
            )
        })?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(audio);
    constraints.set_video(video);
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| js_failure(ErrorCode::Media, "getUserMedia", &e).with_phase(Phase::Media))?;
    let mut guard = StopIfAbandoned(Some(promise.clone()));
    let result = JsFuture::from(promise).await;
    guard.0 = None;
    match result {
        Ok(stream) => Ok(stream.unchecked_into()),
        Err(e) => Err(js_failure(ErrorCode::Media, "getUserMedia", &e).with_phase(Phase::Media)),
    }
}

/// If the connect gives up while getUserMedia is pending (timeout, abort), the capture it opens
/// later still belongs to this library: stop it as soon as it arrives, or the microphone stays on.
struct StopIfAbandoned(Option<js_sys::Promise>);

impl Drop for StopIfAbandoned {
    fn drop(&mut self) {
        if let Some(promise) = self.0.take() {
            crate::web::wait::spawn(async move {
                if let Ok(stream) = JsFuture::from(promise).await {
                    let stream: MediaStream = stream.unchecked_into();
                    for track in stream.get_tracks().iter() {
                        track.unchecked_into::<MediaStreamTrack>().stop();
                    }
                }
            });
        }
    }
}

/// Opens what the caller asked for, puts it on the senders and tells the machine. The offer does
/// not wait for this to be created, but it is not posted before it succeeded.
pub fn attach(call: &Rc<Call>, audio: MediaChoice, video: MediaChoice) {
    let weak = Rc::downgrade(call);
    crate::web::wait::spawn(async move {
        let acquired = acquire(&audio, &video).await;
        let Some(call) = weak.upgrade().filter(|c| !c.is_closed()) else {
            // The connect gave up meanwhile: the capture must not stay on.
            if let Ok((_, _, own)) = acquired {
                stop_all(&own);
            }
            return;
        };
        let (audio, video, own) = match acquired {
            Ok(got) => got,
            Err(e) => return call.input(Input::Failure(e)),
        };
        *call.held.own_tracks.borrow_mut() = own;
        let carrier = &call.held.carrier;
        let replaced = js_sys::Array::new();
        if let Some(ready) = carrier.ready() {
            replaced.push(&ready);
        }
        for (index, track) in [audio, video].into_iter().enumerate() {
            let Some(track) = track else { continue };
            call.page.local_stream.add_track(&track);
            replaced.push(&carrier.send_track(index, &track));
            call.page.tracks.borrow_mut()[index] = Some(track);
        }
        call.feed(Box::pin(async move {
            Some(
                match JsFuture::from(js_sys::Promise::all(&replaced)).await {
                    Ok(_) => Input::MediaReady,
                    Err(e) => Input::Failure(
                        js_failure(ErrorCode::Media, "replaceTrack", &e).with_phase(Phase::Media),
                    ),
                },
            )
        }));
    });
}

/// A track of the bot's joins `remoteStream`, and the page hears of it.
pub fn add_remote_track(call: &Call, track: &MediaStreamTrack) {
    let stream = &call.page.remote_stream;
    stream.add_track(track);
    let arg = js_sys::Object::new();
    let _ = Reflect::set(&arg, &"track".into(), track);
    let _ = Reflect::set(&arg, &"stream".into(), stream);
    call.page.events.emit("track", &arg);
}

/// A call's `localStream` or `remoteStream`.
pub fn media_stream() -> Result<MediaStream, Error> {
    let stream = MediaStream::new();
    stream.map_err(|e| js_failure(ErrorCode::Media, "MediaStream", &e).with_phase(Phase::Media))
}

pub fn stop_all(tracks: &[MediaStreamTrack]) {
    tracks.iter().for_each(MediaStreamTrack::stop);
}

/// `listDevices()` as a plain object: `{ audioinput, audiooutput, videoinput }`.
pub async fn devices() -> Result<JsValue, Error> {
    let media = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or_else(|| {
            media_error(
                "mediaDevices is unavailable".into(),
                "NotSupportedError".into(),
            )
        })?;
    let promise = media.enumerate_devices().map_err(|e| {
        js_failure(ErrorCode::Media, "enumerateDevices", &e).with_phase(Phase::Call)
    })?;
    let list = JsFuture::from(promise).await.map_err(|e| {
        js_failure(ErrorCode::Media, "enumerateDevices", &e).with_phase(Phase::Call)
    })?;
    let out = js_sys::Object::new();
    let kinds = ["audioinput", "audiooutput", "videoinput"].map(|k| (k, js_sys::Array::new()));
    for device in js_sys::Array::from(&list).iter() {
        let kind = Reflect::get(&device, &"kind".into())
            .ok()
            .and_then(|k| k.as_string());
        if let Some((_, bucket)) = kinds.iter().find(|(k, _)| Some(*k) == kind.as_deref()) {
            bucket.push(&device);
        }
    }
    for (k, bucket) in &kinds {
        let _ = Reflect::set(&out, &JsValue::from_str(k), bucket);
    }
    Ok(out.into())
}

/// Lists the devices now available.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = listDevices, unchecked_return_type = "Promise<MediaDeviceList>")]
pub fn list_devices() -> js_sys::Promise {
    super::export_promise(async { devices().await.map_err(JsValue::from) })
}

/// Listens for the browser's `devicechange` from the first subscription to the connection's:
/// adding that listener has the browser start watching the devices, work on the page's main
/// thread that a connect need not pay for (measured: up to 2 ms of it).
pub fn watch_devices(call: &Rc<Call>) {
    if call.is_closed() || call.held.watching_devices.replace(true) {
        return;
    }
    let listener = device_listener(call);
    call.held.listeners.borrow_mut().extend(listener);
}

/// The connection's `devicechange` event, while it lives.
fn device_listener(call: &Rc<Call>) -> Option<gloo_events::EventListener> {
    let media = web_sys::window()?.navigator().media_devices().ok()?;
    let weak = Rc::downgrade(call);
    Some(gloo_events::EventListener::new(
        &media,
        "devicechange",
        move |_| {
            let weak = weak.clone();
            crate::web::wait::spawn(async move {
                if let Ok(list) = devices().await {
                    if let Some(call) = weak.upgrade() {
                        if !call.is_closed() {
                            call.page.events.emit("devicechange", &list);
                        }
                    }
                }
            });
        },
    ))
}

fn media_error(message: String, name: String) -> Error {
    Error::new(ErrorCode::Media, message)
        .with_phase(Phase::Call)
        .with_name(name)
}

/// `setMicrophone` / `setCamera`: a device id (opened here) or the caller's own track replaces
/// what sender `index` sends, with no renegotiation and the mute state kept. The track the SDK
/// opened before is stopped, a caller's never; if the new one fails, the old keeps sending.
pub async fn switch_track(call: &Rc<Call>, index: usize, choice: &JsValue) -> Result<(), Error> {
    let kind = if index == 0 { "audio" } else { "video" };
    let (track, own) = if let Some(t) = choice.dyn_ref::<MediaStreamTrack>() {
        if t.kind() != kind {
            return Err(Error::invalid(format!("pass an {kind} track")));
        }
        (Clone::clone(t), false)
    } else if let Some(id) = choice.as_string() {
        let exact = js_sys::Object::new();
        let _ = Reflect::set(&exact, &"exact".into(), &JsValue::from_str(&id));
        let constraints = js_sys::Object::new();
        let _ = Reflect::set(&constraints, &"deviceId".into(), &exact);
        let (audio, video) = if index == 0 {
            (JsValue::from(constraints), JsValue::FALSE)
        } else {
            (JsValue::FALSE, JsValue::from(constraints))
        };
        let stream = get_user_media(&audio, &video)
            .await
            .map_err(|e| media_error(e.message, e.details.name.unwrap_or_default()))?;
        let track = stream
            .get_tracks()
            .get(0)
            .unchecked_into::<MediaStreamTrack>();
        (track, true)
    } else {
        return Err(Error::invalid(format!(
            "pass a device id or an {kind} MediaStreamTrack"
        )));
    };
    let drop_new = |e: Error| {
        if own {
            track.stop();
        }
        e
    };
    if call.is_closed() {
        return Err(drop_new(Error::new(
            ErrorCode::Closed,
            "the connection is closed",
        )));
    }
    track.set_enabled(call.machine.borrow().track_enabled(index));
    JsFuture::from(call.held.carrier.send_track(index, &track))
        .await
        .map_err(|e| {
            drop_new(js_failure(ErrorCode::Media, "replaceTrack", &e).with_phase(Phase::Call))
        })?;
    let old = call.page.tracks.borrow_mut()[index].replace(Clone::clone(&track));
    if let Some(old) = old {
        call.page.local_stream.remove_track(&old);
        let mut own_tracks = call.held.own_tracks.borrow_mut();
        if let Some(i) = own_tracks.iter().position(|t| *t == old) {
            own_tracks.swap_remove(i).stop();
        }
    }
    call.page.local_stream.add_track(&track);
    if own {
        call.held.own_tracks.borrow_mut().push(track);
    }
    Ok(())
}
