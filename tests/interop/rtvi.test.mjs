// RTVI 2.2 against the real Pipecat runner (the pinned pipecat-ai of .venv-pipecat and
// tests/interop/bot.py), in Chromium and Firefox, over WebRTC and over a WebSocket: the SDK's
// `client-ready` announces 2.2.0 and the runner takes it without a compatibility warning, its
// `bot-ready` says 2.2.0, and every server message the SDK types (sent by the bot with Pipecat's
// own models, on request "typed") arrives as its typed event with the fields the docs name.
//
// Run: make test-interop (or PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/rtvi.test.mjs).

import { test } from "node:test";
import assert from "node:assert/strict";
import { poll } from "../e2e/harness.mjs";
import { ENGINES } from "../e2e/webdriver.mjs";
import { runnerWithPages } from "./fixture.mjs";

const TYPED = ["botinterrupted", "usermute", "vad", "audiolevel", "llm", "tts", "functioncall", "systemlog", "transcript"];

const PAGE = `<!doctype html><meta charset="utf-8"><title>rtvi 2.2</title>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  await init();
  window.typed = async (options) => {
    const events = [];
    try {
      const conn = await sdk.startAndConnect(options);
      for (const name of ${JSON.stringify(TYPED)}) conn.on(name, (d) => events.push([name, d]));
      const answer = await conn.sendClientRequest("typed", {}, { timeoutMs: 20000 });
      // The answer left after the messages; give them a deadline, not a guess.
      for (let i = 0; i < 200 && events.length < answer.sent.length; i++) await new Promise((r) => setTimeout(r, 25));
      const r = { ok: true, transport: conn.transport, botVersion: conn.botVersion, sent: answer.sent, events };
      await conn.disconnect();
      return r;
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, events };
    }
  };
  window.pageReady = true;
</script>`;

// What the bot's 16 messages must become, in order (bot-tts-text also makes a transcript line:
// this bot sends no bot-output).
const EXPECTED = [
  ["botinterrupted", {}],
  ["usermute", { muted: true }],
  ["usermute", { muted: false }],
  ["vad", { speaking: true }],
  ["vad", { speaking: false }],
  ["audiolevel", { value: 0.5, role: "user" }],
  ["audiolevel", { value: 0.25, role: "bot" }],
  ["llm", { state: "started" }],
  ["llm", { text: "Hello", state: "text" }],
  ["llm", { state: "stopped" }],
  ["tts", { state: "started" }],
  ["tts", { text: "Hello", state: "text" }],
  ["transcript", { role: "bot", text: "Hello", final: false }],
  ["tts", { state: "stopped" }],
  ["functioncall", { function_name: "lookup", state: "started" }],
  ["functioncall", { tool_call_id: "call-1", cancelled: false, function_name: "lookup", result: { ok: true }, state: "stopped" }],
  ["systemlog", { text: "a line of the server's log" }],
];

const live = runnerWithPages("interop-rtvi", { "index.html": PAGE });


for (const engine of ["Chromium", "Firefox"]) {
  test(`${engine}: RTVI 2.2 with the real runner — client-ready 2.2.0 taken, every typed server message, over WebRTC and a WebSocket`, { timeout: 180_000 }, async () => {
    const b = await ENGINES[engine]();
    try {
      await b.goto(`${live.server.url}/index.html`);
      await poll("the page", async () => ({ ok: await b.run(() => window.pageReady === true) }));
      for (const transport of ["webrtc", "websocket"]) {
        const logFrom = live.runner.log().length;
        const r = await b.run((o) => window.typed(o), { platform: "pipecat-runner", baseUrl: live.runner.url, transport, timeoutMs: 30000 });
        assert.ok(r.ok, `${transport}: ${JSON.stringify(r)}`);
        assert.equal(r.transport, transport);
        assert.equal(r.botVersion, "2.2.0");
        assert.equal(r.sent.length, 16);
        assert.deepEqual(r.events, EXPECTED, transport);
        assert.doesNotMatch(live.runner.log().slice(logFrom), /not compatible|Compatibility issues/, "the runner took client-ready 2.2.0");
      }
      assert.deepEqual(b.errors(), []);
    } finally {
      await b.close();
    }
  });
}
