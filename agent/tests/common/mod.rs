//! Test support: the built agent binary on a free port, and a minimal HTTP/1.1 client (one
//! request per connection) so tests see exactly the bytes the server sends.

#![allow(dead_code)]

use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub mod client;

pub const OFFER: &str = include_str!("../fixtures/chromium-offer.sdp");

/// How often [`until`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// What a polled condition gives: `true` / `Some(value)` once it holds.
pub trait Outcome {
    type Value;
    fn holds(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn holds(self) -> Option<T> {
        self
    }
}

/// Waits for `what`: polls `check` every few ms until it holds (`true`, or `Some(v)`: returns
/// `v`), and fails the test if it still does not after `deadline` (only there to catch hangs:
/// [`client::T`]). A test that waits for something polls for it with this; a fixed wait
/// ([`quiet`], [`client::Client::quiet`]) only ever proves that something does NOT happen.
pub async fn until<C: Outcome, F: Future<Output = C>>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> F,
) -> C::Value {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await.holds() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "still waiting for {what} after {deadline:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// For a while, nothing happens: lets `d` pass so that the assertions after it prove that
/// something does NOT happen in that time. Never a wait for something to happen ([`until`]).
pub async fn quiet(d: Duration) {
    tokio::time::sleep(d).await;
}

pub struct Agent {
    pub addr: String,
    pub child: Child,
}

impl Agent {
    /// Starts the agent with `args` (plus `--port 0`) and waits for its ready line.
    pub async fn start(args: &[&str]) -> Agent {
        Agent::start_env(args, &[]).await
    }

    pub async fn start_env(args: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-rtc-agent"));
        cmd.args([
            "--port",
            "0",
            "--www",
            "/nonexistent-www",
            "--pkg",
            "/nonexistent-pkg",
        ])
        .args(args)
        .env_remove("HOST")
        .env_remove("PORT")
        .env_remove("AGENT_API_KEY")
        .env_remove("ICE_SERVERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the agent binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("ready line within 10 s")
            .expect("stdout readable")
            .expect("a ready line");
        let addr = line
            .strip_prefix("agent-rtc agent listening on http://")
            .unwrap_or_else(|| panic!("unexpected ready line: {line}"))
            .to_string();
        assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
        // Keep draining stdout so the agent never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Agent { addr, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        request(&self.addr, method, path, headers, body.map(str::as_bytes))
            .await
            .expect("the agent answers")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        let b = body.to_string();
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(&b),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        let b = body.to_string();
        self.send(
            "PATCH",
            path,
            &[("content-type", "application/json")],
            Some(&b),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], None).await
    }

    /// A fresh runner session id.
    pub async fn session(&self) -> String {
        let r = self.post("/start", &serde_json::json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string()
    }

    /// Sends SIGTERM and returns the exit code.
    pub async fn terminate(self) -> Option<i32> {
        self.signal("-TERM").await
    }

    /// Sends a signal (`-TERM`, `-INT`) and returns the exit code.
    pub async fn signal(mut self, sig: &str) -> Option<i32> {
        let pid = self.child.id().expect("running");
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .await
            .expect("kill runs")
            .success();
        assert!(ok);
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits within 10 s after SIGTERM")
            .expect("wait works")
            .code()
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts an `{error, code}` refusal.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let j = self.json();
        assert_eq!(j["code"], code, "{j}");
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
    }
}

/// One HTTP/1.1 request on its own connection.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("content-length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    if let Some(b) = body {
        s.write_all(b).await?;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    Ok(parse(&raw))
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}
