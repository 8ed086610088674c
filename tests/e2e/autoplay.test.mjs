// Autoplay blocked: `attachAudio()` rejects with the typed `media` error (`details.name`
// "NotAllowedError"), and `resumeAudio()` from a click plays. Uses pkg/ as shipped, against the
// local agent, in a Chromium started with --autoplay-policy=user-gesture-required. Headless
// Chromium here still lets a WebRTC stream play without a gesture, so play() is also made to
// refuse as a strict browser does (no trusted input yet → NotAllowedError), as the widget test does.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/autoplay.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, openPage, startAgent } from "./harness.mjs";

let agent;
let browser;

before(async () => {
  agent = await startAgent(["--www", "www", "--pkg", "pkg"]);
  browser = await launchChromium({ autoplayPolicy: "user-gesture-required" });
});

after(async () => {
  await browser?.close();
  await agent?.stop();
});

// The flow runs from the page's own script: Playwright's evaluate() counts as a user gesture.
const PAGE = (base) => `<!doctype html><meta charset="utf-8"><title>autoplay</title>
<button id="resume">Play</button>
<script type="module">
import init, { startAndConnect, isAgentRtcError } from "/pkg/agent_rtc.js";
await init();
// No microphone: a page that captures may autoplay in Chromium, one that does not may not.
const conn = await startAndConnect({ platform: "pipecat-runner", baseUrl: ${JSON.stringify(base)}, audio: false });
window.conn = conn;
try {
  await conn.attachAudio();
  window.blocked = { rejected: false };
} catch (e) {
  window.blocked = { rejected: true, isSdk: isAgentRtcError(e), code: e.code, name: e.details?.name, phase: e.details?.phase };
}
document.getElementById("resume").onclick = () => {
  window.resumed = conn.resumeAudio().then(() => "played", (e) => "failed: " + e.code + " " + e.details?.name);
};
</script>`;

test("blocked autoplay is a typed media error, and a click resumes playback", { timeout: 60000 }, async () => {
  const strictPlay = () => {
    const play = HTMLMediaElement.prototype.play;
    let gesture = false;
    for (const type of ["keydown", "pointerdown"]) addEventListener(type, (e) => (gesture ||= e.isTrusted), true);
    HTMLMediaElement.prototype.play = function () {
      if (gesture) return play.call(this);
      return Promise.reject(new DOMException("play() can only be initiated by a user gesture.", "NotAllowedError"));
    };
  };
  const { page, errors } = await openPage(browser, { init: [strictPlay] });
  const url = `${agent.url}/autoplay-test.html`;
  await page.route(url, (route) => route.fulfill({ contentType: "text/html", body: PAGE(agent.url) }));
  await page.goto(url);
  await page.waitForFunction(() => window.blocked, null, { timeout: 20000 });
  const blocked = await page.evaluate(() => window.blocked);
  assert.deepEqual(blocked, { rejected: true, isSdk: true, code: "media", name: "NotAllowedError", phase: "call" });

  // A user gesture: resumeAudio() from a click handler plays.
  await page.click("#resume");
  const resumed = await page.evaluate(() => window.resumed);
  assert.equal(resumed, "played");
  const playing = await page.evaluate(() => {
    const el = [...document.querySelectorAll("audio")].find((a) => a.srcObject === window.conn.remoteStream);
    return el && !el.paused;
  });
  assert.equal(playing, true, "the SDK's <audio> is playing the bot");
  await page.evaluate(() => window.conn.disconnect());
  assert.equal(await page.evaluate(() => document.querySelectorAll("audio").length), 0, "and removed on disconnect");
  await page.close();
  assert.deepEqual(errors, [], "no uncaught error in the page");
});
