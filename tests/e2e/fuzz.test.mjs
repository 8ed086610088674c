// Hundreds of random option objects and payloads, through every exported function of the
// package as shipped (pkg/agent_rtc.js and its JS glue), in headless Chromium against the local
// agent: wrong types, throwing getters, proxies with throwing traps, revoked proxies, cycles,
// BigInts, symbols, huge and non-Latin-1 strings, `toJSON()`s that return nothing. Every call
// must return or reject with an AgentRtcError (sync methods may throw one, nothing else), none may
// hang or trap, and afterwards no peer connection, request or microphone track is left open.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/fuzz.test.mjs
// FUZZ_SEED=n picks another sequence; FUZZ_ROUNDS=n another length.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { launchChromium, openPage, startAgent } from "./harness.mjs";

const SEED = Number(process.env.FUZZ_SEED || 20261123);
const ROUNDS = Number(process.env.FUZZ_ROUNDS || 400);

let agent;
let browser;

before(async () => {
  agent = await startAgent(["--www", "www", "--pkg", "pkg", "--ping-timeout-ms", "8000"]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await agent?.stop();
});

// Runs in the page: counts what the SDK opens, so that leftovers can be checked at the end.
const INSTRUMENT = () => {
  const Native = window.RTCPeerConnection;
  const pcs = (window.__pcs = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      pcs.push(this);
    }
  };
  window.__openPcs = () => pcs.filter((pc) => pc.connectionState !== "closed" || pc.signalingState !== "closed").length;
  const nativeFetch = window.fetch.bind(window);
  window.__inflight = 0;
  window.__fetches = 0;
  window.fetch = (...args) => {
    window.__inflight++;
    window.__fetches++;
    const p = nativeFetch(...args);
    p.then(
      () => window.__inflight--,
      () => window.__inflight--,
    );
    return p;
  };
  const tracks = (window.__tracks = []);
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const s = await gum(c);
    tracks.push(...s.getTracks());
    return s;
  };
  window.__liveTracks = () => tracks.filter((t) => t.readyState === "live").length;
  window.__unhandled = [];
  window.addEventListener("unhandledrejection", (e) => window.__unhandled.push(String(e.reason && e.reason.stack || e.reason)));
};

// Runs in the page: the fuzz loop itself.
async function fuzz({ seed, rounds, base }) {
  const sdk = await import("/pkg/agent_rtc.js");
  await sdk.default();
  let s = seed >>> 0;
  const rand = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const huge = "x".repeat(1 << 20);
  const throwing = () => {
    throw new Error("getter threw");
  };
  const weird = () => {
    const k = Math.floor(rand() * 22);
    switch (k) {
      case 0: return undefined;
      case 1: return null;
      case 2: return pick([0, -0, -1, 1.5, NaN, Infinity, -Infinity, 1e308, 2 ** 53 + 1]);
      case 3: return pick(["", "–", "pk_😀", "a\r\nb", "\u0000", "notaurl", huge, "stun:", "http://example.com/x", base, `${base}/?fault=start-500`]);
      case 4: return rand() < 0.5;
      case 5: return Symbol("s");
      case 6: return 10n ** 30n;
      case 7: return () => 1;
      case 8: return [1, "a", { b: [null] }];
      case 9: return Object.defineProperty({}, "x", { get: throwing, enumerable: true });
      case 10: return new Proxy({}, { get: throwing, ownKeys: throwing, getPrototypeOf: throwing, has: throwing, getOwnPropertyDescriptor: throwing });
      case 11: { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; }
      case 12: { const o = { a: 1 }; o.self = o; return o; }
      case 13: return { toJSON() {} };
      case 14: return { toJSON: throwing };
      case 15: return new Date(0);
      case 16: return new Map([[1, 2]]);
      case 17: { const c = new AbortController(); if (rand() < 0.5) c.abort(); return c.signal; }
      case 18: return { valueOf: throwing, toString: throwing };
      case 19: return [{ urls: pick(["stun:127.0.0.1:9", "notaurl", 5, ["turn:x"]]) }];
      case 20: return { urls: "stun:127.0.0.1:9" };
      default: return { nested: { deep: [1, { x: "y" }] } };
    }
  };
  const KEYS = ["baseUrl", "platform", "agent", "apiKey", "headers", "startUrl", "offerUrl", "createDailyRoom",
    "dailyRoomProperties", "dailyMeetingTokenProperties", "enableDefaultIceServers", "transport", "body",
    "timeoutMs", "signal", "session", "audio", "video", "iceServers", "requestData", "waitForBotReady", "reconnect"];
  const options = () => {
    const r = rand();
    if (r < 0.08) return weird();
    if (r < 0.12) return new Proxy({ baseUrl: base }, { get: throwing });
    // Often a usable base, so that calls get past validation into real requests and connects.
    const o = rand() < 0.6 ? { baseUrl: base, platform: "pipecat-runner", timeoutMs: 1 + Math.floor(rand() * 2500) } : {};
    const n = Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) o[pick(KEYS)] = weird();
    if (rand() < 0.1) Object.defineProperty(o, pick(KEYS), { get: throwing, enumerable: true });
    if (rand() < 0.05) o.headers = { "x-a": pick(["–", "😀", "ok\n"]) };
    return o;
  };

  const report = { calls: 0, connected: 0, rejectedWith: {}, syncThrows: [], badRejections: [], hangs: [], badReturns: [] };
  const isSdkError = (e) =>
    e instanceof Error && e.name === "AgentRtcError" && typeof e.code === "string" && sdk.isAgentRtcError(e) === true;
  const noteError = (where, e) => {
    if (isSdkError(e)) report.rejectedWith[e.code] = (report.rejectedWith[e.code] || 0) + 1;
    else report.badRejections.push(`${where}: ${e && e.stack ? e.stack : String(e)}`);
  };
  const settle = async (where, p) => {
    if (!(p instanceof Promise)) {
      report.badReturns.push(`${where} returned ${typeof p}, not a Promise`);
      return { ok: false };
    }
    let timer;
    const hang = new Promise((r) => (timer = setTimeout(() => r("hang"), 20000)));
    try {
      const v = await Promise.race([p, hang]);
      if (v === "hang") {
        report.hangs.push(where);
        return { ok: false };
      }
      return { ok: true, value: v };
    } catch (e) {
      noteError(where, e);
      return { ok: false };
    } finally {
      clearTimeout(timer);
    }
  };
  // Calls a synchronous method: it may return, or throw an AgentRtcError, nothing else.
  const sync = (where, f) => {
    report.calls++;
    try {
      return f();
    } catch (e) {
      if (isSdkError(e)) report.rejectedWith[e.code] = (report.rejectedWith[e.code] || 0) + 1;
      else report.syncThrows.push(`${where}: ${e && e.stack ? e.stack : String(e)}`);
    }
  };
  const asyncCall = async (where, f) => {
    report.calls++;
    let p;
    try {
      p = f();
    } catch (e) {
      report.syncThrows.push(`${where} threw synchronously: ${e && e.stack ? e.stack : String(e)}`);
      return { ok: false };
    }
    return settle(where, p);
  };

  // A real Session now and then, to pass as `session`.
  const session = await asyncCall("startSession(valid)", () =>
    sdk.startSession({ baseUrl: base, platform: "pipecat-runner" }),
  );

  for (let round = 0; round < rounds; round++) {
    sync("isAgentRtcError", () => {
      const v = sdk.isAgentRtcError(weird());
      if (typeof v !== "boolean") report.badReturns.push("isAgentRtcError returned " + typeof v);
    });
    const which = Math.floor(rand() * 3);
    const o = options();
    if (session.ok && o && typeof o === "object" && rand() < 0.2) {
      try { o.session = session.value; } catch {}
    }
    let result;
    if (which === 0) result = await asyncCall("startSession", () => sdk.startSession(o));
    else if (which === 1) result = await asyncCall("connectWebRtc", () => sdk.connectWebRtc(o));
    else result = await asyncCall("startAndConnect", () => sdk.startAndConnect(o));
    if (!result.ok || !result.value) continue;
    const v = result.value;
    if (!(v instanceof sdk.Connection)) continue;
    report.connected++;
    // The methods of a live connection, with random arguments, some from inside handlers.
    const conn = v;
    sync("on", () => conn.on(weird(), weird()));
    sync("on(statechange)", () => conn.on("statechange", () => { sync("state in handler", () => conn.state); }));
    sync("on(message)", () => conn.on("message", () => sync("sendMessage in handler", () => conn.sendMessage(weird()))));
    for (let i = 0; i < 6; i++) {
      const m = pick(["off", "sendMessage", "sendRtvi", "setMicEnabled", "setCameraEnabled"]);
      sync(m, () => {
        if (m === "sendRtvi") return conn.sendRtvi(weird(), weird());
        if (m === "off") return conn.off(weird(), weird());
        return conn[m](weird());
      });
    }
    await asyncCall("getStats", () => conn.getStats());
    if (rand() < 0.3) sync("on(disconnected) disconnecting again", () => conn.on("disconnected", () => conn.disconnect()));
    await asyncCall("disconnect", () => conn.disconnect());
    sync("sendMessage after disconnect", () => conn.sendMessage("x"));
  }
  if (session.ok) session.value.free();
  // Whatever was in flight settles: nothing may stay open (waited for, bounded against a hang;
  // what is left then is reported).
  const settled = performance.now() + 15000;
  while ((window.__inflight > 0 || window.__openPcs() > 0 || window.__liveTracks() > 0) && performance.now() < settled) {
    await new Promise((r) => setTimeout(r, 50));
  }
  report.openPcs = window.__openPcs();
  report.inflight = window.__inflight;
  report.fetches = window.__fetches;
  report.liveTracks = window.__liveTracks();
  report.pcsCreated = window.__pcs.length;
  report.unhandled = window.__unhandled;
  report.version = sdk.version();
  return report;
}

test(`fuzz: ${ROUNDS} random calls, seed ${SEED}: only AgentRtcErrors, no hang, nothing left open`, { timeout: 600000 }, async () => {
  const { page, errors: pageErrors } = await openPage(browser, { init: [INSTRUMENT] });
  await page.goto(`${agent.url}/health`);
  const report = await page.evaluate(fuzz, { seed: SEED, rounds: ROUNDS, base: agent.url });
  await page.close();
  console.log(
    `fuzz: ${report.calls} calls, ${report.connected} connections, ${report.fetches} requests, ` +
      `${report.pcsCreated} peer connections; errors by code ${JSON.stringify(report.rejectedWith)}`,
  );
  assert.deepEqual(report.syncThrows, [], "only AgentRtcErrors are thrown");
  assert.deepEqual(report.badRejections, [], "only AgentRtcErrors reject");
  assert.deepEqual(report.badReturns, []);
  assert.deepEqual(report.hangs, [], "nothing hangs");
  assert.deepEqual(report.unhandled, [], "no unhandled rejection");
  assert.deepEqual(pageErrors, [], "no uncaught exception (a wasm trap would be one)");
  assert.equal(report.openPcs, 0, "no peer connection left open");
  assert.equal(report.inflight, 0, "no request left in flight");
  assert.equal(report.liveTracks, 0, "no microphone or camera left on");
  // The fuzz must reach the deep paths, not only option checks.
  assert.ok(report.connected >= 5, `only ${report.connected} connections were made`);
  // Which codes besides these come up (timeout, webrtc, ...) depends on timing; these do not.
  for (const code of ["invalid_options", "closed", "http"]) {
    assert.ok(report.rejectedWith[code] > 0, `no ${code} error: ${JSON.stringify(report.rejectedWith)}`);
  }
  assert.equal(report.version, JSON.parse((await import("node:fs")).readFileSync(new URL("../../pkg/package.json", import.meta.url), "utf8")).version);
});
