//! The HTTP surface: start and offer routes for the three platforms, the WebSocket transport's
//! socket, the Daily room stand-in, debug routes, static files.
//! One file per route family; this one holds the shared state and the route table.

// Handlers' helpers return the refusal itself as the error; boxing each `Response` would only
// add allocations on the error path.
#![allow(clippy::result_large_err)]

mod debug;
mod errors;
mod incoming;
mod offer;
mod start;
mod ws;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderValue, Method};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::config::Config;
use crate::request_log::RequestLog;
use crate::sessions::Registry;

pub struct App {
    pub cfg: Config,
    /// `http://{listening address}`, with an unspecified address (0.0.0.0, ::) replaced by the
    /// loopback address of its family: the base of the Daily room and WebSocket URLs the agent
    /// hands out.
    pub base_url: String,
    pub registry: Mutex<Registry>,
    pub log: Mutex<RequestLog>,
}

impl App {
    pub fn new(cfg: Config, local: SocketAddr) -> Arc<App> {
        let ip = match local.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Arc::new(App {
            base_url: format!("http://{}", SocketAddr::new(ip, local.port())),
            registry: Mutex::new(Registry::new(cfg.session_ttl, cfg.max_sessions)),
            log: Mutex::new(RequestLog::new(cfg.api_key.clone())),
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
        .route("/v1/public/{agent}/start", post(start::cloud))
        .route("/api/start/{agent}", post(start::butter))
        .route("/start", post(start::runner))
        .route("/api/offer", post(offer::plain).patch(offer::plain))
        .route(
            "/sessions/{id}/api/offer",
            post(offer::runner).patch(offer::runner),
        )
        .route(
            "/v1/public/{agent}/sessions/{id}/api/offer",
            post(offer::cloud).patch(offer::cloud),
        )
        .route(
            "/api/sessions/{id}/api/offer",
            post(offer::butter).patch(offer::butter),
        )
        .route("/ws-client", get(ws::by_query))
        .route("/ws-client/{token}", get(ws::by_path))
        .route("/daily/{room}", get(debug::daily_room))
        .route("/debug/sessions/{id}", get(debug::session))
        .route("/debug/sessions/{id}/blackout", post(debug::blackout))
        .route("/debug/requests", get(debug::requests))
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
}
