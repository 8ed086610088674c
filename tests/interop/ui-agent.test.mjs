// The UI agent of RTVI 2.2 against the real Pipecat runner (tests/interop/bot.py, built on
// Pipecat's own UI models, no LLM), in Chromium and Firefox, over WebRTC and over a WebSocket:
// the page runs `conn.enableUiAgent({ root: <main> })`; on the request "ui-test" the bot finds the
// button "Save" by name in the snapshot it received, sends `highlight` and `click` on its ref, sees
// the click's effect ("Saved") in a newer snapshot, then sends `set_input_value` on the password
// field and a `click` on a button outside the root: both refused, each answered with a
// `ui-command-error` ui-event the bot reads, and an `error` event for the page.
//
// Run: make test-interop (or PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/ui-agent.test.mjs).

import { test } from "node:test";
import assert from "node:assert/strict";
import { poll } from "../e2e/harness.mjs";
import { ENGINES } from "../e2e/webdriver.mjs";
import { runnerWithPages } from "./fixture.mjs";


const PAGE = `<!doctype html><meta charset="utf-8"><title>ui agent</title>
<main id="app">
  <h1>Profile</h1>
  <label>Email <input id="email" value="ada@example.com"></label>
  <label>Password <input id="pw" type="password"></label>
  <button id="save" type="button">Save</button>
  <output id="status"></output>
</main>
<button id="outside" type="button">Outside</button>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  import "/pkg/agent-rtc-ui.js"; // adds conn.enableUiAgent()
  await init();
  window.clicks = { save: 0, outside: 0 };
  document.getElementById("save").addEventListener("click", () => {
    window.clicks.save++;
    document.getElementById("status").textContent = "Saved";
  });
  document.getElementById("outside").addEventListener("click", () => window.clicks.outside++);
  // Was the button highlighted? (the class the agent adds, seen by an observer)
  window.highlighted = false;
  new MutationObserver(() => {
    if (document.getElementById("save").classList.contains("agent-rtc-highlight")) window.highlighted = true;
  }).observe(document.getElementById("save"), { attributes: true, attributeFilter: ["class"] });
  window.uiTest = async (options) => {
    document.getElementById("status").textContent = "";
    document.getElementById("pw").value = "";
    window.clicks = { save: 0, outside: 0 };
    window.highlighted = false;
    try {
      const conn = await sdk.startAndConnect(options);
      const ui = conn.enableUiAgent({ root: document.getElementById("app"), debounceMs: 100 });
      const errors = [];
      const commands = [];
      ui.on("error", (e) => errors.push({ code: e.code, reason: e.details?.reason, agentRtc: sdk.isAgentRtcError(e) }));
      ui.on("command", (c) => commands.push([c.command, c.ok]));
      const answer = await conn.sendClientRequest("ui-test", { name: "Save", effect: "Saved", outside: "outside" }, { timeoutMs: 40000 });
      const r = {
        ok: true,
        transport: conn.transport,
        answer,
        errors,
        commands,
        clicks: window.clicks,
        highlighted: window.highlighted,
        password: document.getElementById("pw").value,
        saveRef: ui.snapshot() && [...JSON.stringify(ui.snapshot()).matchAll(/"ref":"(e\\d+)","role":"button","name":"Save"/g)].map((m) => m[1])[0],
      };
      await conn.disconnect();
      r.enabledAfter = ui.enabled;
      return r;
    } catch (e) {
      return { ok: false, code: e.code, message: e.message };
    }
  };
  window.pageReady = true;
</script>`;

const live = runnerWithPages("interop-ui-agent", { "index.html": PAGE });


for (const engine of ["Chromium", "Firefox"]) {
  test(`${engine}: the runner's bot finds "Save" in the snapshot, highlights and clicks it, sees "Saved"; a password field and a button outside the root are refused (WebRTC and WebSocket)`, { timeout: 240_000 }, async () => {
    const b = await ENGINES[engine]();
    try {
      await b.goto(`${live.server.url}/index.html`);
      await poll("the page", async () => ({ ok: await b.run(() => window.pageReady === true) }));
      for (const transport of ["webrtc", "websocket"]) {
        const r = await b.run((o) => window.uiTest(o), { platform: "pipecat-runner", baseUrl: live.runner.url, transport, timeoutMs: 30000 });
        const what = `${transport}: ${JSON.stringify(r)}`;
        assert.ok(r.ok, what);
        assert.equal(r.transport, transport);
        assert.equal(r.answer.clicked, r.saveRef, `the bot clicked the ref the page gave "Save": ${what}`);
        assert.ok(r.answer.effect_seen_at > 0, what);
        assert.deepEqual(r.clicks, { save: 1, outside: 0 }, what);
        assert.equal(r.highlighted, true, `highlighted: ${what}`);
        assert.equal(r.password, "", `nothing written into the password field: ${what}`);
        assert.deepEqual(r.answer.refused.map((p) => [p.command, p.reason]), [["set_input_value", "password"], ["click", "outside-root"]], what);
        assert.deepEqual(r.errors, [
          { code: "bot_error", reason: "password", agentRtc: true },
          { code: "bot_error", reason: "outside-root", agentRtc: true },
        ], what);
        assert.deepEqual(r.commands, [["highlight", true], ["click", true], ["set_input_value", false], ["click", false]], what);
        assert.equal(r.enabledAfter, false, "the agent ends with the call");
      }
      assert.deepEqual(b.errors(), []);
    } finally {
      await b.close();
    }
  });
}
