// The demo page and the <agent-preview> widget in headless Chromium against the local agent:
// start from the page, connected + bot-ready, both level meters moving, mute seen by the agent,
// the bot's server message in the log, stop leaves no peer connection; the same through
// /embed.html with start()/stop(); an error in words; removal frees everything; a microphone
// switch; the audio-blocked notice. Saves test-output/widget-connected.png.
//
// Run: make test-e2e, or (with pkg/ built and the agent built) AGENT_BIN=... node --test tests/e2e/widget.test.mjs

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { OUT, ROOT, getJson, launchChromium, startAgent } from "./harness.mjs";

const WAIT = { timeout: 15000 }; // only to catch hangs: a local connect takes well under a second
const SCREENSHOT = join(OUT, "widget-connected.png");

// Counts the page's RTCPeerConnections (the SDK creates them through the global constructor).
const TRACK_PCS = () => {
  const Native = window.RTCPeerConnection;
  const all = (window.__pcs = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      all.push(this);
    }
  };
  window.__openPcs = () => all.filter((pc) => pc.connectionState !== "closed" && pc.signalingState !== "closed").length;
};

let agent;
let browser;
let page;
let pageErrors;

before(async () => {
  // The widget is served from pkg/ (as shipped): make sure pkg/ has the current source.
  const pkgCopy = (() => {
    try {
      return readFileSync(join(ROOT, "pkg/agent-preview.js"), "utf8");
    } catch {
      return null;
    }
  })();
  if (pkgCopy !== readFileSync(join(ROOT, "www/agent-preview.js"), "utf8")) {
    execFileSync(join(ROOT, "scripts/package.sh"), { cwd: ROOT, stdio: "inherit" });
  }
  mkdirSync(OUT, { recursive: true });
  agent = await startAgent(["--www", "www", "--pkg", "pkg"]);
  browser = await launchChromium();
});

beforeEach(async () => {
  page = await browser.newPage();
  pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.addInitScript(TRACK_PCS);
});

afterEach(async () => {
  await page?.close();
});

after(async () => {
  await browser?.close();
  if (agent) await agent.stop();
});

// ---- helpers running in the page ----
const widget = (sel = "agent-preview") => page.locator(sel);
const shadowText = (id) =>
  page.evaluate((id) => document.querySelector("agent-preview").shadowRoot.getElementById(id).textContent, id);
const waitShadow = (fn, arg, opts = WAIT) =>
  page.waitForFunction(
    ([src, arg]) => new Function("root", "arg", `return (${src})(root, arg)`)(document.querySelector("agent-preview").shadowRoot, arg),
    [fn.toString(), arg],
    { ...opts, polling: 50 },
  );
const waitState = (state) => waitShadow((root, s) => root.getElementById("st").textContent === s, state);
const waitLog = (text) => waitShadow((root, t) => root.getElementById("log").textContent.includes(t), text);
const waitMeter = (id) => waitShadow((root, id) => root.getElementById(id).value > 0.01, id);
const openPcs = () => page.evaluate(() => window.__openPcs());

async function openDemo(path = "/") {
  await page.goto(`${agent.url}${path}`);
  await page.waitForFunction(() => customElements.get("agent-preview") !== undefined, null, WAIT);
}

async function session(id) {
  const { status, body } = await getJson(`${agent.url}/debug/sessions/${id}`);
  assert.equal(status, 200, `debug session ${id}`);
  return body;
}

async function poll(what, fn, timeoutMs = WAIT.timeout) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last.ok) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

test("demo page: start, connected + bot-ready, meters, stats, mute, server message, stop", { timeout: 60000 }, async (t) => {
  await openDemo("/");
  assert.equal(await page.locator('input[name="base-url"]').inputValue(), agent.url, "prefilled for this agent");
  assert.equal(await page.evaluate(() => document.querySelector("agent-preview").state), "disconnected");

  await widget().getByRole("button", { name: "Start" }).click();
  await waitState("connected");
  await waitLog("ready"); // the widget logs bot-ready
  await page.locator("#timeline", { hasText: "bot-ready" }).waitFor(WAIT);
  await waitLog("Connected to the agent-rtc local agent"); // the bot's server-message, as text
  await waitMeter("ml");
  await waitMeter("bl");
  assert.equal(await widget().getByRole("button", { name: "Stop" }).count(), 1, "the button now stops");

  const timeline = await page.locator("#timeline").innerText();
  t.diagnostic(timeline.replace(/\n/g, " | "));
  for (const stepText of ["start clicked", "session started", "state: connecting", "state: connected", "bot-ready"]) {
    assert.ok(timeline.includes(stepText), `timeline has "${stepText}"`);
  }
  // Two stats samples give a bitrate.
  await page.waitForFunction(() => /kbit\/s/.test(document.querySelector('#stats [data-k="in"]').textContent), null, WAIT);
  assert.match(await page.locator('#stats [data-k="rtt"]').innerText(), /ms$/);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  t.diagnostic(`screenshot: ${SCREENSHOT}`);

  const sessionId = await page.evaluate(() => document.querySelector("agent-preview").connection.sessionId);
  assert.ok(sessionId, "the connection has a session id");
  assert.equal((await session(sessionId)).peers[0].trackStatus["0"], true, "mic on before mute");

  await widget().getByRole("button", { name: "Mute" }).click();
  assert.equal(await widget().getByRole("button", { name: "Unmute" }).getAttribute("aria-pressed"), "true");
  await poll("the agent to see the mic muted", async () => {
    const s = await session(sessionId);
    return { ok: s.peers[0]?.trackStatus?.["0"] === false, trackStatus: s.peers[0]?.trackStatus };
  });
  // Muted: the bot sends silence, so its meter falls to (almost) nothing.
  await waitShadow((root) => root.getElementById("bl").value < 0.005, null);

  await widget().getByRole("button", { name: "Stop" }).click();
  await waitState("disconnected");
  assert.equal(await openPcs(), 0, "no open peer connection after stop");
  assert.ok(await page.evaluate(() => window.__pcs.length) >= 1, "a peer connection was made");
  assert.equal(await page.evaluate(() => document.querySelector("agent-preview").connection), null);
  assert.equal(
    await page.evaluate(() => document.querySelector("agent-preview").shadowRoot.querySelector("audio").srcObject),
    null,
    "the audio element is released",
  );
  assert.deepEqual(pageErrors, []);
});

test("embed page: start() and stop() on the element; events bubble out of it", { timeout: 60000 }, async () => {
  await openDemo("/embed.html");
  await page.evaluate(() => {
    window.__events = [];
    for (const type of ["statechange", "botready", "message", "error"]) {
      document.addEventListener(type, (e) => window.__events.push({ type, state: e.detail?.state, composed: e.composed }));
    }
  });
  const state = await page.evaluate(async () => {
    const el = document.querySelector("agent-preview");
    await el.start();
    return el.state;
  });
  assert.equal(state, "connected", "start() resolves connected");
  await waitLog("Connected to the agent-rtc local agent");
  await waitMeter("ml");
  await waitMeter("bl");
  const events = await page.evaluate(() => window.__events);
  const states = events.filter((e) => e.type === "statechange").map((e) => e.state);
  assert.deepEqual(states, ["connecting", "connected"], "statechange events on the document");
  assert.ok(events.some((e) => e.type === "botready"), "botready reached the document");
  assert.ok(events.some((e) => e.type === "message"), "message reached the document");
  assert.ok(events.every((e) => e.composed), "events are composed");

  await page.evaluate(() => document.querySelector("agent-preview").stop());
  assert.equal(await page.evaluate(() => document.querySelector("agent-preview").state), "disconnected");
  assert.equal(await openPcs(), 0, "no open peer connection after stop()");
  assert.equal(await shadowText("st"), "disconnected");
  assert.deepEqual(pageErrors, []);
});

test("a faulty agent: the error is shown in words, the state is failed, nothing stays open", { timeout: 60000 }, async () => {
  await openDemo("/");
  await page.selectOption('select[name="platform"]', "pipecat-cloud");
  await page.fill('input[name="base-url"]', `${agent.url}/v1/public`);
  await page.fill('input[name="agent"]', "fault-start-500");
  await page.evaluate(() => {
    window.__errors = [];
    document.addEventListener("error", (e) => window.__errors.push({ code: e.detail.code, status: e.detail.status }));
  });
  await widget().getByRole("button", { name: "Start" }).click();
  await waitState("failed");
  const err = await shadowText("err");
  assert.match(err, /The server answered HTTP 500 while starting the session/);
  assert.ok(await widget().getByRole("alert").filter({ hasText: "HTTP 500" }).isVisible(), "the error is visible");
  assert.deepEqual(await page.evaluate(() => window.__errors), [{ code: "http", status: 500 }]);
  await page.waitForFunction(() => window.__openPcs() === 0, null, WAIT);
  assert.equal(await widget().getByRole("button", { name: "Start" }).count(), 1, "can start again");
});

test("server text is rendered as text, never as HTML", { timeout: 60000 }, async () => {
  await openDemo("/embed.html");
  await page.evaluate(async () => {
    const el = document.querySelector("agent-preview");
    await el.start();
    // The echo bot answers a client-message with a server-response carrying the same data.
    el.connection.sendRtvi("client-message", { t: "x", d: {}, text: '<img src=x onerror="window.__xss=1">' });
  });
  await waitLog('<img src=x onerror="window.__xss=1">');
  assert.equal(await page.evaluate(() => document.querySelector("agent-preview").shadowRoot.querySelectorAll("#log img").length), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await page.evaluate(() => document.querySelector("agent-preview").stop());
});

test("removing the element frees the call", { timeout: 60000 }, async () => {
  await openDemo("/embed.html");
  await page.evaluate(() => document.querySelector("agent-preview").start());
  const sessionId = await page.evaluate(() => document.querySelector("agent-preview").connection.sessionId);
  await page.evaluate(() => {
    const el = document.querySelector("agent-preview");
    window.__removed = el;
    el.remove();
  });
  await page.waitForFunction(() => window.__openPcs() === 0, null, WAIT);
  assert.equal(await page.evaluate(() => window.__removed.state), "disconnected");
  assert.equal(await page.evaluate(() => window.__removed.connection), null);
  await poll("the agent to see the peer closed", async () => {
    const s = await session(sessionId);
    return { ok: s.peers.every((p) => p.state === "closed"), peers: s.peers.map((p) => p.state) };
  });
});

test("switching the microphone replaces the sent track without reconnecting", { timeout: 60000 }, async () => {
  await openDemo("/embed.html");
  await page.evaluate(() => document.querySelector("agent-preview").start());
  await widget().getByLabel("Microphone").locator("option").nth(1).waitFor({ state: "attached", ...WAIT });
  const options = await widget().getByLabel("Microphone").locator("option").allTextContents();
  assert.ok(options.length >= 2, `several (fake) microphones listed: ${options}`);
  const before = await page.evaluate(() => {
    const pc = document.querySelector("agent-preview").connection.peerConnection;
    window.__oldTrack = pc.getSenders().find((s) => s.track?.kind === "audio").track;
    return { label: window.__oldTrack.label, pcs: window.__pcs.length };
  });
  const other = await widget()
    .getByLabel("Microphone")
    .locator("option")
    .evaluateAll((opts, label) => opts.find((o) => o.textContent !== label).value, before.label);
  await widget().getByLabel("Microphone").selectOption(other);
  const after = await page.waitForFunction(
    (old) => {
      const el = document.querySelector("agent-preview");
      const track = el.connection.peerConnection.getSenders().find((s) => s.track?.kind === "audio").track;
      return track.label !== old && { label: track.label, oldEnded: window.__oldTrack.readyState === "ended", state: el.state };
    },
    before.label,
    WAIT,
  );
  const r = await after.jsonValue();
  assert.equal(r.state, "connected", "still the same connection");
  assert.equal(r.oldEnded, true, "the old microphone is released");
  assert.equal(await page.evaluate(() => window.__pcs.length), before.pcs, "no new peer connection");
  await waitMeter("ml");
  const newTrack = await page.evaluate(() => {
    window.__newTrack = document.querySelector("agent-preview").connection.localStream.getAudioTracks()[0];
    return window.__newTrack.label;
  });
  assert.equal(newTrack, r.label, "localStream holds the track being sent");
  await page.evaluate(() => document.querySelector("agent-preview").stop());
  assert.equal(await page.evaluate(() => window.__newTrack.readyState), "ended", "the track the widget opened is stopped");
  assert.equal(await openPcs(), 0);
});

// Chromium lets a page that is capturing the microphone play audio, so a refusal cannot be
// provoked with real media here: play() is made to refuse as a strict browser does (no user
// activation → NotAllowedError), and the widget's notice and resume button are what is tested.
test("without a user gesture, the widget says audio is blocked and offers to resume it", { timeout: 60000 }, async () => {
  await page.addInitScript(() => {
    // (Playwright's evaluate() counts as a user gesture, so activation is tracked from real input.)
    const play = HTMLMediaElement.prototype.play;
    let gesture = false;
    for (const type of ["keydown", "pointerdown"]) addEventListener(type, (e) => (gesture ||= e.isTrusted), true);
    window.__refused = 0;
    HTMLMediaElement.prototype.play = function () {
      if (gesture) return play.call(this);
      window.__refused++;
      return Promise.reject(new DOMException("play() can only be initiated by a user gesture.", "NotAllowedError"));
    };
  });
  await openDemo("/embed.html");
  // start() from script, not from a click.
  await page.evaluate(() => document.querySelector("agent-preview").start());
  const resume = widget().getByRole("button", { name: "Play audio" });
  await resume.waitFor({ state: "visible", ...WAIT });
  assert.ok(await page.evaluate(() => window.__refused) >= 1);
  assert.match(await widget().getByRole("alert").filter({ hasText: "blocked" }).innerText(), /blocked audio/);
  await resume.focus();
  await page.keyboard.press("Enter"); // keyboard-usable; a key press is a user gesture too
  await resume.waitFor({ state: "hidden", ...WAIT });
  assert.equal(await page.evaluate(() => document.querySelector("agent-preview").shadowRoot.querySelector("audio").paused), false);
  await page.evaluate(() => document.querySelector("agent-preview").stop());
  assert.equal(await openPcs(), 0);
});
