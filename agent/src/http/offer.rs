//! SmallWebRTC signalling: `POST` an SDP offer (new peer, renegotiation, `restart_pc`) and
//! `PATCH` trickled ICE candidates, on the session-less runner route and the session routes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use str0m::change::SdpOffer;
use tokio::sync::oneshot;

use super::errors::{capacity, error, fault_response, hang, session_not_found, unprocessable};
use super::incoming::{take, Incoming};
use super::App;
use crate::bot::{Bot, BotOptions};
use crate::fault::Faults;
use crate::peer::{self, PeerCmd, PeerOptions};
use crate::sessions::uuid;

/// How long a renegotiation may take inside a peer task.
const RENEGOTIATE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum OfferRoute {
    /// `/api/offer`: no session; pc_ids are global.
    Plain,
    /// A session route; `true` when it needs the Bearer key.
    Session(bool),
}

pub async fn plain(State(app): State<Arc<App>>, req: Request) -> Response {
    offer(app, OfferRoute::Plain, None, req).await
}

pub async fn runner(State(app): State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    offer(app, OfferRoute::Session(false), Some(id), req).await
}

pub async fn butter(State(app): State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    offer(app, OfferRoute::Session(false), Some(id), req).await
}

pub async fn cloud(
    State(app): State<Arc<App>>,
    Path((_agent, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    offer(app, OfferRoute::Session(true), Some(id), req).await
}

async fn offer(
    app: Arc<App>,
    route: OfferRoute,
    session: Option<String>,
    req: Request,
) -> Response {
    let inc = take(&app, req).await;
    let r = if inc.method == Method::PATCH {
        patch_inner(&app, route, session.as_deref(), &inc).await
    } else {
        offer_inner(&app, route, session.as_deref(), &inc).await
    };
    match r {
        Ok(r) | Err(r) => r,
    }
}

/// Checks what every offer request needs; returns the session's fault spec and the faults.
fn offer_common(
    app: &App,
    route: OfferRoute,
    session: Option<&str>,
    inc: &Incoming,
) -> Result<(String, Faults), Response> {
    inc.body()?;
    if route == OfferRoute::Session(true) {
        inc.check_key(app)?;
    }
    let base = match session {
        Some(id) => {
            let mut reg = app.registry();
            let s = reg.live(id).ok_or_else(|| session_not_found(id))?;
            s.fault_spec.clone()
        }
        None => String::new(),
    };
    inc.faults(&base)
}

async fn offer_inner(
    app: &Arc<App>,
    route: OfferRoute,
    session: Option<&str>,
    inc: &Incoming,
) -> Result<Response, Response> {
    let (spec, faults) = offer_common(app, route, session, inc)?;
    if let Some(d) = faults.delay_offer {
        tokio::time::sleep(d).await;
    }
    if faults.offer_hang {
        return Err(hang().await);
    }
    if let Some(f) = faults.offer_status {
        return Err(fault_response(f, "offer", inc.authorization()));
    }
    if faults.offer_badsdp {
        return Ok(
            Json(json!({"sdp": "v=0 garbage", "type": "answer", "pc_id": "x"})).into_response(),
        );
    }

    let body = inc.json()?;
    let Some(sdp) = body.get("sdp").and_then(Value::as_str) else {
        return Err(unprocessable("field `sdp` (string) is required"));
    };
    if let Some(t) = body.get("type").and_then(Value::as_str) {
        if t != "offer" {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_SDP",
                format!("expected an SDP offer, got type `{t}`"),
            ));
        }
    }
    let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_SDP",
            format!("cannot parse the SDP offer: {e}"),
        )
    })?;
    let pc_id = body
        .get("pc_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let restart = body.get("restart_pc").and_then(Value::as_bool) == Some(true);
    let request_data = body
        .get("request_data")
        .or_else(|| body.get("requestData"))
        .cloned()
        .unwrap_or(Value::Null);

    // Which session the offer belongs to; the plain route makes one per new peer.
    let session_id = match session {
        Some(id) => id.to_string(),
        None => match pc_id.and_then(|p| app.registry().plain_session_of(p)) {
            Some(id) => id,
            None => {
                let id = uuid();
                let created = app.registry().create(id.clone(), "runner", &spec).is_some();
                if !created {
                    return Err(capacity());
                }
                id
            }
        },
    };

    // Renegotiation of a live peer, or its restart (the bot carries on).
    let existing = pc_id.and_then(|p| {
        let mut reg = app.registry();
        let s = reg.live(&session_id)?;
        s.live_peer(p).map(|h| {
            let mut ids = h.aliases.clone();
            ids.push(h.pc_id.clone());
            (h.tx.clone(), h.bot.clone(), ids)
        })
    });
    let mut aliases = Vec::new();
    let (answer_pc_id, carried_bot) = match (existing, restart) {
        (Some((tx, _, _)), false) => {
            let (reply_tx, reply_rx) = oneshot::channel();
            let pc = pc_id.unwrap_or_default().to_string();
            if tx.send(PeerCmd::Offer(offer, reply_tx)).is_err() {
                return Err(peer_closed());
            }
            let sdp = match tokio::time::timeout(RENEGOTIATE_TIMEOUT, reply_rx).await {
                Ok(Ok(Ok(sdp))) => sdp,
                Ok(Ok(Err(e))) => return Err(error(StatusCode::BAD_REQUEST, "INVALID_SDP", e)),
                _ => return Err(peer_closed()),
            };
            return Ok(answer(sdp, &pc, faults.offer_nopcid));
        }
        // A restart: the same bot on a new peer with a new id, the old ids still reaching it
        // (Pipecat 1.14's `renegotiate(restart_pc=True)` re-initialises the connection, whose
        // new `pc_id` the request handler maps next to the old one).
        (Some((_, bot, ids)), true) => {
            aliases = ids;
            (format!("pc-{}", uuid()), Some(bot))
        }
        // An unknown pc_id (or one whose peer has gone) starts a new peer and bot, as the
        // Pipecat runner does.
        (None, _) => (format!("pc-{}", uuid()), None),
    };

    // `faults` already holds the session's spec plus this request's.
    let (agent, blackout) = {
        let mut reg = app.registry();
        let s = reg
            .live(&session_id)
            .ok_or_else(|| session_not_found(&session_id))?;
        let blackout = faults.blackout.filter(|_| !s.blackout_used);
        s.blackout_used |= blackout.is_some();
        (s.agent.clone(), blackout)
    };
    let restarted = carried_bot.is_some();
    let bot = carried_bot.unwrap_or_else(|| {
        Arc::new(Mutex::new(Bot::new(BotOptions::new(
            agent,
            answer_pc_id.clone(),
            &faults,
        ))))
    });
    let serial = app.registry().next_serial();
    let weak = Arc::downgrade(app);
    let opts = PeerOptions {
        // As aioice: an offer that ends its candidates takes no trickled ones after it.
        candidates_ended: sdp.contains("a=end-of-candidates"),
        faults: faults.clone(),
        ping_timeout: app.cfg.ping_timeout,
        consent_timeout: app.cfg.consent_timeout,
        blackout,
        restarted,
    };
    let (sdp, mut handle) = peer::start(
        serial,
        answer_pc_id.clone(),
        offer,
        request_data,
        bot,
        opts,
        |serial| {
            Box::new(move |ending| {
                if let Some(app) = weak.upgrade() {
                    app.registry().peer_ended(serial, ending);
                }
            })
        },
    )
    .map_err(|e| error(StatusCode::BAD_REQUEST, "INVALID_SDP", e))?;
    handle.aliases = aliases;
    {
        let mut reg = app.registry();
        reg.add_peer(&session_id, handle);
        if route == OfferRoute::Plain {
            reg.register_plain(&answer_pc_id, &session_id);
        }
    }
    Ok(answer(sdp, &answer_pc_id, faults.offer_nopcid))
}

fn peer_closed() -> Response {
    error(
        StatusCode::CONFLICT,
        "PEER_CLOSED",
        "the peer connection has closed",
    )
}

fn answer(sdp: String, pc_id: &str, omit_pc_id: bool) -> Response {
    let mut out = json!({"sdp": sdp, "type": "answer"});
    if !omit_pc_id {
        out["pc_id"] = json!(pc_id);
    }
    Json(out).into_response()
}

async fn patch_inner(
    app: &App,
    route: OfferRoute,
    session: Option<&str>,
    inc: &Incoming,
) -> Result<Response, Response> {
    let (_spec, faults) = offer_common(app, route, session, inc)?;
    if let Some(f) = faults.patch_status {
        return Err(fault_response(f, "patch", inc.authorization()));
    }
    let body = inc.json()?;
    let Some(pc_id) = body.get("pc_id").and_then(Value::as_str) else {
        return Err(unprocessable("field `pc_id` (string) is required"));
    };
    let Some(list) = body.get("candidates").and_then(Value::as_array) else {
        return Err(unprocessable("field `candidates` (array) is required"));
    };
    let mut candidates: Vec<String> = list
        .iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other
                .get("candidate")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect();
    // The runner parses each candidate in turn (aiortc's `candidate_from_sdp`) and fails on an
    // empty one (no end-of-candidates in this protocol): those before it are added, then 500.
    let unparsable = candidates.iter().position(|c| c.trim().is_empty());
    if let Some(i) = unparsable {
        candidates.truncate(i);
    }
    let peer = {
        let mut reg = app.registry();
        let sid = match session {
            Some(id) => Some(id.to_string()),
            None => reg.plain_session_of(pc_id),
        };
        sid.and_then(|sid| {
            reg.live(&sid).and_then(|s| {
                s.live_peer(pc_id).map(|p| {
                    (
                        p.tx.clone(),
                        p.debug.lock().is_ok_and(|d| d.candidates_ended),
                    )
                })
            })
        })
    };
    // aiortc refuses a candidate after the offer's `a=end-of-candidates` (ValueError → 500).
    let ended = peer.as_ref().is_some_and(|(_, ended)| *ended) && !candidates.is_empty();
    if ended {
        candidates.clear();
    }
    let sent = peer.is_some_and(|(tx, _)| tx.send(PeerCmd::Candidates(candidates)).is_ok());
    if !sent {
        let msg = "Peer connection not found";
        return Err(match route {
            OfferRoute::Plain => {
                (StatusCode::NOT_FOUND, Json(json!({"detail": msg}))).into_response()
            }
            OfferRoute::Session(_) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"detail": msg, "error": msg, "code": "PEER_NOT_FOUND"})),
            )
                .into_response(),
        });
    }
    if unparsable.is_some() || ended {
        return Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response());
    }
    Ok(Json(json!({"status": "success"})).into_response())
}
