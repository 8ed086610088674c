// `transport: "auto"` in headless Chromium against the local agent, where a network namespace is
// not needed (issue 24; the UDP-blocked runs are tests/interop/auto.test.mjs): a WebRTC try whose
// offer cannot reach the server falls back to a WebSocket with the microphone asked for once;
// the page's session remembers it for the next call; `signal` aborts whichever try is running and leaves nothing open (peer connections, sockets,
// audio contexts, microphone tracks); errors a second transport would not fix fail at once,
// with no second start request.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/auto.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { launchChromium, openPage, poll, rmSync, startAgent, workDir } from "./harness.mjs";

const KEY = "sk-auto-test-81c2";
// An offer URL nobody listens on (a loopback port just closed): the WebRTC try's offer cannot be
// sent (connection refused).
let DEAD_OFFER;

// Every peer connection, socket, audio context and microphone track the page makes, and its
// start requests; `abortAtStart: n` aborts the call's signal when the n-th start request goes out.
const PAGE = `<!doctype html><meta charset="utf-8"><title>auto</title>
<script>
  for (const name of ["RTCPeerConnection", "WebSocket", "AudioContext"]) {
    const Native = window[name];
    const made = (window["__" + name] = []);
    window[name] = class extends Native {
      constructor(...args) {
        super(...args);
        made.push(this);
      }
    };
  }
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__tracks = [];
  navigator.mediaDevices.getUserMedia = async (c) => {
    window.micRequests++;
    window.micAsked.push(c.audio);
    const s = await gum(c);
    window.__tracks.push(...s.getTracks());
    return s;
  };
  const nativeFetch = window.fetch;
  window.fetch = (input, init) => {
    if (String((input && input.url) || input).split("?")[0].endsWith("/start")) {
      window.starts++;
      // Synchronously, inside the SDK's own fetch call: the hardest moment for it.
      if (window.abortAtStart === window.starts) window.controller.abort();
    }
    return nativeFetch(input, init);
  };
  window.open_ = () => ({
    pcs: window.__RTCPeerConnection.filter((pc) => pc.connectionState !== "closed" && pc.signalingState !== "closed").length,
    sockets: window.__WebSocket.filter((w) => w.readyState !== WebSocket.CLOSED).length,
    contexts: window.__AudioContext.filter((c) => c.state !== "closed").length,
    tracks: window.__tracks.filter((t) => t.readyState === "live").length,
  });
</script>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  await init();
  window.call = async ({ abortAtStart = 0, keepMemory = false, ...options }) => {
    if (!keepMemory) sessionStorage.clear();
    window.starts = 0;
    window.micRequests = 0;
    window.micAsked = [];
    window.abortAtStart = abortAtStart;
    window.controller = new AbortController();
    try {
      const conn = await sdk.startAndConnect({ ...options, signal: window.controller.signal });
      const fallbacks = [];
      conn.on("fallback", (f) => fallbacks.push(f));
      await new Promise((r) => setTimeout(r, 0));
      const during = window.open_();
      await conn.disconnect();
      return { ok: true, transport: conn.transport, state: conn.state, fallbacks, during, starts: window.starts, micRequests: window.micRequests, micAsked: window.micAsked };
    } catch (e) {
      return { ok: false, code: e.code, phase: e.details?.phase, message: e.message, starts: window.starts, micRequests: window.micRequests };
    }
  };
  window.pageReady = true;
</script>`;

let dir;
let agent;
let browser;
let page;
let errors;

before(async () => {
  const { createServer } = await import("node:net");
  const probe = createServer();
  await new Promise((done) => probe.listen(0, "127.0.0.1", done));
  DEAD_OFFER = `http://127.0.0.1:${probe.address().port}/sessions/{sessionId}/api/offer`;
  await new Promise((done) => probe.close(done));
  dir = workDir("e2e-auto");
  writeFileSync(join(dir, "auto.html"), PAGE);
  agent = await startAgent(["--www", dir, "--pkg", "pkg", "--api-key", KEY]);
  browser = await launchChromium();
  ({ page, errors } = await openPage(browser));
  await page.goto(`${agent.url}/auto.html`);
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 30000 });
});

after(async () => {
  await browser?.close();
  if (agent) await agent.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const call = (options) => page.evaluate((o) => window.call(o), { platform: "pipecat-runner", baseUrl: agent.url, transport: "auto", timeoutMs: 30000, ...options });

/** Waits until nothing the page made is open (releases finish after the promise settles). */
const nothingOpen = (what) =>
  poll(`nothing left open ${what}`, async () => {
    const o = await page.evaluate(() => window.open_());
    return { ok: o.pcs === 0 && o.sockets === 0 && o.contexts === 0 && o.tracks === 0, ...o };
  });

test("an offer that cannot reach the server: one fallback (offer-unreachable) to a WebSocket, the microphone asked for once, no peer connection left", { timeout: 60_000 }, async () => {
  const r = await call({ offerUrl: DEAD_OFFER });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.transport, "websocket");
  assert.deepEqual(r.fallbacks, [{ from: "webrtc", to: "websocket", reason: "offer-unreachable" }]);
  assert.equal(r.starts, 2, "a WebRTC session, then a WebSocket session");
  assert.equal(r.micRequests, 1);
  // Asked for with the canceller covering all the device plays: the WebSocket call's bot plays
  // from Web Audio, which a "remote-only" canceller does not hear.
  assert.deepEqual(r.micAsked, [{ echoCancellation: "all" }]);
  assert.equal(r.during.pcs, 0, "the WebRTC try's peer connection is closed while the WebSocket call goes on");
  assert.equal(r.during.tracks, 1, "the one microphone track carries the WebSocket call");
  await nothingOpen("after the call");
  // The page's session remembers: the next auto call goes straight to a WebSocket.
  const next = await call({ keepMemory: true });
  assert.ok(next.ok, JSON.stringify(next));
  assert.equal(next.transport, "websocket");
  assert.deepEqual(next.fallbacks, [{ from: "webrtc", to: "websocket", reason: "remembered" }]);
  assert.equal(next.starts, 1);
  assert.equal(next.during.pcs, 0);
  await nothingOpen("after the remembered call");
  // An explicit transport ignores what the session remembers.
  const explicit = await call({ keepMemory: true, transport: "webrtc" });
  assert.ok(explicit.ok, JSON.stringify(explicit));
  assert.equal(explicit.transport, "webrtc");
  assert.deepEqual(explicit.fallbacks, []);
  assert.deepEqual(next.micAsked, [{ echoCancellation: "all" }]);
  assert.deepEqual(explicit.micAsked, [true], "a WebRTC call's bot plays from the peer connection: the default canceller covers it");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("agent-rtc:transport")), "websocket", "only the word websocket is stored");
  await nothingOpen("after the explicit call");
});

test("timeoutMs covers both tries: two slow starts that each fit the budget but not together end in timeout, nothing left open", { timeout: 60_000 }, async () => {
  // Each start answers after 1.5 s; the WebRTC try's offer cannot be sent, so the WebSocket try
  // starts about 1.5 s in and would need 1.5 s more of a 2.5 s budget.
  const r = await call({ startUrl: `${agent.url}/start?fault=delay-start-1500`, offerUrl: DEAD_OFFER, timeoutMs: 2500 });
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.code, "timeout", JSON.stringify(r));
  assert.equal(r.starts, 2, "the fallback was tried");
  await nothingOpen("after the timeout");
});

test("signal aborts the WebRTC try: aborted, one start request, nothing left open", { timeout: 60_000 }, async () => {
  const r = await call({ abortAtStart: 1 });
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.code, "aborted");
  assert.equal(r.starts, 1);
  await nothingOpen("after an abort of the WebRTC try");
});

test("signal aborts the WebSocket try after a fallback: aborted, nothing of either try left open", { timeout: 60_000 }, async () => {
  const r = await call({ offerUrl: DEAD_OFFER, abortAtStart: 2 });
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.code, "aborted");
  assert.equal(r.starts, 2);
  assert.equal(r.micRequests, 1);
  await nothingOpen("after an abort of the WebSocket try");
});

test("errors a WebSocket would not fix fail at once: a refused start (http 401), bad options, a microphone that cannot open", { timeout: 60_000 }, async () => {
  const refused = await call({ platform: "pipecat-cloud", baseUrl: `${agent.url}/v1/public`, agent: "bot", apiKey: "pk_wrong" });
  assert.equal(refused.code, "http", JSON.stringify(refused));
  assert.equal(refused.starts, 1, "no second start request");
  const bad = await call({ fallbackAfterMs: -5 });
  assert.equal(bad.code, "invalid_options", JSON.stringify(bad));
  assert.equal(bad.starts, 0);
  const mic = await call({ audio: { deviceId: { exact: "no-such-microphone" } } });
  assert.equal(mic.code, "media", JSON.stringify(mic));
  assert.ok(mic.starts <= 1, `no WebSocket session after a microphone failure: ${JSON.stringify(mic)}`);
  await nothingOpen("after the failures");
  assert.deepEqual(errors, []);
});
