// The <agent-preview> scenarios of widget-scenarios.mjs in headless Chromium (playwright-core)
// against a fresh local agent (Daily rooms included) and a fake start endpoint for the answer the
// agent never gives (neither room nor offer path). firefox.test.mjs runs the same scenarios in
// Firefox.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/widget-lifecycle.test.mjs

import { test, before, after, beforeEach, afterEach } from "node:test";

import { freshPkg, launchChromium, openPage, rmSync, startAgent, startFakeRoomServer, workDir } from "./harness.mjs";
import { playwrightDriver, scenarios, writeTestPage } from "./widget-scenarios.mjs";

let dir;
let ctx;
let browser;
let page;
let pageErrors;

before(async () => {
  await freshPkg();
  dir = workDir("e2e-widget-chromium");
  writeTestPage(dir);
  ctx = { agent: await startAgent(["--www", dir, "--pkg", "pkg"]), room: await startFakeRoomServer() };
  browser = await launchChromium();
});

beforeEach(async () => {
  ({ page, errors: pageErrors } = await openPage(browser));
});

afterEach(async () => {
  await page?.close();
});

after(async () => {
  await browser?.close();
  await ctx?.room?.close();
  if (ctx?.agent) await ctx.agent.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const s of scenarios) {
  test(`chromium: ${s.name}`, { timeout: 60000 }, async () => {
    await s.run(playwrightDriver(page), ctx);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
  });
}
