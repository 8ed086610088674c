//! The `RTCPeerConnection` the server expects (docs/protocol.md §4) and the browser events that feed
//! the machine.

use super::call::{now_ms, Call};
use super::json::{parse_message, to_js};
use super::media::{describe, error_name};
use crate::error::{Error, ErrorCode, Phase};
use crate::machine::{IceState, Input};
use crate::rtvi::classify;
use crate::session::{ice_servers_value, IceServer};
use crate::trickle::Candidate;
use gloo_events::EventListener;
use js_sys::{Array, Function, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcBundlePolicy, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcOfferOptions, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcRtpSender, RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType,
    RtcSessionDescriptionInit, RtcTrackEvent,
};

pub struct Peer {
    pub pc: RtcPeerConnection,
    pub channel: RtcDataChannel,
    /// Audio, video.
    pub senders: [RtcRtpSender; 2],
    pub local_stream: MediaStream,
    pub remote_stream: MediaStream,
}

/// A browser WebRTC API refused something; the machine gives it the phase it happened in.
pub fn browser_error(what: &str, e: &JsValue) -> Error {
    Error::new(ErrorCode::Webrtc, format!("{what} failed: {}", describe(e)))
        .with_name(error_name(e))
}

pub fn webrtc_error(phase: Phase, what: &str, e: &JsValue) -> Error {
    browser_error(what, e).with_phase(phase)
}

/// A browser promise whose rejection is a `webrtc` error of the offer phase.
pub async fn promise(p: js_sys::Promise, what: &'static str) -> Result<JsValue, Error> {
    JsFuture::from(p)
        .await
        .map_err(|e| webrtc_error(Phase::Offer, what, &e))
}

#[wasm_bindgen]
extern "C" {
    /// An `RTCPeerConnection`, for the one call web-sys does not bind.
    type Pc;
    /// `setLocalDescription()` with no description: the browser creates the offer and sets it
    /// in one step (no `createOffer` round trip through the page).
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_offer(this: &Pc) -> js_sys::Promise;
}

/// Creates an offer and sets it, and returns its SDP. The browser starts at once, before the
/// future is first polled. `ice_restart`: with new ICE credentials, so gathering starts again
/// under the configuration now in force (through `createOffer({ iceRestart })`).
pub fn local_offer(
    pc: &RtcPeerConnection,
    ice_restart: bool,
) -> impl std::future::Future<Output = Result<String, Error>> {
    let set = (!ice_restart).then(|| pc.unchecked_ref::<Pc>().set_local_offer());
    let pc = pc.clone();
    async move {
        match set {
            Some(set) => drop(promise(set, "setLocalDescription").await?),
            None => {
                let options = RtcOfferOptions::new();
                options.set_ice_restart(true);
                let created = pc.create_offer_with_rtc_offer_options(&options);
                let offer = promise(created, "createOffer").await?;
                let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
                init.set_sdp(&sdp_of(&offer));
                promise(pc.set_local_description(&init), "setLocalDescription").await?;
            }
        }
        Ok(local_sdp(&pc))
    }
}

/// The SDP of the local description now, with the candidates gathered so far ("" before one
/// is set).
pub fn local_sdp(pc: &RtcPeerConnection) -> String {
    sdp_of(&Reflect::get(pc, &"localDescription".into()).unwrap_or_default())
}

/// The `sdp` of a session description ("" when there is none).
fn sdp_of(description: &JsValue) -> String {
    Reflect::get(description, &"sdp".into())
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// Applies the server's answer: the browser starts now (before anything else this task does,
/// such as a trickle request), the future reports.
pub fn apply_answer(
    pc: &RtcPeerConnection,
    sdp: &str,
) -> impl std::future::Future<Output = Result<JsValue, Error>> {
    let remote = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
    remote.set_sdp(sdp);
    promise(pc.set_remote_description(&remote), "setRemoteDescription")
}

/// One bundle for all media (no per-m-line gathering), and the ICE servers in force.
fn rtc_config(ice_servers: &[IceServer]) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    config.set_bundle_policy(RtcBundlePolicy::MaxBundle);
    config.set_ice_servers(&to_js(&ice_servers_value(ice_servers)));
    config
}

/// The local and remote `MediaStream`s of a call: a recovery's new peer connection uses the same
/// ones, so the page's handles stay valid.
pub type Streams = (MediaStream, MediaStream);

impl Peer {
    /// Audio then video transceivers, both sendrecv (sending `tracks` where given), and the
    /// ordered `chat` channel, all before the offer.
    pub fn new(
        ice_servers: &[IceServer],
        streams: Option<Streams>,
        tracks: &[Option<MediaStreamTrack>; 2],
    ) -> Result<Peer, Error> {
        let pc = RtcPeerConnection::new_with_configuration(&rtc_config(ice_servers))
            .map_err(|e| webrtc_error(Phase::Media, "RTCPeerConnection", &e))?;
        let stream =
            || MediaStream::new().map_err(|e| webrtc_error(Phase::Media, "MediaStream", &e));
        let (local_stream, remote_stream) = match streams {
            Some(s) => s,
            None => match (stream(), stream()) {
                (Ok(l), Ok(r)) => (l, r),
                (Err(e), _) | (_, Err(e)) => {
                    pc.close();
                    return Err(e);
                }
            },
        };
        let add = |kind: &str, track: &Option<MediaStreamTrack>| {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendrecv);
            init.set_streams(&Array::of1(&local_stream));
            match track {
                Some(t) => pc.add_transceiver_with_media_stream_track_and_init(t, &init),
                None => pc.add_transceiver_with_str_and_init(kind, &init),
            }
            .sender()
        };
        let senders = [add("audio", &tracks[0]), add("video", &tracks[1])];
        let channel_init = RtcDataChannelInit::new();
        channel_init.set_ordered(true);
        let channel = pc.create_data_channel_with_data_channel_dict("chat", &channel_init);
        Ok(Peer {
            pc,
            channel,
            senders,
            local_stream,
            remote_stream,
        })
    }

    /// Replaces the ICE servers before gathering starts (the start answer's `iceConfig`).
    pub fn set_ice_servers(&self, ice_servers: &[IceServer]) -> Result<(), Error> {
        let set: Function = Reflect::get(&self.pc, &"setConfiguration".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| Error::new(ErrorCode::Webrtc, "setConfiguration is unavailable"))?;
        set.call1(&self.pc, &rtc_config(ice_servers))
            .map(drop)
            .map_err(|e| webrtc_error(Phase::Offer, "setConfiguration", &e))
    }

    pub fn state(&self, prop: &str) -> String {
        Reflect::get(&self.pc, &prop.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    }
}

/// The peer connection's and channel's listeners, each feeding the call's machine. They hold the
/// call weakly: the call owns them and drops them when it closes. `serial` names the peer
/// connection: the call's current one feeds the machine as usual, a recovery attempt's feeds its
/// attempt (`recovery.rs`), any other's is stale and ignored.
pub fn listen(call: &Rc<Call>, peer: &Peer, serial: u32) -> Vec<EventListener> {
    let weak = Rc::downgrade(call);
    let on = |target: &web_sys::EventTarget,
              name: &'static str,
              f: fn(&Rc<Call>, Of, &web_sys::Event)| {
        let weak = weak.clone();
        EventListener::new(target, name, move |e| {
            if let Some(call) = weak.upgrade() {
                if let Some(of) = call.which(serial) {
                    f(&call, of, e)
                }
            }
        })
    };
    vec![
        on(&peer.pc, "icecandidate", |call, of, e| {
            let Some(e) = e.dyn_ref::<RtcPeerConnectionIceEvent>() else {
                return;
            };
            let candidate = e.candidate().map(|c| Candidate {
                candidate: c.candidate(),
                sdp_mid: c.sdp_mid(),
                sdp_mline_index: c.sdp_m_line_index(),
            });
            call.input(match of {
                Of::Call => Input::Candidate(candidate),
                Of::Attempt(attempt) => Input::AttemptCandidate { attempt, candidate },
            });
        }),
        on(&peer.pc, "iceconnectionstatechange", |call, of, _| {
            let peer = call.peer_of(of);
            let state = IceState::parse(&peer.state("iceConnectionState"));
            match (of, state) {
                (Of::Call, _) => {
                    if state == IceState::Connected {
                        call.mark("iceConnected");
                    }
                    call.input(Input::Ice(state));
                }
                (Of::Attempt(n), IceState::Connected) => call.input(Input::AttemptConnected(n)),
                (Of::Attempt(n), IceState::Failed) => call.input(attempt_failed(n)),
                _ => {}
            }
        }),
        on(&peer.pc, "connectionstatechange", |call, of, _| {
            if call.peer_of(of).state("connectionState") == "failed" {
                call.input(match of {
                    Of::Call => Input::Ice(IceState::Failed),
                    Of::Attempt(n) => attempt_failed(n),
                });
            }
        }),
        on(&peer.pc, "track", |call, of, e| {
            let Some(e) = e.dyn_ref::<RtcTrackEvent>() else {
                return;
            };
            match of {
                Of::Call => {
                    call.mark("remoteTrack");
                    call.add_remote_track(&e.track());
                }
                // Moved into `remoteStream` when the attempt's connection becomes the call's.
                Of::Attempt(_) => super::recovery::track(call, e.track()),
            }
        }),
        on(&peer.channel, "open", |call, of, _| match of {
            Of::Call => {
                call.mark("channelOpen");
                call.input(Input::ChannelOpen { now_ms: now_ms() })
            }
            Of::Attempt(_) => super::recovery::channel_opened(call),
        }),
        on(&peer.channel, "close", |call, of, _| {
            if of == Of::Call {
                call.input(Input::ChannelClosed)
            }
        }),
        on(&peer.channel, "message", |call, of, e| {
            let Some(e) = e.dyn_ref::<MessageEvent>() else {
                return;
            };
            if of == Of::Call {
                call.count_message();
            }
            if let Some(text) = e.data().as_string() {
                let (json, cut) = parse_message(&text).unzip();
                call.input(Input::Message(classify(text, json, cut == Some(true))));
            }
        }),
    ]
}

/// Whose peer connection an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Of {
    Call,
    /// The recovery attempt with this number.
    Attempt(u32),
}

fn attempt_failed(attempt: u32) -> Input {
    Input::AttemptFailed {
        attempt,
        error: Error::new(ErrorCode::IceFailed, "the new connection failed")
            .with_phase(Phase::Call),
    }
}
