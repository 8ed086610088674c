// The <agent-preview> scenarios of widget-scenarios.mjs in headless Firefox ESR, driven over W3C
// WebDriver by geckodriver (see webdriver.mjs), against a fresh local agent (Daily rooms included)
// and a fake start endpoint for the answer the agent never gives: the same assertions as in Chromium.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/firefox.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { freshPkg, rmSync, startAgent, startFakeRoomServer, workDir } from "./harness.mjs";
import { launchFirefox } from "./webdriver.mjs";
import { scenarios, writeTestPage } from "./widget-scenarios.mjs";

let dir;
let ctx;
let firefox;

before(async () => {
  await freshPkg();
  dir = workDir("e2e-widget-firefox");
  writeTestPage(dir);
  ctx = { agent: await startAgent(["--www", dir, "--pkg", "pkg"]), room: await startFakeRoomServer() };
  firefox = await launchFirefox();
});

after(async () => {
  await firefox?.close();
  await ctx?.room?.close();
  if (ctx?.agent) await ctx.agent.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("firefox: the browser is Firefox ESR with fake media", async (t) => {
  t.diagnostic(`Firefox ${firefox.version}`);
  assert.match(firefox.version, /^\d+\./);
  await firefox.goto(`${ctx.agent.url}/widgets.html`);
  const ua = await firefox.run(async () => {
    const s = await navigator.mediaDevices.getUserMedia({ audio: true });
    const label = s.getAudioTracks()[0].label;
    s.getTracks().forEach((x) => x.stop());
    return { ua: navigator.userAgent, label };
  });
  assert.match(ua.ua, /Firefox\//);
  assert.ok(ua.label, "a (fake) microphone opened without a prompt");
});

for (const s of scenarios) {
  test(`firefox: ${s.name}`, { timeout: 90000 }, async () => {
    await s.run(firefox, ctx);
    // A page error surfaces through the instrumentation's console record.
    const errors = await firefox.run(() => window.__console.filter((l) => /^(uncaught|unhandled):/.test(l)));
    assert.deepEqual(errors, []);
  });
}

test("firefox: the conversation: transcript lines of both sides, who is speaking, the speaker picker where setSinkId exists", { timeout: 90000 }, async (t) => {
  await firefox.goto(`${ctx.agent.url}/widgets.html`);
  await firefox.run(() => window.__until("the widget to register", () => customElements.get("agent-preview")));
  await firefox.run(
    async (attrs) => {
      const el = window.__mk("t", attrs);
      window.__conv = [];
      for (const type of ["transcript", "speaking"]) el.addEventListener(type, (e) => window.__conv.push({ type, detail: e.detail }));
      // Every text the speaking indicator shows.
      const who = el.shadowRoot.getElementById("who");
      window.__who = [];
      new MutationObserver(() => window.__who.push(who.textContent)).observe(who, { childList: true, characterData: true, subtree: true });
    },
    { platform: "pipecat-runner", "base-url": ctx.agent.url },
  );
  await firefox.click("t", "#go");
  // Firefox's fake microphone is one endless tone: the user speaks until muted. The mute button
  // (a user's click) ends the utterance: the user's transcript, then the bot's answer.
  await firefox.run(() => window.__until("the user speaking", () => window.__who.includes("You are speaking")));
  await firefox.click("t", "#mute");
  const r = await firefox.run(async () => {
    const el = window.__el("t");
    const root = el.shadowRoot;
    await window.__until("a line of each side", () => root.querySelector("#log li.user") && root.querySelector("#log li.bot"));
    await window.__until("the bot to stop speaking", () => window.__conv.some((e) => e.type === "speaking" && e.detail.role === "bot" && !e.detail.speaking));
    const lines = (c) => [...root.querySelectorAll(`#log li.${c}`)].map((li) => li.textContent);
    const out = {
      user: lines("user"),
      bot: lines("bot"),
      who: window.__who,
      roles: [...new Set(window.__conv.filter((e) => e.type === "transcript").map((e) => e.detail.role))].sort(),
      logRole: root.getElementById("log").getAttribute("role"),
      picker: !root.getElementById("sink").hidden,
      setSinkId: "setSinkId" in HTMLMediaElement.prototype,
      attached: root.querySelector("audio").srcObject === el.connection.remoteStream,
    };
    await el.stop();
    out.whoAfter = root.getElementById("who").textContent;
    return out;
  });
  t.diagnostic(`setSinkId: ${r.setSinkId}; first lines: ${r.user[0]} / ${r.bot[0]}`);
  assert.match(r.user[0], /^YouUser utterance \d+\.$/);
  assert.match(r.bot[0], /^BotEcho bot heard utterance \d+\.$/);
  assert.equal(new Set(r.bot).size, r.bot.length, `no bot line twice: ${JSON.stringify(r.bot)}`);
  assert.deepEqual(r.roles, ["bot", "user"], "transcript events of both sides");
  for (const want of ["You are speaking", "The bot is speaking"]) assert.ok(r.who.includes(want), `the indicator showed "${want}": ${JSON.stringify(r.who)}`);
  assert.equal(r.logRole, "log");
  assert.equal(r.picker, r.setSinkId, "a speaker picker exactly where setSinkId exists");
  assert.equal(r.attached, true, "the bot plays in the widget's own <audio>");
  assert.equal(r.whoAfter, "");
  await firefox.run(() => window.__until("every peer connection closed and every track stopped", () => window.__openPcs() === 0 && window.__liveTracks() === 0));
  const errors = await firefox.run(() => window.__console.filter((l) => /^(uncaught|unhandled):/.test(l)));
  assert.deepEqual(errors, []);
});
