//! agent-rtc local agent: a real WebRTC peer (str0m) behind the Pipecat start and SmallWebRTC
//! offer/answer routes, and Pipecat's WebSocket transport (protobuf frames), with an echo bot and
//! fault injection, for demos and end-to-end tests.

mod blackout;
mod bot;
mod config;
mod fault;
mod frames;
mod http;
mod peer;
mod request_log;
mod rtvi;
mod sessions;
mod vad;
mod websocket;

use axum::serve::ListenerExt;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use config::Command;

fn main() -> ExitCode {
    let cfg = match config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Command::Run(cfg)) => cfg,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("agent-rtc-agent: {e}");
            return ExitCode::from(2);
        }
    };
    // str0m is built without default features: its crypto provider is installed here, once.
    str0m::crypto::from_feature_flags().install_process_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agent-rtc-agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent-rtc-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: config::Config) -> Result<(), String> {
    let addr = SocketAddr::new(cfg.host, cfg.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?
        // Without TCP_NODELAY a response written as headers + body waits out Nagle and the
        // client's delayed ACK (~40 ms) — most of an offer's round trip on loopback.
        .tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
    let local = axum::serve::Listener::local_addr(&listener).map_err(|e| e.to_string())?;
    let app = http::App::new(cfg, local);

    // Expire sessions even when no request comes in, so capacity frees up on its own.
    let sweeper = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                app.registry().sweep(Instant::now());
            }
        })
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        http::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    });

    // Signal handlers go in before the ready line: a Ctrl-C right after it must stop gracefully,
    // not kill the process with the default action.
    let shutdown = shutdown_signal();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "agent-rtc agent listening on http://{local}");
    let _ = out.flush();
    drop(out);

    let mut server = std::pin::pin!(std::future::IntoFuture::into_future(server));
    tokio::select! {
        r = &mut server => r.map_err(|e| e.to_string())?,
        () = shutdown => {
            let _ = stop_tx.send(true);
            app.registry().close_all();
            // Hanging fault requests would hold a graceful shutdown for minutes: cap the wait.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut server).await;
            // Give peers a moment to send their DTLS close.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    sweeper.abort();
    Ok(())
}

/// Registers for SIGINT and SIGTERM now (not at first poll) and resolves on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        let recv = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        async move {
            tokio::select! {
                () = recv(int) => {}
                () = recv(term) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
