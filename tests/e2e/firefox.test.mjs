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
