// The server side of a call (issue 26): the package in Node 20+ with no DOM. The app's server
// loads the wasm from its bytes, starts a session against the local agent with a key the browser
// must not see, and hands the page `session.toJSON()`; the page connects from that JSON, over
// WebRTC and over a WebSocket, in headless Chromium. In Node, everything that needs a browser
// rejects with the typed `unsupported` before any request is sent (counted by the agent's
// request log); in the page, a value that is not a session's JSON is `invalid_options`.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/server-side.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { ROOT, freshPkg, getJson, launchChromium, openPage, poll, rmSync, startAgent, workDir } from "./harness.mjs";

const KEY = "sk-server-only-5f1d9c";

let dir;
let agent;
let sdk;
let browser;

// The page: the SDK from /pkg, a helper that connects from a session's JSON and reports.
const PAGE = `<!doctype html><meta charset="utf-8"><title>connect from a session's JSON</title>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  await init();
  window.connectFrom = async (how, json) => {
    try {
      const conn = how === "websocket" ? await sdk.connectWebSocket({ session: json }) : await sdk.connectWebRtc({ session: json });
      const r = { ok: true, transport: conn.transport, sessionId: conn.sessionId, state: conn.state };
      await conn.disconnect();
      r.after = conn.state;
      return r;
    } catch (e) {
      return { ok: false, code: e.code, message: e.message };
    }
  };
  window.pageReady = true;
</script>`;

before(async () => {
  await freshPkg();
  dir = workDir("e2e-server-side");
  writeFileSync(join(dir, "index.html"), PAGE);
  agent = await startAgent(["--www", dir, "--pkg", "pkg", "--api-key", KEY]);
  sdk = await import(pathToFileURL(join(ROOT, "pkg/agent_rtc.js")).href);
  // As a server loads it: the .wasm's bytes, no URL fetch.
  await sdk.default({ module_or_path: readFileSync(join(ROOT, "pkg/agent_rtc_bg.wasm")) });
});

after(async () => {
  await browser?.close();
  if (agent) await agent.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The requests the agent recorded with this x-test-tag. */
async function requests(tag) {
  const r = await getJson(`${agent.url}/debug/requests?tag=${tag}`);
  assert.equal(r.status, 200);
  return r.body;
}

async function startInNode(tag, transport) {
  return sdk.startSession({
    platform: "pipecat-runner",
    baseUrl: agent.url,
    apiKey: KEY,
    headers: { "x-test-tag": tag },
    transport,
  });
}

test("Node: startSession works with the key, and toJSON carries neither the key nor the headers", async () => {
  const tag = `node-start-${process.pid}`;
  const session = await startInNode(tag, "webrtc");
  const json = session.toJSON();
  assert.equal(typeof json.sessionId, "string");
  assert.equal(json.platform, "pipecat-runner");
  assert.match(json.offerUrl, new RegExp(`/sessions/${json.sessionId}/api/offer$`));
  const text = JSON.stringify(json);
  assert.ok(!text.includes(KEY) && !text.includes("x-test-tag"), text);
  const seen = await requests(tag);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].path, "/start");
  assert.equal(seen[0].auth, "key", "the start request carried the server's key");
  session.free();
});

test("Node: what needs a browser rejects `unsupported` before any request", async () => {
  const tag = `node-unsupported-${process.pid}`;
  const session = await startInNode(`${tag}-start`, "webrtc");
  const json = session.toJSON();
  const code = (p) => p.then(() => "resolved", (e) => (sdk.isAgentRtcError(e) ? e.code : `not typed: ${e}`));
  assert.equal(await code(sdk.connectWebRtc({ session: json })), "unsupported");
  assert.equal(await code(sdk.connectWebRtc({ session })), "unsupported");
  assert.equal(await code(sdk.connectWebSocket({ wsUrl: "ws://127.0.0.1:9/ws-client" })), "unsupported");
  for (const transport of ["auto", "webrtc", "websocket"]) {
    const c = await code(sdk.startAndConnect({ platform: "pipecat-runner", baseUrl: agent.url, headers: { "x-test-tag": tag }, transport }));
    assert.equal(c, "unsupported", transport);
  }
  assert.deepEqual(await requests(tag), [], "no request was sent");
  session.free();
});

test("Chromium: the page connects from the JSON of a session the server started, over WebRTC and over a WebSocket", { timeout: 120_000 }, async () => {
  browser = await launchChromium();
  const { page, errors } = await openPage(browser);
  await page.goto(`${agent.url}/index.html`);
  await poll("the page", async () => ({ ok: await page.evaluate(() => window.pageReady === true) }));
  for (const transport of ["webrtc", "websocket"]) {
    const tag = `page-${transport}-${process.pid}`;
    const session = await startInNode(tag, transport);
    // What crosses from the server to the page: JSON text.
    const json = JSON.parse(JSON.stringify(session.toJSON()));
    const r = await page.evaluate(([how, j]) => window.connectFrom(how, j), [transport, json]);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.transport, transport);
    assert.equal(r.sessionId, json.sessionId);
    assert.equal(r.state, "connected");
    assert.equal(r.after, "disconnected");
    const seen = await requests(tag);
    assert.deepEqual(seen.map((q) => [q.path, q.auth]), [["/start", "key"]]);
    session.free();
  }
  // A value that is not a session's JSON: `invalid_options`, nothing sent.
  const json = (await startInNode(`page-bad-${process.pid}`, "webrtc")).toJSON();
  for (const bad of [{ sessionId: json.sessionId }, { ...json, platform: "elsewhere" }, { ...json, sessionId: 7 }, { ...json, response: "x" }, "a string"]) {
    const r = await page.evaluate((j) => window.connectFrom("webrtc", j), bad);
    assert.equal(r.code, "invalid_options", `${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
  }
  assert.deepEqual(errors, []);
});
