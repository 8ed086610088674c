// Compatibility with the official client: @pipecat-ai/client-js + @pipecat-ai/small-webrtc-transport
// in headless Chromium against the local agent. Proves the agent speaks the protocol real clients
// speak: start, offer/answer, ICE/DTLS/SCTP, RTVI bot-ready, data channel requests, Opus echo.
//
// Run: cargo build -p agent-rtc-agent && node --test tests/e2e/

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";

import { bundleClient, getJson, launchChromium, openPage, poll, rmSync, startAgent, workDir } from "./harness.mjs";

let dir;
let agent;
let browser;
let page;
let pageErrors;

before(async () => {
  dir = workDir("e2e-compat");
  await bundleClient(dir);
  agent = await startAgent(["--www", dir, "--pkg", `${dir}/no-pkg`]);
  browser = await launchChromium();
});

// A fresh page per test, so one test's clients and audio devices cannot affect the next.
beforeEach(async () => {
  ({ page, errors: pageErrors } = await openPage(browser));
  await page.goto(`${agent.url}/index.html`);
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 10000 });
});

afterEach(async () => {
  await page?.close();
  for (const e of pageErrors) console.error("page error:", e);
});

after(async () => {
  await browser?.close();
  if (agent) {
    const code = await agent.stop();
    assert.equal(code, 0, "the agent exits 0 on SIGTERM");
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(endpoint, opts = {}) {
  return page.evaluate((o) => window.runClient(o), { endpoint, ...opts });
}

test("official client connects, gets bot-ready, and hears its own audio echoed", async (t) => {
  t.diagnostic(`agent ready ${agent.readyMs.toFixed(0)} ms after spawn`);
  // Until 50 packets and some energy came back (the echo), bounded by runClient's timeoutMs; the
  // client stays connected for the agent's side below.
  const r = await run(`${agent.url}/start`, { packets: 50, energy: 0.001, tag: "compat-echo", keep: true });
  t.diagnostic(JSON.stringify({ ...r, serverMessages: r.serverMessages.length }));
  assert.deepEqual(r.errors, []);
  assert.equal(r.reconnected, false);
  assert.equal(r.botReady, true, "bot-ready received");
  assert.equal(r.botReadyData?.version, "2.2.0");
  assert.equal(r.remoteAudioTrack, true, "a remote audio track started");
  assert.deepEqual(r.echoReply, { n: 42, s: "round trip" }, "client request answered with its data");
  assert.ok(r.audioPackets >= 50, `audio packets arrive (${r.audioPackets})`);
  assert.ok(r.audioEnergy > 0.001, `echoed audio has energy (${r.audioEnergy})`);
  assert.ok(
    r.serverMessages.some((m) => JSON.stringify(m).includes("agent-rtc local agent")),
    "the server-message sent on connect reached the client",
  );

  // What the agent saw from the official client: its start and offer requests, pings, the
  // track status, RTVI client-ready, and audio both ways.
  const log = (await getJson(`${agent.url}/debug/requests?tag=compat-echo`)).body;
  assert.equal(log[0].path, "/start");
  const offer = log.find((e) => e.method === "POST" && e.path.endsWith("/api/offer"));
  assert.ok(offer, JSON.stringify(log.map((e) => `${e.method} ${e.path}`)));
  assert.equal(offer.body.type, "offer");
  const sessionId = offer.path.split("/")[2];
  const { peer } = await poll("the agent to see pings and audio both ways", async () => {
    const { status, body } = await getJson(`${agent.url}/debug/sessions/${sessionId}`);
    assert.equal(status, 200);
    const peer = body.peers[0];
    return { ok: peer.pingsSeen >= 2 && peer.audioPacketsReceived > 100 && peer.audioPacketsSent > 100, peer };
  });
  await page.evaluate(() => window.disconnectAll());
  t.diagnostic(JSON.stringify({ ...peer, messagesReceived: peer.messagesReceived.length }));
  assert.ok(peer.pingsSeen >= 2, `pings seen: ${peer.pingsSeen}`);
  assert.deepEqual(peer.trackStatus, { 0: true, 1: false });
  assert.ok(peer.messagesReceived.some((m) => m.type === "client-ready"));
  assert.ok(peer.audioPacketsReceived > 100 && peer.audioPacketsSent > 100);
});

test("silence is detected: the `silent` fault keeps the received energy at zero", async () => {
  // For 150 packets (3 s of the bot's audio), no energy: the silence proves itself over them.
  const r = await run(`${agent.url}/start?fault=silent`, { packets: 150 });
  assert.deepEqual(r.errors, []);
  assert.equal(r.botReady, true);
  assert.equal(r.remoteAudioTrack, true);
  assert.ok(r.audioPackets >= 150, `silence packets still arrive (${r.audioPackets})`);
  assert.ok(r.audioEnergy < 1e-6, `energy stays ~0 (${r.audioEnergy})`);
});

test("a Pipecat Cloud agent name carrying a fault is honoured end to end (no-bot-ready)", async () => {
  const r = await run(`${agent.url}/v1/public/fault-no-bot-ready/start`, { timeoutMs: 4000 });
  assert.equal(r.botReady, false);
  assert.ok(r.errors.some((e) => e.includes("bot-ready")), JSON.stringify(r.errors));
});
