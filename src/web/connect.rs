//! The WebRTC connect entry points, `connectWebRtc()` and `startAndConnect()` over WebRTC: read and check every
//! option first (nothing is sent when one is wrong), build the call, start its steps side by
//! side, and resolve once the machine says the call is up — or reject with the first failure.

use super::call::{Call, Handover};
use super::carrier::Carrier;
use super::connection::Connection;
use super::error::require_globals;
use super::json::{get, options_to_json};
use super::media::{attach, media_stream, MediaChoice};
use super::session::{Session, SessionData};
use super::start::{check_signal, read_signal, start};
use super::wait::now_ms;
use super::wait::{started_now, Slot};
use super::webrtc::peer::{Link, Peer};
use super::webrtc::{self, link as link_of, listen, recovery, signal};
use crate::error::{Error, Phase};
use crate::machine::{Input, Machine, Setup};
use crate::options::StartRequest;
use crate::session::IceServer;
use crate::signalling::{choose_ice_servers, resolve_target, webrtc_session_check, ConnectOptions};
use crate::web::wait::spawn;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal};

/// Everything a connect reads from its options, checked.
struct Plan {
    options: ConnectOptions,
    audio: MediaChoice,
    video: MediaChoice,
    signal: Option<AbortSignal>,
}

impl Plan {
    fn read(options: &JsValue, json: &crate::json::Value) -> Result<Plan, Error> {
        Ok(Plan {
            options: ConnectOptions::from_options(json)?,
            audio: MediaChoice::read(options, "audio", true)?,
            video: MediaChoice::read(options, "video", false)?,
            signal: read_signal(options)?,
        })
    }

    fn setup(&self, starting: bool, t0: f64) -> Setup {
        Setup {
            now_ms: t0,
            timeout_ms: self.options.timeout_ms,
            starting,
            wait_for_bot_ready: self.options.wait_for_bot_ready,
            socket: false,
            ice_limit_ms: self.options.ice_limit_ms,
            tracks: [self.audio.is_on(), self.video.is_on()],
            request_data: self.options.request_data.clone(),
            seed: (js_sys::Math::random() * 9.0e15) as u64,
            reconnect: crate::recovery::Config::from_options(
                &self.options,
                (js_sys::Math::random() * 9.0e15) as u64,
            ),
        }
    }

    /// The call itself: its peer connection (on `ice`), the budget, then media and the local
    /// offer started. Returns the options the caller still needs.
    fn begin(
        self,
        ice: Vec<IceServer>,
        starting: bool,
        closer: AbortController,
        t0: f64,
    ) -> Result<(Rc<Call>, ConnectOptions), Error> {
        let streams = [media_stream()?, media_stream()?];
        let tracks = [self.audio.given(), self.video.given()];
        let peer = Rc::new(Peer::new(&ice, &streams[0], &tracks)?);
        let machine = Machine::new(self.setup(starting, t0));
        let link = Link::new(peer.clone());
        *link.ice.borrow_mut() = ice;
        let carrier = Carrier::WebRtc(link);
        let call = Call::new(machine, carrier, webrtc::run, streams, closer, t0);
        if let Some(rtc) = link_of(&call) {
            *rtc.peer_listeners.borrow_mut() = listen::listen(&call, &peer, 0);
        }
        let network = recovery::network_listeners(&call);
        call.held.listeners.borrow_mut().extend(network);
        call.listen_signal(self.signal.as_ref());
        attach(&call, self.audio, self.video);
        signal::make_offer(&call, false);
        Ok((call, self.options))
    }
}

fn new_closer() -> Result<AbortController, Error> {
    super::wait::abort_controller()
}

/// Refuses sessions that need another kind of client.
fn check_transport(data: &SessionData) -> Result<(), Error> {
    webrtc_session_check(&data.answer, data.transport)
}

/// Connects to a bot over WebRTC, for a `Session` or a bare `offerUrl`.
#[wasm_bindgen(js_name = connectWebRtc, unchecked_return_type = "Promise<Connection>")]
pub fn connect_web_rtc_js(
    #[wasm_bindgen(unchecked_param_type = "ConnectWebRtcOptions")] options: JsValue,
) -> js_sys::Promise {
    super::export_promise(connect_web_rtc(options))
}

/// `connectWebRtc()` (what the export's promise resolves to).
pub async fn connect_web_rtc(options: JsValue) -> Result<Connection, JsValue> {
    let t0 = now_ms();
    require_globals(&["RTCPeerConnection"], "WebRTC")?;
    let plan = Plan::read(&options, &options_to_json(&options)?)?;
    let session_js = get(&options, "session")?;
    let session = if session_js.is_undefined() || session_js.is_null() {
        None
    } else {
        let data = Session::resolve(&session_js)?;
        check_transport(&data)?;
        Some(data)
    };
    let target = resolve_target(
        &plan.options,
        session.as_ref().map(|d| {
            (
                d.answer.session_id.as_str(),
                d.offer_url.as_deref(),
                d.start_origin.as_str(),
                &d.credentials,
            )
        }),
    )?;
    check_signal(&plan.signal, Phase::Media)?;
    let ice = choose_ice_servers(
        plan.options.ice_servers.as_deref(),
        session.as_ref().map_or(&[], |d| &d.answer.ice_servers),
    );
    let session_id = session.as_ref().map(|d| d.answer.session_id.clone());
    let ice = ice.to_vec();
    let (call, _) = plan.begin(ice, false, new_closer()?, t0)?;
    // Before the local offer is set (a later task): nothing reads them sooner.
    if let Some(rtc) = link_of(&call) {
        *rtc.target.borrow_mut() = Some(target);
    }
    *call.page.session.borrow_mut() = (session_js, session_id);
    Connection::complete(call).await
}

/// A connect's future, boxed: each is compiled once however many callers await it.
pub(crate) type Connecting =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Connection, JsValue>>>>;

/// `startAndConnect()` over WebRTC (`auto.rs` chooses the transport): the start request
/// leaves first, and the peer connection, media and local offer are prepared while it is in
/// flight.
pub(crate) fn start_and_connect_rtc(
    options: JsValue,
    json: crate::json::Value,
    request: StartRequest,
    hand_over: Option<Handover>,
) -> Connecting {
    Box::pin(rtc(options, json, request, hand_over))
}

async fn rtc(
    options: JsValue,
    json: crate::json::Value,
    request: StartRequest,
    hand_over: Option<Handover>,
) -> Result<Connection, JsValue> {
    let t0 = now_ms();
    require_globals(&["RTCPeerConnection"], "WebRTC")?;
    // Every option is checked before the start request goes out.
    let plan = Plan::read(&options, &json)?;
    check_signal(&plan.signal, Phase::Start)?;
    let closer = new_closer()?;
    let started: Slot<Result<(SessionData, f64), Error>> = Slot::new();
    {
        let started = started.clone();
        let signal = closer.signal();
        spawn(started_now(async move {
            let result = async {
                // The call's budget (set below, before this task can wait) covers it.
                let deadline = super::deadline::Deadline::within(signal);
                let data = start(&request, &deadline).await?;
                check_transport(&data)?;
                Ok((data, now_ms()))
            }
            .await;
            started.set(result);
        }));
    }
    let explicit_ice = plan.options.ice_servers.clone();
    let initial = choose_ice_servers(explicit_ice.as_deref(), &[]);
    // The offer is set now, so gathering overlaps the start request and the offer carries its
    // candidates. If the start answer brings other ICE servers, gathering starts again (below).
    let (call, connect_options) = plan.begin(initial.to_vec(), true, closer, t0)?;
    *call.held.hand_over.borrow_mut() = hand_over;
    let weak = Rc::downgrade(&call);
    spawn(async move {
        let started = started.wait().await;
        // Weakly held meanwhile, as in `Call::feed`.
        let Some(call) = weak.upgrade() else { return };
        let (data, at) = match started {
            Ok(v) => v,
            Err(e) => return call.input(Input::Failure(e)),
        };
        call.mark_at("sessionStarted", at);
        let id = data.answer.session_id.clone();
        // The start's offer template is the one to use: connect's `offerUrl` is the same option.
        let target = resolve_target(
            &ConnectOptions {
                offer_url: None,
                credentials: None,
                ..connect_options.clone()
            },
            Some((
                &id,
                data.offer_url.as_deref(),
                &data.start_origin,
                &data.credentials,
            )),
        );
        let target = match target {
            Ok(t) => t,
            Err(e) => return call.input(Input::Failure(e.with_phase(Phase::Start))),
        };
        let Some(rtc) = link_of(&call) else { return };
        let chosen = choose_ice_servers(explicit_ice.as_deref(), &data.answer.ice_servers);
        // The offer was gathered with `rtc.ice`.
        let chosen = (*rtc.ice.borrow() != chosen).then(|| chosen.to_vec());
        *rtc.target.borrow_mut() = Some(target);
        *call.page.session.borrow_mut() = (JsValue::from(Session::new(data)), Some(id));
        let Some(chosen) = chosen else {
            return call.input(Input::Started);
        };
        if let Err(e) = rtc.peer().set_ice_servers(&chosen) {
            return call.input(Input::Failure(e));
        }
        *rtc.ice.borrow_mut() = chosen;
        // The offer was gathered without these servers: an ICE restart of the unsent offer
        // gathers again with them, and the start counts once that offer is set.
        signal::make_offer(&call, true);
    });
    Connection::complete(call).await
}
