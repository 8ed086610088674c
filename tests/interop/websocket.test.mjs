// The WebSocket transport against the real Pipecat development runner (pipecat-ai 1.14 in the
// virtualenv `make setup` creates; tests/interop/bot.py, the echo bot, on Pipecat's
// FastAPIWebsocketTransport with protobuf frames), started with `--host localhost --ws-auth token`
// as a deployment with token auth would be. In each engine — headless Chromium (playwright),
// Firefox ESR (geckodriver) and WebKitGTK (WebKitWebDriver, MiniBrowser on a virtual display) —
// startAndConnect({ transport: "websocket" }) reaches bot-ready, the microphone's echo is heard in
// remoteStream, a client request is answered and a server-message arrives (tests/interop/bot.py),
// disconnect() ends the bot and closes the socket and the audio context; a bad token is a typed
// `socket`-phase error with nothing left open; the <agent-preview> widget with
// transport="websocket" connects and stops; a page under a strict Content-Security-Policy
// (`script-src 'self' 'wasm-unsafe-eval'`, no inline script, no blob:) makes the same call with no
// violation. WebKitGTK has no RTCPeerConnection: there connectWebRtc is `unsupported`.
//
// Run: make test-interop (or PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/).

import { test } from "node:test";
import assert from "node:assert/strict";
import { poll, tcpRelay } from "../e2e/harness.mjs";
import { ENGINES } from "../e2e/webdriver.mjs";
import { runnerWithPages } from "./fixture.mjs";


// The page: the SDK from pkg/, a call helper that listens to every event, and a meter of the
// bot's audio in remoteStream (RMS of an AnalyserNode, polled).
const PAGE = `<!doctype html><meta charset="utf-8"><title>websocket interop</title>
<script>
  // Every AudioContext and WebSocket the page makes, to check that a call leaves none open.
  for (const name of ["AudioContext", "WebSocket"]) {
    const Native = window[name];
    const made = (window["__" + name] = []);
    window[name] = class extends Native {
      constructor(...args) {
        super(...args);
        made.push(this);
      }
    };
  }
  // What the page's microphone was asked for, and what the browser made of it.
  window.micAsked = [];
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const s = await gum(c);
    const t = s.getAudioTracks()[0];
    window.micAsked.push({ asked: c.audio, got: t?.getSettings().echoCancellation, can: t?.getCapabilities?.().echoCancellation });
    return s;
  };
  // The page's start requests, counted.
  window.starts = 0;
  const nativeFetch = window.fetch;
  window.fetch = (input, init) => {
    if (String(input.url || input).endsWith("/start")) window.starts++;
    return nativeFetch(input, init);
  };
  window.leftOpen = () => ({
    contexts: window.__AudioContext.filter((c) => c.state !== "closed").length,
    sockets: window.__WebSocket.filter((w) => w.readyState !== WebSocket.CLOSED).length,
    // Sockets the page has not closed: over a dead path a close waits for the server's close
    // frame, which cannot come (the browser gives up on its own).
    open: window.__WebSocket.filter((w) => w.readyState < WebSocket.CLOSING).length,
  });
</script>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  await init();
  window.sdk = sdk;
  window.events = [];
  window.call = (options) => watch(sdk.startAndConnect(options));
  window.connectWs = (options) => watch(sdk.connectWebSocket(options));
  const watch = async (connecting) => {
    try {
      const conn = await connecting;
      window.conn = conn;
      for (const name of ["statechange", "error", "disconnected", "botready", "track", "rtvi", "fallback"]) {
        conn.on(name, (d) => window.events.push({ t: Date.now(), name, data: name === "error" ? { code: d.code, message: d.message, reason: d.details?.reason, phase: d.details?.phase } : name === "rtvi" ? d.type : d }));
      }
      const ctx = new AudioContext();
      const meter = ctx.createAnalyser();
      ctx.createMediaStreamSource(conn.remoteStream).connect(meter);
      const buf = new Float32Array(meter.fftSize);
      window.peak = 0;
      setInterval(() => {
        meter.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        window.peak = Math.max(window.peak, Math.sqrt(sum / buf.length));
      }, 20);
      return { ok: true, transport: conn.transport, sessionId: conn.sessionId, state: conn.state, pc: conn.peerConnection === undefined };
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, phase: e.details?.phase, closeCode: e.details?.closeCode, retryable: e.retryable };
    }
  };
  window.pageReady = true;
</script>`;

// The widget over a WebSocket: <agent-preview transport="websocket"> started by the test.
const WIDGET_PAGE = `<!doctype html><meta charset="utf-8"><title>widget over a WebSocket</title>
<script type="module" src="/pkg/agent-preview.js"></script>
<agent-preview id="w" platform="pipecat-runner" transport="websocket"></agent-preview>
<script>window.pageReady = true;</script>`;

// The strict-CSP page: no inline script at all; csp.js loads the SDK and makes a WebSocket call.
const CSP_PAGE = `<!doctype html><meta charset="utf-8"><title>strict CSP</title>
<script>window.inlineRan = true;</script>
<script type="module" src="/csp.js"></script>`;
const CSP_SCRIPT = `import init, * as sdk from "/pkg/agent_rtc.js";
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.violatedDirective + " " + e.blockedURI));
await init();
window.call = async (options) => {
  try {
    const conn = await sdk.startAndConnect(options);
    const stats = () => conn.getStats();
    for (let i = 0; i < 200 && (await stats()).playedMs === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const played = (await stats()).playedMs;
    await conn.disconnect();
    return { ok: true, transport: conn.transport, played };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
};
window.pageReady = true;
`;

// The strict page: scripts only from this origin (and wasm compiled from them), requests to this
// origin and the runner (HTTP and its socket) only.
const csp = `default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' http://localhost:* ws://localhost:*; media-src 'self'`;
const live = runnerWithPages(
  "interop-websocket",
  { "index.html": PAGE, "widget.html": WIDGET_PAGE, "csp.html": CSP_PAGE, "csp.js": CSP_SCRIPT },
  { headers: (path) => (path === "/csp.html" ? { "content-security-policy": csp } : {}) },
);

async function open(engine) {
  const b = await ENGINES[engine]();
  await b.goto(`${live.server.url}/index.html`);
  await poll("the test page", async () => ({ ok: await b.run(() => window.pageReady === true) }));
  return b;
}

for (const engine of Object.keys(ENGINES)) {
  test(`${engine}: a WebSocket call to the real runner reaches bot-ready, echoes the microphone, answers requests and ends the bot`, { timeout: 180_000 }, async () => {
    const b = await open(engine);
    try {
      const count = (what) => (live.runner.log().match(new RegExp(`agent-rtc-interop: bot ${what}`, "g")) || []).length;
      const before = { started: count("started"), ended: count("ended") };
      const r = await b.run((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "websocket", timeoutMs: 30000 }), live.runner.url);
      assert.ok(r.ok, `connect failed: ${JSON.stringify(r)}; runner: ${live.runner.log().slice(-1500)}`);
      assert.equal(r.transport, "websocket");
      assert.equal(r.state, "connected");
      assert.ok(r.pc, "no peer connection on a WebSocket call");
      // The microphone asked for with the canceller covering all the device plays (the bot plays
      // from Web Audio); each engine takes the value: a browser without that mode reads it as
      // true, so the canceller is on wherever the device has one (Firefox's fake one has none).
      const mic = await b.run(() => window.micAsked);
      console.log(`# ${engine}: echoCancellation asked/got/capabilities ${JSON.stringify(mic)}`);
      assert.deepEqual(mic.map((m) => m.asked), [{ echoCancellation: "all" }]);
      if (mic[0].can?.includes(true)) assert.ok(mic[0].got === true || mic[0].got === "all", JSON.stringify(mic));
      await poll("the runner's bot", () => ({ ok: count("started") === before.started + 1 }));
      // The fake microphone's tone goes to the bot and comes back, heard in remoteStream.
      await poll("the echo in remoteStream", async () => {
        const peak = await b.run(() => window.peak);
        return { ok: peak > 0.02, peak };
      }, 30000);
      // Half a second of audio each way (25 frames of 20 ms), counted by getStats.
      await poll("audio frames each way", async () => {
        const stats = await b.run(() => window.conn.getStats());
        return { ok: stats.transport === "websocket" && stats.framesSent > 25 && stats.audioFramesReceived > 25, stats };
      }, 30000);
      // A client request, answered by the bot, which sends a server-message first.
      const answered = await b.run(() =>
        window.conn.sendClientRequest("echo", { x: 1 }).then(
          (v) => ({ ok: true, v }),
          (e) => ({ ok: false, code: e.code, message: e.message }),
        ),
      );
      assert.deepEqual(answered, { ok: true, v: { x: 1 } });
      await poll("the server-message", async () => ({
        ok: await b.run(() => window.events.some((e) => e.name === "rtvi" && e.data === "server-message")),
      }));
      await b.run(() => window.conn.disconnect());
      await poll("the bot's end", () => ({ ok: count("ended") === before.ended + 1, log: live.runner.log().slice(-500) }));
      // The page's meter context is the only one left open.
      await poll("the call's socket and audio context closed", async () => {
        const left = await b.run(() => window.leftOpen());
        return { ok: left.contexts === 1 && left.sockets === 0, ...left };
      });
      const evs = await b.run(() => window.events);
      assert.ok(evs.some((e) => e.name === "disconnected" && e.data === "local"), JSON.stringify(evs));
      assert.deepEqual(b.errors(), []);
    } finally {
      await b.close();
    }
  });

  test(`${engine}: a bad token is refused: a typed socket-phase error, nothing left open`, { timeout: 120_000 }, async () => {
    const b = await open(engine);
    try {
      // A session whose token is not the one given: the runner refuses the upgrade (HTTP 403).
      const start = await fetch(`${live.runner.url}/start`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ transport: "websocket" }),
      }).then((r) => r.json());
      assert.match(start.wsUrl, /^ws:\/\/localhost:\d+\/ws-client$/);
      const r = await b.run(
        (wsUrl) =>
          window.sdk.connectWebSocket({ wsUrl, token: "not-the-token", timeoutMs: 10000 }).then(
            () => ({ ok: true }),
            (e) => ({ ok: false, code: e.code, phase: e.details?.phase, closeCode: e.details?.closeCode, message: e.message, retryable: e.retryable }),
          ),
        start.wsUrl,
      );
      assert.equal(r.ok, false);
      assert.equal(r.code, "signalling", JSON.stringify(r));
      assert.equal(r.phase, "socket", JSON.stringify(r));
      assert.equal(r.closeCode, 1006, JSON.stringify(r));
      assert.equal(r.retryable, true, JSON.stringify(r));
      assert.ok(!r.message.includes("not-the-token"), r.message);
      await poll("nothing left open", async () => {
        const left = await b.run(() => window.leftOpen());
        return { ok: left.contexts === 0 && left.sockets === 0, ...left };
      });
      if (engine === "WebKitGTK") {
        // No RTCPeerConnection in this engine: WebRTC is `unsupported`, and nothing is sent.
        const rtc = await b.run((baseUrl) =>
          window.sdk.startAndConnect({ platform: "pipecat-runner", baseUrl }).then(
            () => ({ ok: true }),
            (e) => ({ ok: false, code: e.code, message: e.message }),
          ),
          live.runner.url,
        );
        assert.equal(rtc.code, "unsupported", JSON.stringify(rtc));
      }
    } finally {
      await b.close();
    }
  });
}

// A dead path with the socket still open. The relay between page and runner stops carrying
// bytes but closes nothing (as a link that went dark: the browser's socket would stay open for
// minutes). The call has no microphone, so the echo bot sends nothing and the line is silent
// between the probes: the SDK's liveness probe (an RTVI message Pipecat answers with an
// error-response) keeps a silent call alive, and ends a dead one, typed.
for (const engine of Object.keys(ENGINES)) {
  test(`${engine}: a silent WebSocket call stays up; a dead path with the socket open ends it (timeout, no-frames)`, { timeout: 180_000 }, async () => {
    const b = await open(engine);
    const start = await fetch(`${live.runner.url}/start`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ transport: "websocket" }),
    }).then((r) => r.json());
    const upstream = new URL(start.wsUrl);
    const relay = await tcpRelay(Number(upstream.port));
    try {
      const probes = () => (live.runner.log().match(/Unsupported RTVI message type: keepalive/g) || []).length;
      const before = probes();
      const wsUrl = `ws://localhost:${relay.port}${upstream.pathname}`;
      const r = await b.run((o) => window.connectWs(o), { wsUrl, token: start.token, audio: false, timeoutMs: 30000 });
      assert.ok(r.ok, JSON.stringify(r));
      // Eight seconds of silence (no microphone, nothing to echo): the call is probed and stays
      // up. A fixed wait here proves that something does NOT happen.
      await new Promise((done) => setTimeout(done, 8000));
      const quiet = await b.run(() => ({ state: window.conn.state, events: window.events.filter((e) => e.name !== "rtvi") }));
      assert.equal(quiet.state, "connected", JSON.stringify(quiet));
      assert.ok(probes() - before >= 2, `the runner answered the probes: ${probes() - before}`);
      const rtvi = await b.run(() => window.events.filter((e) => e.name === "rtvi").map((e) => e.data));
      assert.ok(!rtvi.includes("error-response"), `a probe's answer reached the page: ${rtvi}`);

      relay.freeze();
      const cutAt = Date.now();
      const ended = await poll("the call ended by the dead path", async () => {
        const evs = await b.run(() => window.events);
        const end = evs.find((e) => e.name === "disconnected");
        return { ok: !!end, end, error: evs.find((e) => e.name === "error"), evs };
      }, 30000);
      const noticedMs = ended.end.t - cutAt;
      console.log(`# ${engine}: dead path noticed ${noticedMs} ms after the cut`);
      assert.equal(ended.end.data, "timeout", JSON.stringify(ended.evs));
      assert.deepEqual(
        { code: ended.error?.data.code, reason: ended.error?.data.reason, phase: ended.error?.data.phase },
        { code: "timeout", reason: "no-frames", phase: "call" },
      );
      // The page's meter context is the only one left open; the socket is closing (its close
      // frame cannot reach the runner).
      await poll("the call's socket and audio context closed", async () => {
        const left = await b.run(() => window.leftOpen());
        return { ok: left.open === 0 && left.contexts === 1, ...left };
      });
      assert.deepEqual(b.errors(), []);
    } finally {
      await relay.close();
      await b.close();
    }
  });
}

for (const engine of Object.keys(ENGINES)) {
  test(`${engine}: <agent-preview transport="websocket"> connects to the real runner and stops`, { timeout: 120_000 }, async () => {
    const b = await ENGINES[engine]();
    try {
      await b.goto(`${live.server.url}/widget.html`);
      await poll("the widget page", async () => ({ ok: await b.run(() => window.pageReady === true && !!customElements.get("agent-preview")) }));
      const started = await b.run(async (baseUrl) => {
        const w = document.getElementById("w");
        w.setAttribute("base-url", baseUrl);
        try {
          await w.start();
          return { ok: true, state: w.state, transport: w.transport };
        } catch (e) {
          return { ok: false, code: e.code, message: e.message };
        }
      }, live.runner.url);
      assert.ok(started.ok, JSON.stringify(started));
      assert.equal(started.transport, "websocket");
      await poll("the widget connected", async () => {
        const state = await b.run(() => document.getElementById("w").state);
        return { ok: state === "connected", state };
      });
      await b.run(() => document.getElementById("w").stop());
      assert.equal(await b.run(() => document.getElementById("w").transport), null);
    } finally {
      await b.close();
    }
  });
}

test("Chromium: under a strict CSP (script-src 'self' 'wasm-unsafe-eval') a WebSocket call works with no violation", { timeout: 120_000 }, async () => {
  const b = await ENGINES.Chromium();
  try {
    await b.goto(`${live.server.url}/csp.html`);
    await poll("the CSP page", async () => ({ ok: await b.run(() => window.pageReady === true) }));
    const r = await b.run((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "websocket", timeoutMs: 30000 }), live.runner.url);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.transport, "websocket");
    assert.ok(r.played > 0, `the bot's audio played through the worklet: ${JSON.stringify(r)}`);
    assert.deepEqual(await b.run(() => window.violations), []);
    assert.equal(await b.run(() => window.inlineRan === undefined), true, "the policy is in force (the page's inline script was refused)");
  } finally {
    await b.close();
  }
});

// transport: "auto" — WebKitGTK has no RTCPeerConnection: straight to a WebSocket, one start
// request. Chromium with a working path stays on WebRTC with no fallback event; once the page's
// session remembers that WebRTC could not connect, the next auto call goes straight to a WebSocket.
test("WebKitGTK: transport auto connects over a WebSocket (no-webrtc) with exactly one start request", { timeout: 120_000 }, async () => {
  const b = await open("WebKitGTK");
  try {
    const r = await b.run((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "auto", timeoutMs: 30000 }), live.runner.url);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.transport, "websocket");
    const fallbacks = await poll("the fallback event", async () => {
      const evs = await b.run(() => window.events.filter((e) => e.name === "fallback").map((e) => e.data));
      return { ok: evs.length > 0, evs };
    });
    assert.deepEqual(fallbacks.evs, [{ from: "webrtc", to: "websocket", reason: "no-webrtc" }]);
    assert.equal(await b.run(() => window.starts), 1, "one start request, not two");
    await b.run(() => window.conn.disconnect());
  } finally {
    await b.close();
  }
});

test("Chromium: transport auto stays on WebRTC when it works, and goes straight to a WebSocket once WebRTC failed in the page's session", { timeout: 120_000 }, async () => {
  const b = await open("Chromium");
  try {
    const r = await b.run((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "auto", timeoutMs: 30000 }), live.runner.url);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.transport, "webrtc");
    // Nothing more happens after the connect resolved: a fallback would have come before it.
    assert.deepEqual(await b.run(() => window.events.filter((e) => e.name === "fallback")), []);
    await b.run(() => window.conn.disconnect());
    // What an earlier failed WebRTC call leaves in the page's session.
    await b.run(() => {
      sessionStorage.setItem("agent-rtc:transport", "websocket");
      window.events = [];
      window.starts = 0;
    });
    const again = await b.run((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "auto", timeoutMs: 30000 }), live.runner.url);
    assert.ok(again.ok, JSON.stringify(again));
    assert.equal(again.transport, "websocket");
    const evs = await b.run(() => window.events.filter((e) => e.name === "fallback").map((e) => e.data));
    assert.deepEqual(evs, [{ from: "webrtc", to: "websocket", reason: "remembered" }]);
    assert.equal(await b.run(() => window.starts), 1);
    // An explicit transport overrides what is remembered.
    await b.run(() => window.conn.disconnect());
    const explicit = await b.run((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "webrtc", timeoutMs: 30000 }), live.runner.url);
    assert.equal(explicit.transport, "webrtc", JSON.stringify(explicit));
    await b.run(() => window.conn.disconnect());
  } finally {
    await b.close();
  }
});

