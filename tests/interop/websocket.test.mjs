// The WebSocket transport against the real Pipecat development runner (pipecat-ai 1.14 in the
// virtualenv `make setup` creates; tests/interop/bot.py, the echo bot, on Pipecat's
// FastAPIWebsocketTransport with protobuf frames), started with `--host localhost --ws-auth token`
// as a deployment with token auth would be: in headless Chromium, startAndConnect({ transport:
// "websocket" }) reaches bot-ready, the microphone's echo is heard in remoteStream, a client
// request is answered (the runner's RTVI processor answers an unknown one with an error),
// disconnect() ends the bot; a bad token is a typed `socket`-phase error with nothing left open.
//
// Run: make test-interop (or PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/).

import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { freshPkg, launchChromium, openPage, poll, rmSync, ROOT, serveStatic, workDir } from "../e2e/harness.mjs";
import { startRunner } from "../bench/runner.mjs";

const PYTHON = resolve(ROOT, process.env.PIPECAT_PYTHON || ".venv-pipecat/bin/python");

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
  window.leftOpen = () => ({
    contexts: window.__AudioContext.filter((c) => c.state !== "closed").length,
    sockets: window.__WebSocket.filter((w) => w.readyState !== WebSocket.CLOSED).length,
  });
</script>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  await init();
  window.sdk = sdk;
  window.events = [];
  window.call = async (options) => {
    try {
      const conn = await sdk.startAndConnect(options);
      window.conn = conn;
      for (const name of ["statechange", "error", "disconnected", "botready", "track", "rtvi"]) {
        conn.on(name, (d) => window.events.push({ name, data: name === "error" ? { code: d.code, message: d.message } : name === "rtvi" ? d.type : d }));
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

let dir;
let server;
let runner;
let browser;

before(async () => {
  assert.ok(existsSync(PYTHON), `no Pipecat virtualenv at ${PYTHON}: run make setup`);
  await freshPkg();
  dir = workDir("interop-websocket");
  mkdirSync(join(dir, "pkg"), { recursive: true });
  cpSync(join(ROOT, "pkg"), join(dir, "pkg"), { recursive: true });
  writeFileSync(join(dir, "index.html"), PAGE);
  server = await serveStatic(dir);
  runner = await startRunner(PYTHON, { host: "localhost", args: ["--ws-auth", "token"] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await runner?.stop();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function page() {
  const { page, errors } = await openPage(browser);
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 15000 });
  return { page, errors };
}

test("Chromium: a WebSocket call to the real runner reaches bot-ready, echoes the microphone, answers requests and ends the bot", { timeout: 120_000 }, async () => {
  const { page: p, errors } = await page();
  const bots = () => (runner.log().match(/agent-rtc-interop: bot started/g) || []).length;
  const ended = () => (runner.log().match(/agent-rtc-interop: bot ended/g) || []).length;
  const before = { started: bots(), ended: ended() };
  const r = await p.evaluate((baseUrl) => window.call({ platform: "pipecat-runner", baseUrl, transport: "websocket", timeoutMs: 20000 }), runner.url);
  assert.ok(r.ok, `connect failed: ${JSON.stringify(r)}; runner: ${runner.log().slice(-1500)}`);
  assert.equal(r.transport, "websocket");
  assert.equal(r.state, "connected");
  assert.ok(r.pc, "no peer connection on a WebSocket call");
  await poll("the runner's bot", () => ({ ok: bots() === before.started + 1, bots: bots() }));
  // The fake microphone beeps; the bot sends it back; the page hears it in remoteStream.
  await poll("the echo in remoteStream", () => p.evaluate(() => ({ ok: window.peak > 0.02, peak: window.peak })), 20000);
  const stats = await p.evaluate(() => window.conn.getStats());
  assert.equal(stats.transport, "websocket");
  assert.ok(stats.framesSent > 10 && stats.audioFramesReceived > 10, JSON.stringify(stats));
  // A client request, answered by the bot (tests/interop/bot.py), which sends a server-message
  // first.
  const answered = await p.evaluate(() =>
    window.conn.sendClientRequest("echo", { x: 1 }).then(
      (v) => ({ ok: true, v }),
      (e) => ({ ok: false, code: e.code, message: e.message }),
    ),
  );
  assert.deepEqual(answered, { ok: true, v: { x: 1 } });
  await poll("the server-message", () =>
    p.evaluate(() => ({ ok: window.events.some((e) => e.name === "rtvi" && e.data === "server-message"), events: window.events.map((e) => e.name) })),
  );
  await p.evaluate(() => window.conn.disconnect());
  await poll("the bot's end", () => ({ ok: ended() === before.ended + 1, log: runner.log().slice(-500) }));
  // The page's meter context is the only one left open.
  await poll("the call's socket and audio context closed", () =>
    p.evaluate(() => ({ ok: window.leftOpen().contexts === 1 && window.leftOpen().sockets === 0, ...window.leftOpen() })),
  );
  assert.deepEqual(errors, []);
  const evs = await p.evaluate(() => window.events);
  assert.ok(evs.some((e) => e.name === "disconnected" && e.data === "local"), JSON.stringify(evs));
  await p.close();
});

test("Chromium: a bad token is refused: a typed socket-phase error, nothing left open", { timeout: 60_000 }, async () => {
  const { page: p } = await page();
  // A session whose token is not the runner's: the runner refuses the upgrade (HTTP 403).
  const start = await fetch(`${runner.url}/start`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ transport: "websocket" }),
  }).then((r) => r.json());
  assert.match(start.wsUrl, /^ws:\/\/localhost:\d+\/ws-client$/);
  const r = await p.evaluate(
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
  assert.ok(!r.message.includes("not-the-token"), r.message);
  await poll("nothing left open", () => p.evaluate(() => ({ ok: window.leftOpen().contexts === 0 && window.leftOpen().sockets === 0, ...window.leftOpen() })));
  await p.close();
});
