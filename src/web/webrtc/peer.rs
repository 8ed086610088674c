//! The `RTCPeerConnection` the server expects (docs/protocol.md §4), and what a call holds of
//! WebRTC (`Link`): its peer connection, a recovery attempt's, the ICE servers and the offer URL.
//! Nothing here feeds the machine (`listen.rs` does) or knows the call.

use crate::error::{Error, ErrorCode, Phase};
use crate::machine::Flight;
use crate::options::Credentials;
use crate::session::{ice_servers_value, IceServer};
use crate::web::error::js_failure;
use crate::web::json::{to_js, value_to_json};
use crate::web::wait::defer_drop;
use gloo_events::EventListener;
use js_sys::{Array, Function, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, MediaStream, MediaStreamTrack, RtcBundlePolicy, RtcConfiguration,
    RtcDataChannel, RtcDataChannelInit, RtcOfferOptions, RtcPeerConnection, RtcRtpSender,
    RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit,
};

pub struct Peer {
    pub pc: RtcPeerConnection,
    pub channel: RtcDataChannel,
    /// Audio, video.
    pub senders: [RtcRtpSender; 2],
}

/// A browser WebRTC API refused something; the machine gives it the phase it happened in.
pub fn browser_error(what: &str, e: &JsValue) -> Error {
    js_failure(ErrorCode::Webrtc, what, e)
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

impl Peer {
    /// Audio then video transceivers, both sendrecv (sending `tracks` where given, in the
    /// call's `localStream`), and the ordered `chat` channel, all before the offer.
    pub fn new(
        ice_servers: &[IceServer],
        local_stream: &MediaStream,
        tracks: &[Option<MediaStreamTrack>; 2],
    ) -> Result<Peer, Error> {
        let pc = RtcPeerConnection::new_with_configuration(&rtc_config(ice_servers))
            .map_err(|e| webrtc_error(Phase::Media, "RTCPeerConnection", &e))?;
        let add = |kind: &str, track: &Option<MediaStreamTrack>| {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendrecv);
            init.set_streams(&Array::of1(local_stream));
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

/// Whose peer connection an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Of {
    Call,
    /// The recovery attempt with this number.
    Attempt(u32),
}

/// A recovery attempt under way: a new peer connection with its own listeners (its requests
/// are the `Link`'s flights numbered after it).
pub struct Attempt {
    /// The machine's attempt number, which the peer connection's listeners carry too.
    pub number: u32,
    pub peer: Rc<Peer>,
    pub listeners: Vec<EventListener>,
    /// The bot's tracks on the new connection, for `remoteStream` once it is the call's.
    pub tracks: Vec<MediaStreamTrack>,
    pub channel_open: bool,
}

impl Attempt {
    /// Closes its connection; its listeners go after this task.
    pub fn close(self) {
        self.peer.channel.close();
        self.peer.pc.close();
        defer_drop(self.listeners);
    }
}

/// What a call holds of WebRTC.
pub struct Link {
    /// The peer connection carrying the call (replaced when a recovery succeeds), its listeners
    /// and the machine's number for it (0, or the recovery attempt that made it).
    peer: RefCell<Rc<Peer>>,
    pub peer_listeners: RefCell<Vec<EventListener>>,
    current: Cell<u32>,
    /// A recovery attempt under way (`recovery.rs`).
    pub attempt: RefCell<Option<Attempt>>,
    /// Messages received on the current channel (traffic for the recovery policy).
    messages: Cell<u64>,
    /// The ICE servers in force (a recovery's peer connection uses them too).
    pub ice: RefCell<Vec<IceServer>>,
    /// The offer URL and the credentials its requests carry.
    pub target: RefCell<Option<(String, Credentials)>>,
    /// The requests in flight, each with what cuts it short.
    flights: RefCell<Vec<(Flight, AbortController)>>,
}

impl Link {
    pub fn new(peer: Rc<Peer>) -> Link {
        Link {
            peer: RefCell::new(peer),
            peer_listeners: RefCell::new(Vec::new()),
            current: Cell::new(0),
            attempt: RefCell::new(None),
            messages: Cell::new(0),
            ice: RefCell::new(Vec::new()),
            target: RefCell::new(None),
            flights: RefCell::new(Vec::new()),
        }
    }

    /// Request `flight` leaves, cut short by `controller`; one still out under that name is
    /// aborted (the machine has one of each at a time).
    pub fn fly(&self, flight: Flight, controller: AbortController) {
        let old = {
            let mut flights = self.flights.borrow_mut();
            let old = take_where(&mut flights, &|f| f == flight);
            flights.push((flight, controller));
            old
        };
        old.iter().for_each(|c| c.abort());
    }

    /// Request `flight` (cut short by `controller`) answered: whether the machine still waits
    /// for it (not if it was aborted or replaced meanwhile).
    pub fn land(&self, flight: Flight, controller: &AbortController) -> bool {
        let mut flights = self.flights.borrow_mut();
        let i = flights
            .iter()
            .position(|(f, c)| *f == flight && c == controller);
        i.map(|i| flights.swap_remove(i)).is_some()
    }

    /// Aborts the requests `which` picks; what they report is dropped.
    pub fn abort(&self, which: &dyn Fn(Flight) -> bool) {
        let aborted = take_where(&mut self.flights.borrow_mut(), which);
        aborted.iter().for_each(|c| c.abort());
    }

    /// The peer connection carrying the call now.
    pub fn peer(&self) -> Rc<Peer> {
        self.peer.borrow().clone()
    }

    /// Whose events a listener of the peer connection numbered `n` delivers: the call's, the
    /// recovery attempt's, or nobody's (a connection already replaced or dropped).
    pub fn which(&self, n: u32) -> Option<Of> {
        if n == self.current.get() {
            return Some(Of::Call);
        }
        let attempt = self.attempt.borrow();
        attempt
            .as_ref()
            .filter(|a| a.number == n)
            .map(|a| Of::Attempt(a.number))
    }

    pub fn peer_of(&self, of: Of) -> Rc<Peer> {
        match (of, &*self.attempt.borrow()) {
            (Of::Attempt(_), Some(a)) => a.peer.clone(),
            _ => self.peer(),
        }
    }

    /// Makes `peer` (with its listeners, numbered `n`) the call's peer connection and returns
    /// the old one with its listeners.
    pub fn replace_peer(
        &self,
        peer: Rc<Peer>,
        listeners: Vec<EventListener>,
        n: u32,
    ) -> (Rc<Peer>, Vec<EventListener>) {
        self.current.set(n);
        self.messages.set(0);
        let old = self.peer.replace(peer);
        (old, self.peer_listeners.replace(listeners))
    }

    pub fn count_message(&self) {
        self.messages.set(self.messages.get() + 1);
    }

    pub fn messages(&self) -> u64 {
        self.messages.get()
    }

    /// Takes the attempt under way if it is `number` (any, for `None`).
    pub fn take_attempt(&self, number: Option<u32>) -> Option<Attempt> {
        let mut slot = self.attempt.borrow_mut();
        match (&*slot, number) {
            (Some(a), Some(n)) if a.number != n => None,
            _ => slot.take(),
        }
    }

    /// The call is closing: the attempt under way, the peer connection and their listeners go
    /// (the listeners after this task: one of them may be running it).
    pub fn close(&self) {
        self.abort(&|_| true);
        if let Some(a) = self.take_attempt(None) {
            a.close();
        }
        defer_drop(std::mem::take(&mut *self.peer_listeners.borrow_mut()));
        let peer = self.peer();
        peer.channel.close();
        peer.pc.close();
    }
}

/// Takes the controllers of the flights `which` picks out of `flights`.
fn take_where(
    flights: &mut Vec<(Flight, AbortController)>,
    which: &dyn Fn(Flight) -> bool,
) -> Vec<AbortController> {
    let mut taken = Vec::new();
    let mut i = 0;
    while i < flights.len() {
        if which(flights[i].0) {
            taken.push(flights.swap_remove(i).1);
        } else {
            i += 1;
        }
    }
    taken
}

/// What every transport gives a call (`carrier.rs`), for WebRTC.
impl Link {
    pub fn send(&self, text: &str, what: &str) -> Result<(), Error> {
        let channel = &self.peer().channel;
        channel
            .send_with_str(text)
            .map_err(|e| browser_error(what, &e))
    }

    pub fn max_message(&self) -> Option<f64> {
        let peer = self.peer();
        let pc: &WithSctp = peer.pc.unchecked_ref();
        pc.sctp()?.max_message_size()
    }

    pub fn send_track(&self, index: usize, track: &MediaStreamTrack) -> js_sys::Promise {
        let peer = self.peer();
        let sender = &peer.senders[index.min(1)];
        // A caller's track is sent from the start (`Peer::new`): nothing to replace.
        if sender.track().as_ref() == Some(track) {
            return js_sys::Promise::resolve(&JsValue::UNDEFINED);
        }
        sender.replace_track(Some(track))
    }

    pub fn peer_connection(&self) -> JsValue {
        self.peer().pc.clone().into()
    }

    pub fn stats(&self) -> impl std::future::Future<Output = Result<JsValue, JsValue>> {
        stats(self.peer().pc.get_stats())
    }
}

/// `getStats()`: the peer connection's report (`report`, its promise) summarised.
async fn stats(report: js_sys::Promise) -> Result<JsValue, JsValue> {
    let report = JsFuture::from(report)
        .await
        .map_err(|e| JsValue::from(webrtc_error(Phase::Call, "getStats", &e)))?;
    let mut entries = Vec::new();
    let map: &js_sys::Map = report.unchecked_ref();
    map.for_each(&mut |value, _| {
        if let Ok(v) = value_to_json(&value) {
            entries.push(v);
        }
    });
    let stats = crate::stats::summarize(&entries);
    // Typed stats straight to a plain JS object: serde-wasm-bindgen's serializer is small; only
    // its deserializer (for arbitrary JSON) is costly, which is why `json.rs` uses the browser's JSON.
    let to_js = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    Ok(serde::Serialize::serialize(&stats, &to_js).unwrap_or(JsValue::UNDEFINED))
}

#[wasm_bindgen]
extern "C" {
    /// An `RTCPeerConnection` seen for its `sctp` (web-sys has no binding for it).
    type WithSctp;
    /// `RTCSctpTransport`.
    type SctpTransport;
    /// `null` until the channel's transport exists; absent in older browsers.
    #[wasm_bindgen(method, getter, js_name = sctp)]
    fn sctp(this: &WithSctp) -> Option<SctpTransport>;
    #[wasm_bindgen(method, getter, js_name = maxMessageSize)]
    fn max_message_size(this: &SctpTransport) -> Option<f64>;
}
