//! The HTTP surface: start and offer routes for the three platforms, debug routes, static files.

// Handlers' helpers return the refusal itself as the error; boxing each `Response` would only
// add allocations on the error path.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use str0m::change::SdpOffer;
use tokio::sync::oneshot;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::config::Config;
use crate::fault::{self, ErrorStyle, Faults, StatusFault};
use crate::peer::{self, PeerCmd, PeerOptions};
use crate::request_log::RequestLog;
use crate::sessions::{uuid, Registry};

/// How long a hanging fault holds a request at most.
const HANG: Duration = Duration::from_secs(600);
/// How long a renegotiation may take inside a peer task.
const RENEGOTIATE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct App {
    pub cfg: Config,
    pub registry: Mutex<Registry>,
    pub log: Mutex<RequestLog>,
}

impl App {
    pub fn new(cfg: Config) -> Arc<App> {
        Arc::new(App {
            registry: Mutex::new(Registry::new(cfg.session_ttl, cfg.max_sessions)),
            log: Mutex::new(RequestLog::default()),
            cfg,
        })
    }

    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock would be a bug; keep serving rather than cascade.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, RequestLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Platform {
    Cloud,
    Butter,
    Runner,
}

pub fn router(app: Arc<App>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| {
            is_loopback_origin(origin.as_bytes())
        }))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(tower_http::cors::Any)
        .max_age(Duration::from_secs(600));
    Router::new()
        .route("/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/v1/public/{agent}/start", post(start_cloud))
        .route("/api/start/{agent}", post(start_butter))
        .route("/start", post(start_runner))
        .route("/api/offer", post(offer_plain).patch(offer_plain))
        .route(
            "/sessions/{id}/api/offer",
            post(offer_runner).patch(offer_runner),
        )
        .route(
            "/v1/public/{agent}/sessions/{id}/api/offer",
            post(offer_cloud).patch(offer_cloud),
        )
        .route(
            "/api/sessions/{id}/api/offer",
            post(offer_butter).patch(offer_butter),
        )
        .route("/debug/sessions/{id}", get(debug_session))
        .route("/debug/requests", get(debug_requests))
        .nest_service("/pkg", ServeDir::new(&app.cfg.pkg))
        .fallback_service(ServeDir::new(&app.cfg.www))
        .layer(cors)
        .with_state(app)
}

fn is_loopback_origin(origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn error(status: StatusCode, code: &str, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into(), "code": code}))).into_response()
}

/// A request taken apart: method, URI, headers and the body within the size limit.
struct Incoming {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, ()>,
}

/// Reads the body (bounded) and records the request for `/debug/requests`.
async fn take(app: &App, req: Request) -> Incoming {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, app.cfg.max_body_bytes)
        .await
        .map_err(|_| ());
    app.log().record(
        &parts.method,
        &parts.uri,
        &parts.headers,
        body.as_ref().ok().map(|b| &b[..]),
    );
    Incoming {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    }
}

impl Incoming {
    fn body(&self) -> Result<&Bytes, Response> {
        self.body.as_ref().map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "request body is over the size limit",
            )
        })
    }

    /// The body as a JSON value; an empty body counts as `{}`.
    fn json(&self) -> Result<Value, Response> {
        let body = self.body()?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                format!("request body is not valid JSON: {e}"),
            )
        })
    }

    fn authorization(&self) -> &str {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn check_key(&self, app: &App) -> Result<(), Response> {
        let Some(key) = &app.cfg.api_key else {
            return Ok(());
        };
        if self.authorization() == format!("Bearer {key}") {
            Ok(())
        } else {
            Err(error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or wrong Bearer key",
            ))
        }
    }

    /// Faults asked for by this request: the `fault` query parameter and `x-agent-fault`.
    fn faults(&self, base: &str) -> Result<(String, Faults), Response> {
        let mut spec = base.to_string();
        let query = self.uri.query().unwrap_or("");
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("fault=") {
                spec.push(',');
                spec.push_str(&percent_decode(v));
            }
        }
        if let Some(v) = self
            .headers
            .get("x-agent-fault")
            .and_then(|v| v.to_str().ok())
        {
            spec.push(',');
            spec.push_str(v);
        }
        let spec = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        Faults::parse(&spec)
            .map(|f| (spec, f))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "INVALID_FAULT", e))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The response a status fault asks for.
fn fault_response(f: StatusFault, what: &str, authorization: &str) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let msg = format!("fault injected: {what} answers {}", f.status);
    match f.style {
        ErrorStyle::Json => error(status, "FAULT", msg),
        ErrorStyle::Detail => (status, Json(json!({"detail": msg}))).into_response(),
        ErrorStyle::Echo => error(
            status,
            "FAULT",
            format!("{msg}; received Authorization: {authorization}"),
        ),
        ErrorStyle::Text => {
            let mut body = format!("<html><body><h1>{} {msg}</h1>", f.status);
            while body.len() < 640 {
                body.push_str("<p>This page stands in for a proxy's error page.</p>");
            }
            body.push_str("</body></html>");
            (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
    }
}

async fn hang() -> Response {
    tokio::time::sleep(HANG).await;
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "FAULT",
        "fault injected: hang ended",
    )
}

// ---------------------------------------------------------------- start

async fn start_cloud(
    State(app): State<Arc<App>>,
    Path(agent): Path<String>,
    req: Request,
) -> Response {
    start(app, Platform::Cloud, agent, req).await
}

async fn start_butter(
    State(app): State<Arc<App>>,
    Path(agent): Path<String>,
    req: Request,
) -> Response {
    start(app, Platform::Butter, agent, req).await
}

async fn start_runner(State(app): State<Arc<App>>, req: Request) -> Response {
    start(app, Platform::Runner, "runner".into(), req).await
}

async fn start(app: Arc<App>, platform: Platform, agent: String, req: Request) -> Response {
    let inc = take(&app, req).await;
    match start_inner(&app, platform, &agent, &inc).await {
        Ok(r) | Err(r) => r,
    }
}

async fn start_inner(
    app: &App,
    platform: Platform,
    agent: &str,
    inc: &Incoming,
) -> Result<Response, Response> {
    inc.body()?;
    if platform == Platform::Cloud {
        inc.check_key(app)?;
    }
    if platform == Platform::Butter && !agent.starts_with("agent_") {
        return Err(error(
            StatusCode::NOT_FOUND,
            "AGENT_NOT_FOUND",
            format!("unknown agent `{agent}` (Butter agent ids start with agent_)"),
        ));
    }
    let (spec, faults) = inc.faults(fault::from_agent_name(agent).unwrap_or(""))?;
    if let Some(d) = faults.delay_start {
        tokio::time::sleep(d).await;
    }
    if faults.start_hang {
        return Err(hang().await);
    }
    if let Some(f) = faults.start_status {
        return Err(fault_response(f, "start", inc.authorization()));
    }
    if faults.start_nonjson {
        return Err((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response());
    }
    if faults.start_nosession {
        return Err(Json(json!({"status": "ok"})).into_response());
    }

    let body = inc.json()?;
    let Some(body) = body.as_object() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "request body must be a JSON object",
        ));
    };
    match body.get("transport").and_then(Value::as_str) {
        Some(t @ ("daily" | "websocket")) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED_TRANSPORT",
                format!("the local agent serves only the webrtc transport, not `{t}`"),
            ))
        }
        Some("webrtc") | None => {}
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED_TRANSPORT",
                format!("unknown transport `{other}`"),
            ))
        }
    }
    if body.get("createDailyRoom").and_then(Value::as_bool) == Some(true) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED_TRANSPORT",
            "the local agent does not create Daily rooms (createDailyRoom); use the webrtc transport",
        ));
    }

    let id = match platform {
        Platform::Butter => format!("call_{}", uuid().replace('-', "")),
        _ => uuid(),
    };
    if app.registry().create(id.clone(), agent, &spec).is_none() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CAPACITY",
            "too many live sessions",
        ));
    }
    let mut out = json!({"sessionId": id});
    if !app.cfg.ice_servers.is_empty() {
        out["iceConfig"] = json!({"iceServers": [{"urls": app.cfg.ice_servers}]});
    }
    Ok(Json(out).into_response())
}

// ---------------------------------------------------------------- offer

#[derive(Clone, Copy, PartialEq, Eq)]
enum OfferRoute {
    /// `/api/offer`: no session; pc_ids are global.
    Plain,
    /// A session route; `true` when it needs the Bearer key.
    Session(bool),
}

async fn offer_plain(State(app): State<Arc<App>>, req: Request) -> Response {
    offer(app, OfferRoute::Plain, None, req).await
}

async fn offer_runner(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    offer(app, OfferRoute::Session(false), Some(id), req).await
}

async fn offer_butter(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    offer(app, OfferRoute::Session(false), Some(id), req).await
}

async fn offer_cloud(
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

fn session_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
        format!("no live session `{id}` (unknown or expired)"),
    )
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
                    return Err(error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "CAPACITY",
                        "too many live sessions",
                    ));
                }
                id
            }
        },
    };

    // Renegotiation of a live peer.
    let existing = pc_id.and_then(|p| {
        let mut reg = app.registry();
        let s = reg.live(&session_id)?;
        s.live_peer(p).map(|h| h.tx.clone())
    });
    let answer_pc_id = match (existing, restart) {
        (Some(tx), false) => {
            let (reply_tx, reply_rx) = oneshot::channel();
            let pc = pc_id.unwrap_or_default().to_string();
            if tx.send(PeerCmd::Offer(offer, reply_tx)).is_err() {
                return Err(error(
                    StatusCode::CONFLICT,
                    "PEER_CLOSED",
                    "the peer connection has closed",
                ));
            }
            let sdp = match tokio::time::timeout(RENEGOTIATE_TIMEOUT, reply_rx).await {
                Ok(Ok(Ok(sdp))) => sdp,
                Ok(Ok(Err(e))) => return Err(error(StatusCode::BAD_REQUEST, "INVALID_SDP", e)),
                _ => {
                    return Err(error(
                        StatusCode::CONFLICT,
                        "PEER_CLOSED",
                        "the peer connection has closed",
                    ))
                }
            };
            return Ok(answer(sdp, &pc, faults.offer_nopcid));
        }
        (Some(_), true) => pc_id.unwrap_or_default().to_string(),
        (None, _) => format!("pc-{}", uuid()),
    };

    // `faults` already holds the session's spec plus this request's.
    let agent = {
        let mut reg = app.registry();
        let s = reg
            .live(&session_id)
            .ok_or_else(|| session_not_found(&session_id))?;
        s.agent.clone()
    };
    let serial = app.registry().next_serial();
    let weak = Arc::downgrade(app);
    let opts = PeerOptions {
        agent,
        faults: faults.clone(),
        ping_timeout: app.cfg.ping_timeout,
    };
    let (sdp, handle) = peer::start(
        serial,
        answer_pc_id.clone(),
        offer,
        request_data,
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
    {
        let mut reg = app.registry();
        reg.add_peer(&session_id, handle);
        if route == OfferRoute::Plain {
            reg.register_plain(&answer_pc_id, &session_id);
        }
    }
    Ok(answer(sdp, &answer_pc_id, faults.offer_nopcid))
}

fn answer(sdp: String, pc_id: &str, omit_pc_id: bool) -> Response {
    let mut out = json!({"sdp": sdp, "type": "answer"});
    if !omit_pc_id {
        out["pc_id"] = json!(pc_id);
    }
    Json(out).into_response()
}

fn unprocessable(msg: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": msg, "code": "UNPROCESSABLE", "detail": msg})),
    )
        .into_response()
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
    let candidates: Vec<String> = list
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
    let tx = {
        let mut reg = app.registry();
        let sid = match session {
            Some(id) => Some(id.to_string()),
            None => reg.plain_session_of(pc_id),
        };
        sid.and_then(|sid| {
            reg.live(&sid)
                .and_then(|s| s.live_peer(pc_id).map(|p| p.tx.clone()))
        })
    };
    let sent = tx.is_some_and(|tx| tx.send(PeerCmd::Candidates(candidates)).is_ok());
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
    Ok(Json(json!({"status": "success"})).into_response())
}

// ---------------------------------------------------------------- debug

fn loopback_only(peer: SocketAddr) -> Result<(), Response> {
    let ip = match peer.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(std::net::IpAddr::V4)
            .unwrap_or(std::net::IpAddr::V6(v6)),
        v4 => v4,
    };
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "debug routes answer loopback clients only",
        ))
    }
}

async fn debug_session(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = loopback_only(peer) {
        return r;
    }
    let mut reg = app.registry();
    reg.sweep(Instant::now());
    match reg.get(&id) {
        Some(s) => Json(s.debug()).into_response(),
        None => session_not_found(&id),
    }
}

#[derive(serde::Deserialize)]
struct TagQuery {
    tag: Option<String>,
}

async fn debug_requests(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<TagQuery>,
) -> Response {
    if let Err(r) = loopback_only(peer) {
        return r;
    }
    let Some(tag) = q.tag else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "query parameter `tag` is required",
        );
    };
    Json(Value::Array(app.log().tagged(&tag))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        for ok in [
            "http://127.0.0.1:8000",
            "http://localhost:1",
            "http://localhost",
            "http://[::1]:9",
            "https://127.0.0.2",
        ] {
            assert!(is_loopback_origin(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "http://example.com",
            "null",
            "http://10.0.0.1:80",
            "127.0.0.1",
            "http://localhost.evil.com",
        ] {
            assert!(!is_loopback_origin(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn decodes_query_values() {
        assert_eq!(percent_decode("start-500%2Csilent"), "start-500,silent");
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
