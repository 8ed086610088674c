//! The `RTCPeerConnection` the server expects (PROTOCOL.md §4) and the browser events that feed
//! the machine.

use super::call::{now_ms, Call};
use super::json::{parse_text, to_js};
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
    MediaStream, MessageEvent, RtcBundlePolicy, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcRtpSender,
    RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcTrackEvent,
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

/// One bundle for all media (no per-m-line gathering), and the ICE servers in force.
fn rtc_config(ice_servers: &[IceServer]) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    config.set_bundle_policy(RtcBundlePolicy::MaxBundle);
    config.set_ice_servers(&to_js(&ice_servers_value(ice_servers)));
    config
}

impl Peer {
    /// Audio then video transceivers, both sendrecv, and the ordered `chat` channel, all before
    /// the offer.
    pub fn new(ice_servers: &[IceServer]) -> Result<Peer, Error> {
        let pc = RtcPeerConnection::new_with_configuration(&rtc_config(ice_servers))
            .map_err(|e| webrtc_error(Phase::Media, "RTCPeerConnection", &e))?;
        let stream =
            || MediaStream::new().map_err(|e| webrtc_error(Phase::Media, "MediaStream", &e));
        let (local_stream, remote_stream) = match (stream(), stream()) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(e), _) | (_, Err(e)) => {
                pc.close();
                return Err(e);
            }
        };
        let add = |kind: &str| {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendrecv);
            init.set_streams(&Array::of1(&local_stream));
            pc.add_transceiver_with_str_and_init(kind, &init).sender()
        };
        let senders = [add("audio"), add("video")];
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

    fn state(&self, prop: &str) -> String {
        Reflect::get(&self.pc, &prop.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    }
}

/// The peer connection's and channel's listeners, each feeding the call's machine. They hold the
/// call weakly: the call owns them and drops them when it closes.
pub fn listen(call: &Rc<Call>) -> Vec<EventListener> {
    let weak = Rc::downgrade(call);
    let on =
        |target: &web_sys::EventTarget, name: &'static str, f: fn(&Rc<Call>, &web_sys::Event)| {
            let weak = weak.clone();
            EventListener::new(target, name, move |e| {
                if let Some(call) = weak.upgrade() {
                    f(&call, e)
                }
            })
        };
    let peer = &call.peer;
    vec![
        on(&peer.pc, "icecandidate", |call, e| {
            let Some(e) = e.dyn_ref::<RtcPeerConnectionIceEvent>() else {
                return;
            };
            let candidate = e.candidate().map(|c| Candidate {
                candidate: c.candidate(),
                sdp_mid: c.sdp_mid(),
                sdp_mline_index: c.sdp_m_line_index(),
            });
            call.input(Input::Candidate(candidate));
        }),
        on(&peer.pc, "iceconnectionstatechange", |call, _| {
            let state = IceState::parse(&call.peer.state("iceConnectionState"));
            if state == IceState::Connected {
                call.mark("iceConnected");
            }
            call.input(Input::Ice(state));
        }),
        on(&peer.pc, "connectionstatechange", |call, _| {
            if call.peer.state("connectionState") == "failed" {
                call.input(Input::Ice(IceState::Failed));
            }
        }),
        on(&peer.pc, "track", |call, e| {
            let Some(e) = e.dyn_ref::<RtcTrackEvent>() else {
                return;
            };
            let track = e.track();
            call.mark("remoteTrack");
            call.peer.remote_stream.add_track(&track);
            let arg = js_sys::Object::new();
            let _ = Reflect::set(&arg, &"track".into(), &track);
            let _ = Reflect::set(&arg, &"stream".into(), &call.peer.remote_stream);
            call.events.emit("track", &arg);
        }),
        on(&peer.channel, "open", |call, _| {
            call.mark("channelOpen");
            call.input(Input::ChannelOpen { now_ms: now_ms() })
        }),
        on(&peer.channel, "close", |call, _| {
            call.input(Input::ChannelClosed)
        }),
        on(&peer.channel, "message", |call, e| {
            let Some(e) = e.dyn_ref::<MessageEvent>() else {
                return;
            };
            if let Some(text) = e.data().as_string() {
                let json = parse_text(&text);
                call.input(Input::Message(classify(text, json)));
            }
        }),
    ]
}
