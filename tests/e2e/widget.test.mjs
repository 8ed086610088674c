// The demo page and the <agent-preview> widget in headless Chromium against the local agent:
// start from the page, connected + bot-ready, both level meters moving, mute seen by the agent,
// the bot's server message in the log, stop leaves no peer connection; the demo's text box driving
// a get_weather function call end to end; the same through /embed.html with start()/stop(); an
// error in words; bot text never rendered as HTML; removal frees everything; the conversation
// (transcript of both sides, interim lines, who is speaking, events); the microphone picker
// (setMicrophone, the agent still hearing it) and the speaker picker (setSpeaker), failing devices
// included; the audio-blocked notice. Saves test-output/widget-connected.png.
//
// Run: make test-e2e, or (with pkg/ built and the agent built) AGENT_BIN=... node --test tests/e2e/widget.test.mjs

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { OUT, ROOT, TRACK_PCS, getJson, launchChromium, openPage, poll, startAgent } from "./harness.mjs";

const WAIT = { timeout: 15000 }; // only to catch hangs: a local connect takes well under a second
const SCREENSHOT = join(OUT, "widget-connected.png");

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
  ({ page, errors: pageErrors } = await openPage(browser, { init: [TRACK_PCS] }));
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
const waitLog = (text, opts) => waitShadow((root, t) => root.getElementById("log").textContent.includes(t), text, opts);
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

test("demo page: the text box sends text, the page's get_weather handler runs, the bot reports the result in a server-message", { timeout: 60000 }, async () => {
  await openDemo("/");
  assert.equal(await page.getByRole("button", { name: "Send" }).isDisabled(), true, "no sending before a call");
  await widget().getByRole("button", { name: "Start" }).click();
  await waitState("connected");
  const sessionId = await page.evaluate(() => document.querySelector("agent-preview").connection.sessionId);
  await page.getByLabel("Text to the bot").fill("Paris");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("#calls li", { hasText: "bot reported" }).waitFor(WAIT);
  const lines = await page.locator("#calls li").allTextContents();
  const result = { location: "Paris", conditions: "sunny", temperatureC: 21 };
  const [sent, call, returned, reported] = lines;
  assert.equal(lines.length, 4, JSON.stringify(lines));
  assert.equal(sent, "you sentParis");
  const id = /^callget_weather\(\{"location":"Paris"\}\) \[(call_\w+)\]$/.exec(call)?.[1];
  assert.ok(id, `the page's handler ran with {location: "Paris"}: ${call}`);
  assert.equal(returned, `page returned${JSON.stringify(result)}`);
  const m = /^bot reportedget_weather → (\{.*\}) \[(call_\w+)\]$/.exec(reported);
  assert.ok(m, reported);
  assert.deepEqual([JSON.parse(m[1]), m[2]], [result, id], "the bot's server-message carries the page's result");
  // What the agent saw: the call completed with the page's result.
  const bot = (await session(sessionId)).bot;
  assert.deepEqual(
    bot.functionCalls.map(({ toolCallId, functionName, arguments: args, result: res, completed }) => ({ toolCallId, functionName, args, res, completed })),
    [{ toolCallId: id, functionName: "get_weather", args: { location: "Paris" }, res: result, completed: true }],
  );
  // The bot also says it: a line of the widget's transcript.
  await waitShadow((root) => [...root.querySelectorAll("#log li.bot")].some((li) => li.textContent.includes("get_weather returned")), null);
  const said = (await logLines("bot")).find((l) => l.includes("get_weather returned"));
  assert.deepEqual(JSON.parse(/returned (\{.*\})\.$/.exec(said)[1]), result, said);
  await widget().getByRole("button", { name: "Stop" }).click();
  await waitState("disconnected");
  assert.equal(await page.getByRole("button", { name: "Send" }).isDisabled(), true, "no sending after the call");
  assert.equal(await openPcs(), 0);
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

test("a network drop mid-call: the widget says reconnecting, the call comes back on a new connection, the bot is heard again", { timeout: 60000 }, async () => {
  await openDemo("/");
  await page.selectOption('select[name="platform"]', "pipecat-cloud");
  await page.fill('input[name="base-url"]', `${agent.url}/v1/public`);
  // The agent cuts the call's media path (every datagram, both ways) 2 s in, for 12 s: too long
  // to heal by itself, so the SDK restarts on a new peer connection (restart_pc, same pc_id).
  await page.fill('input[name="agent"]', "fault-blackout-12s-after-2s");
  await page.evaluate(() => {
    window.__states = [];
    document.addEventListener("statechange", (e) => window.__states.push(e.detail.state));
  });
  await widget().getByRole("button", { name: "Start" }).click();
  await waitState("connected");
  await waitMeter("bl");
  await waitState("reconnecting");
  await waitLog("Reconnecting (attempt 1)", { timeout: 20000 });
  await waitLog("Reconnected after", { timeout: 20000 });
  await waitState("connected");
  // The bot's level meter follows the new track.
  await waitMeter("bl");
  assert.deepEqual(await page.evaluate(() => window.__states), ["connecting", "connected", "reconnecting", "connected"]);
  assert.equal(await openPcs(), 1, "the old connection is closed, the new one carries the call");
  assert.equal(await page.evaluate(() => window.__pcs.length), 2);
  await widget().getByRole("button", { name: "Stop" }).click();
  await waitState("disconnected");
  assert.equal(await openPcs(), 0);
  assert.deepEqual(pageErrors, []);
});

test("server text is rendered as text, never as HTML", { timeout: 60000 }, async () => {
  const XSS = "<img src=x onerror=window.__xss=1>";
  await openDemo("/embed.html");
  await page.evaluate(async (xss) => {
    const el = document.querySelector("agent-preview");
    await el.start();
    // The bot says the text (a bot transcript line), and send-text makes it call get_weather with
    // it as the location, which the bot reports back in a server-message (a "Server" line).
    el.connection.registerFunctionCallHandler("get_weather", () => ({ ok: true }));
    el.connection.sendClientMessage("speak", { text: xss });
    el.connection.sendText(xss);
  }, XSS);
  await waitShadow((root, x) => [...root.querySelectorAll("#log li")].filter((li) => li.textContent.includes(x)).length >= 2, XSS);
  const lines = await page.evaluate(
    (x) => [...document.querySelector("agent-preview").shadowRoot.querySelectorAll("#log li")].map((li) => li.textContent).filter((t) => t.includes(x)),
    XSS,
  );
  assert.ok(lines.includes(`Bot${XSS}`), JSON.stringify(lines));
  assert.ok(lines.some((l) => l.startsWith("Server") && l.includes("function-result")), JSON.stringify(lines));
  assert.equal(await page.evaluate(() => document.querySelector("agent-preview").shadowRoot.querySelectorAll("img").length), 0);
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

/** The widget's log lines of one class ("user", "bot"), as text. */
const logLines = (cls) =>
  page.evaluate((cls) => [...document.querySelector("agent-preview").shadowRoot.querySelectorAll(`#log li.${cls}`)].map((li) => li.textContent), cls);

test("switching the microphone goes through conn.setMicrophone: same connection, new sender track, the agent still hears it; a failing device keeps the call", { timeout: 60000 }, async () => {
  await openDemo("/embed.html");
  await page.evaluate(() => document.querySelector("agent-preview").start());
  await widget().getByLabel("Microphone").locator("option").nth(1).waitFor({ state: "attached", ...WAIT });
  const options = await widget().getByLabel("Microphone").locator("option").allTextContents();
  assert.ok(options.length >= 2, `several (fake) microphones listed: ${options}`);
  const before = await page.evaluate(() => {
    const c = document.querySelector("agent-preview").connection;
    // Every setMicrophone call the widget makes, and how it ended.
    window.__setMic = [];
    const setMicrophone = c.setMicrophone.bind(c);
    c.setMicrophone = (id) => {
      const p = setMicrophone(id);
      window.__setMic.push({ id, outcome: "pending" });
      const rec = window.__setMic.at(-1);
      p.then(() => (rec.outcome = "ok"), (e) => (rec.outcome = `${e.code} ${e.details?.name}`));
      return p;
    };
    window.__oldTrack = c.peerConnection.getSenders().find((s) => s.track?.kind === "audio").track;
    return { label: window.__oldTrack.label, pcs: window.__pcs.length, sessionId: c.sessionId };
  });
  // The agent hears the first microphone: the fake device's beeps make utterances.
  await waitShadow((root) => root.querySelector("#log li.user") !== null, null);
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
  assert.deepEqual(await page.evaluate(() => window.__setMic), [{ id: other, outcome: "ok" }], "the widget switched with setMicrophone(deviceId)");
  assert.equal(r.state, "connected", "still the same connection");
  assert.equal(r.oldEnded, true, "the old microphone is released");
  assert.equal(await page.evaluate(() => window.__pcs.length), before.pcs, "no new peer connection");
  await waitLog(`Microphone${r.label}`);
  await waitMeter("ml");
  const newTrack = await page.evaluate(() => {
    window.__newTrack = document.querySelector("agent-preview").connection.localStream.getAudioTracks()[0];
    return window.__newTrack.label;
  });
  assert.equal(newTrack, r.label, "localStream holds the track being sent");

  // The agent keeps receiving audio on the same peer, and hears new utterances from the new device.
  const peer = async () => (await session(before.sessionId)).peers.find((p) => p.state !== "closed");
  const at = await peer();
  const usersAt = (await logLines("user")).length;
  await poll("the agent to receive audio from the new microphone", async () => {
    const p = await peer();
    return { ok: p?.pcId === at.pcId && p.audioPacketsReceived >= at.audioPacketsReceived + 50, at: at.audioPacketsReceived, now: p?.audioPacketsReceived };
  });
  await poll("an utterance heard after the switch", async () => {
    const n = (await logLines("user")).length;
    return { ok: n > usersAt, before: usersAt, now: n };
  });
  assert.equal((await session(before.sessionId)).peers.length, 1, "one peer on the agent throughout");

  // A device that cannot be opened: the error in words, the call and the microphone sent go on.
  await page.evaluate(() => {
    const sel = document.querySelector("agent-preview").shadowRoot.getElementById("mic");
    sel.append(new Option("Unplugged microphone", "no-such-device"));
  });
  await widget().getByLabel("Microphone").selectOption("no-such-device");
  await waitShadow((root) => !root.getElementById("err").hidden, null);
  assert.match(await shadowText("err"), /^The microphone could not be opened \((OverconstrainedError|NotFoundError)\)\.$/);
  const still = await page.evaluate(() => {
    const el = document.querySelector("agent-preview");
    const sent = el.connection.peerConnection.getSenders().find((s) => s.track?.kind === "audio").track;
    return { state: el.state, sent: sent === window.__newTrack, live: sent.readyState, calls: window.__setMic.length, last: window.__setMic.at(-1).outcome };
  });
  assert.deepEqual(still, { state: "connected", sent: true, live: "live", calls: 2, last: still.last });
  assert.match(still.last, /^media /);
  // The picker shows the microphone still in use again.
  await waitShadow((root, id) => root.getElementById("mic").value === id, other);
  assert.equal(await page.evaluate(() => window.__pcs.length), before.pcs, "still no new peer connection");

  await page.evaluate(() => document.querySelector("agent-preview").stop());
  assert.equal(await page.evaluate(() => window.__newTrack.readyState), "ended", "the track the SDK opened is stopped");
  assert.equal(await openPcs(), 0);
  assert.deepEqual(pageErrors, []);
});

test("the speaker picker (Chromium has setSinkId) routes the bot's audio through conn.setSpeaker; a failing device keeps the call", { timeout: 60000 }, async () => {
  await page.addInitScript(() => {
    // Records each setSinkId the page makes (element, device) and lets it through.
    const setSinkId = HTMLMediaElement.prototype.setSinkId;
    window.__sinks = [];
    HTMLMediaElement.prototype.setSinkId = function (id) {
      const rec = { id, widget: this.getRootNode() !== document, outcome: "pending" };
      window.__sinks.push(rec);
      return setSinkId.call(this, id).then(
        () => void (rec.outcome = "ok"),
        (e) => {
          rec.outcome = e.name;
          throw e;
        },
      );
    };
  });
  await openDemo("/embed.html");
  const picker = widget().getByLabel("Speaker");
  assert.ok(await picker.isVisible(), "a speaker picker where setSinkId exists");
  await page.evaluate(() => document.querySelector("agent-preview").start());
  await picker.locator("option").nth(1).waitFor({ state: "attached", ...WAIT });
  const r = await page.evaluate(() => {
    const el = document.querySelector("agent-preview");
    const c = el.connection;
    window.__setSpeaker = [];
    const setSpeaker = c.setSpeaker.bind(c);
    c.setSpeaker = (id) => (window.__setSpeaker.push(id), setSpeaker(id));
    const au = el.shadowRoot.querySelector("audio");
    return { attached: au.srcObject === c.remoteStream, options: [...el.shadowRoot.getElementById("out").options].map((o) => [o.value, o.text]) };
  });
  assert.equal(r.attached, true, "the widget's <audio> plays the bot (conn.attachAudio)");
  const [id, label] = r.options.find(([v, t]) => v !== "default" && /Output 1/.test(t)) ?? r.options.at(-1);
  await picker.selectOption(id);
  await waitLog(`Speaker${label}`);
  const done = await page.evaluate(() => ({
    setSpeaker: window.__setSpeaker,
    sinks: window.__sinks,
    sinkId: document.querySelector("agent-preview").shadowRoot.querySelector("audio").sinkId,
    err: document.querySelector("agent-preview").shadowRoot.getElementById("err").hidden,
    state: document.querySelector("agent-preview").state,
  }));
  assert.deepEqual(done.setSpeaker, [id], "the widget called conn.setSpeaker(deviceId)");
  assert.deepEqual(done.sinks, [{ id, widget: true, outcome: "ok" }], "setSinkId on the widget's <audio>, without error");
  assert.deepEqual([done.sinkId, done.err, done.state], [id, true, "connected"]);

  // An output that does not exist: the error in words, the call and the current output go on.
  await page.evaluate(() => document.querySelector("agent-preview").shadowRoot.getElementById("out").append(new Option("Unplugged speaker", "no-such-speaker")));
  await picker.selectOption("no-such-speaker");
  await waitShadow((root) => !root.getElementById("err").hidden, null);
  assert.equal(await shadowText("err"), "The speaker could not be changed (NotFoundError).");
  const still = await page.evaluate(() => ({
    state: document.querySelector("agent-preview").state,
    sinkId: document.querySelector("agent-preview").shadowRoot.querySelector("audio").sinkId,
  }));
  assert.deepEqual(still, { state: "connected", sinkId: id });
  await waitShadow((root, id) => root.getElementById("out").value === id, id);
  await page.evaluate(() => document.querySelector("agent-preview").stop());
  assert.equal(await openPcs(), 0);
  assert.deepEqual(pageErrors, []);

  // A browser without setSinkId: no picker.
  const { page: plain } = await openPage(browser, { init: [() => delete HTMLMediaElement.prototype.setSinkId] });
  try {
    await plain.goto(`${agent.url}/embed.html`);
    await plain.waitForFunction(() => customElements.get("agent-preview") !== undefined, null, WAIT);
    assert.equal(await plain.locator("agent-preview").getByLabel("Speaker").isVisible(), false);
    assert.equal(await plain.evaluate(() => document.querySelector("agent-preview").shadowRoot.getElementById("sink").hidden), true);
  } finally {
    await plain.close();
  }
});

test("the conversation: transcript lines of both roles, interim text replaced by the final, who is speaking, bounded, events", { timeout: 60000 }, async () => {
  await openDemo("/embed.html");
  await page.evaluate(() => {
    window.__conv = [];
    for (const type of ["transcript", "speaking"]) document.addEventListener(type, (e) => window.__conv.push({ type, detail: e.detail, composed: e.composed }));
    // Every text the speaking indicator shows.
    const who = document.querySelector("agent-preview").shadowRoot.getElementById("who");
    window.__who = [];
    new MutationObserver(() => window.__who.push(who.textContent)).observe(who, { childList: true, characterData: true, subtree: true });
  });
  await widget().getByRole("button", { name: "Start" }).click();
  await waitState("connected");
  const log = widget().getByRole("log", { name: "Conversation" });
  assert.equal(await log.getAttribute("aria-live"), "polite");
  // The fake microphone's beeps are utterances: the user's transcript, then the bot's answer.
  await waitShadow((root) => root.querySelector("#log li.user") && root.querySelector("#log li.bot"), null);
  const user = await logLines("user");
  const bot = await logLines("bot");
  assert.match(user[0], /^YouUser utterance \d+\.$/);
  assert.match(bot[0], /^BotEcho bot heard utterance \d+\.$/);
  // The bot sends bot-output and bot-tts-text for each sentence: one line each.
  assert.equal(new Set(bot).size, bot.length, `no bot line twice: ${JSON.stringify(bot)}`);
  // A whole turn: the user speaks, stops, the bot answers and stops (150 ms after its line).
  await page.waitForFunction(
    () => window.__conv.some((e) => e.type === "speaking" && e.detail.role === "bot" && !e.detail.speaking),
    null,
    WAIT,
  );
  const who = await page.evaluate(() => window.__who);
  for (const want of ["You are speaking", "The bot is speaking", ""]) assert.ok(who.includes(want), `the indicator showed "${want}": ${JSON.stringify(who)}`);
  const conv = await page.evaluate(() => window.__conv);
  const t = conv.filter((e) => e.type === "transcript").map((e) => e.detail);
  assert.ok(t.some((d) => d.role === "user" && d.final && /^User utterance/.test(d.text) && d.timestamp), JSON.stringify(t));
  assert.ok(t.some((d) => d.role === "bot" && d.final && /heard utterance/.test(d.text)), JSON.stringify(t));
  const sp = conv.filter((e) => e.type === "speaking").map((e) => JSON.stringify(e.detail));
  for (const want of [{ role: "user", speaking: true }, { role: "user", speaking: false }, { role: "bot", speaking: true }, { role: "bot", speaking: false }]) {
    assert.ok(sp.includes(JSON.stringify(want)), `speaking ${JSON.stringify(want)} in ${sp}`);
  }
  assert.ok(conv.every((e) => e.composed), "events cross the shadow root");

  // Interim text, as a bot with live transcription sends it (through the real channel's event
  // path, synchronously: nothing from the bot comes in between).
  const r = await page.evaluate(() => {
    const root = document.querySelector("agent-preview").shadowRoot;
    const chat = window.__channels.find((c) => c.label === "chat" && c.readyState === "open");
    const said = (text, final) =>
      chat.dispatchEvent(new MessageEvent("message", { data: JSON.stringify({ label: "rtvi-ai", type: "user-transcription", data: { text, final, user_id: "u" } }) }));
    const lines = () => root.querySelectorAll("#log li");
    const last = () => {
      const li = lines()[lines().length - 1];
      return { text: li.textContent, cls: li.className, hidden: li.getAttribute("aria-hidden") };
    };
    const out = { before: lines().length };
    said("what is", false);
    out.first = last();
    said("what is the weather", false);
    out.second = last();
    out.interimLines = lines().length - out.before;
    said("What is the weather?", true);
    out.final = last();
    out.finalLines = lines().length - out.before;
    out.interimLeft = root.querySelectorAll("#log li.i").length;
    for (let i = 0; i < 60; i++) said(`line ${i}`, true);
    out.bounded = lines().length;
    out.oldest = lines()[0].textContent;
    out.newest = last().text;
    return out;
  });
  assert.ok(r.before < 48, `room for two more lines: ${r.before}`);
  assert.deepEqual(r.first, { text: "Youwhat is", cls: "user i", hidden: "true" }, "an interim line, not announced");
  assert.deepEqual(r.second, { text: "Youwhat is the weather", cls: "user i", hidden: "true" }, "updated in place");
  assert.equal(r.interimLines, 1);
  assert.deepEqual(r.final, { text: "YouWhat is the weather?", cls: "user", hidden: null }, "the final line replaces it");
  assert.equal(r.finalLines, 1);
  assert.equal(r.interimLeft, 0);
  assert.deepEqual([r.bounded, r.oldest, r.newest], [50, "Youline 10", "Youline 59"], "the last 50 lines are kept");
  const finals = await page.evaluate(() => window.__conv.filter((e) => e.type === "transcript" && e.detail.text.startsWith("what is")).map((e) => e.detail.final));
  assert.deepEqual(finals, [false, false], "interim transcripts are events too");
  await page.evaluate(() => document.querySelector("agent-preview").stop());
  assert.equal(await shadowText("who"), "", "nobody is speaking once the call ended");
  assert.deepEqual(pageErrors, []);
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
