// <agent-preview> scenarios run the same way in Chromium (playwright-core) and Firefox (geckodriver):
// a call from start to stop, removal and re-insertion, removal mid-connect, two widgets on a page,
// a React-StrictMode-style double mount, a bot's RTVI error, and the Daily-room path against the
// agent's stand-in room (a fake start endpoint only for an answer with neither room nor offer
// path). Each scenario gets a driver { goto(url), run(fn, arg), click(hostId, selector) }:
// run() executes an async function (sent as source) in the page and returns its JSON result; click()
// is a user's click on an element in a widget's shadow root.
//
// The test page (written by writeTestPage) loads instrument.js first, as a classic script, so every
// RTCPeerConnection, getUserMedia track, data channel, console line and widget event is recorded.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { TRACK_PCS, getJson, poll } from "./harness.mjs";

// The peer connections and channels as every e2e page records them (TRACK_PCS), then the
// microphone tracks, the console, uncaught errors and the widget's events.
const INSTRUMENT = `(${TRACK_PCS})();\n` + String.raw`(() => {
  const tracks = (window.__tracks = []);
  const gum = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (...args) {
    const s = await gum.apply(this, args);
    tracks.push(...s.getTracks());
    return s;
  };
  window.__liveTracks = () => tracks.filter((t) => t.readyState === "live").length;
  const lines = (window.__console = []);
  for (const k of ["log", "info", "warn", "error", "debug"]) {
    const f = console[k];
    console[k] = function (...args) {
      lines.push(args.map(String).join(" "));
      return f.apply(this, args);
    };
  }
  // (The widget's own "error" events bubble here too: only uncaught exceptions are ErrorEvents.)
  addEventListener("error", (e) => e instanceof ErrorEvent && lines.push("uncaught: " + e.message));
  addEventListener("unhandledrejection", (e) => lines.push("unhandled: " + e.reason));
  const plain = (d) => {
    if (d instanceof Error) return { name: d.name, message: d.message, code: d.code, details: d.details };
    try { return JSON.parse(JSON.stringify(d ?? null)); } catch { return String(d); }
  };
  const events = (window.__events = []);
  for (const type of ["statechange", "botready", "message", "error"]) {
    document.addEventListener(type, (e) => {
      if (e.target && e.target.localName === "agent-preview") events.push({ type, id: e.target.id, detail: plain(e.detail) });
    }, true);
  }
  /** A new <agent-preview id=id> with these attributes, appended to the body. */
  window.__mk = (id, attrs) => {
    const el = document.createElement("agent-preview");
    el.id = id;
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    document.body.append(el);
    return el;
  };
  window.__el = (id) => document.getElementById(id);
  window.__shadow = (id, sel) => document.getElementById(id).shadowRoot.querySelector(sel);
  // For a while, nothing happens: lets ms pass so that what is checked after it proves something
  // does NOT happen (no second connection). Never a wait for something: that is __until.
  window.__quiet = (ms) => new Promise((r) => setTimeout(r, ms));
  window.__until = async (what, f, ms = 15000) => {
    const end = performance.now() + ms;
    for (;;) {
      const v = f();
      if (v) return v;
      if (performance.now() > end) throw new Error("timed out waiting for " + what);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
})();
`;

/** Writes instrument.js and the scenarios' page into dir (served as the agent's www). */
export function writeTestPage(dir) {
  writeFileSync(join(dir, "instrument.js"), INSTRUMENT);
  writeFileSync(
    join(dir, "widgets.html"),
    `<!doctype html><html lang="en"><meta charset="utf-8"><title>widget scenarios</title>
<script src="/instrument.js"></script>
<script type="module" src="/pkg/agent-preview.js"></script>
<body></body></html>\n`,
  );
}

/** Playwright page → the scenarios' driver. */
export function playwrightDriver(page) {
  return {
    goto: (url) => page.goto(url),
    run: (fn, arg) => page.evaluate(([src, a]) => (0, eval)(`(${src})`)(a), [fn.toString(), arg ?? null]),
    click: (hostId, selector) => page.locator(`#${hostId}`).locator(selector).click(),
  };
}

async function debugSession(agent, id) {
  const { status, body } = await getJson(`${agent.url}/debug/sessions/${id}`);
  assert.equal(status, 200, `debug session ${id}`);
  return body;
}

async function open(b, ctx) {
  await b.goto(`${ctx.agent.url}/widgets.html`);
  await b.run(() => window.__until("the widget to register", () => customElements.get("agent-preview")));
}

const counts = (b) => b.run(() => ({ pcs: window.__openPcs(), tracks: window.__liveTracks(), made: window.__pcs.length }));

/** Waits until no peer connection is open and no microphone track is live. */
const released = (b) =>
  b.run(() => window.__until("every peer connection closed and every track stopped", () => window.__openPcs() === 0 && window.__liveTracks() === 0));

const runner = (ctx) => ({ platform: "pipecat-runner", "base-url": ctx.agent.url });

export const scenarios = [
  {
    name: "a call: connected, bot-ready and the server's message in the log, both meters move, mute reaches the agent, stop frees everything",
    async run(b, ctx) {
      await open(b, ctx);
      await b.run(async (attrs) => void window.__mk("a", attrs), runner(ctx));
      await b.click("a", "#go"); // a user's click: the audio the widget plays is allowed to start
      const r = await b.run(async () => {
        const el = window.__el("a");
        await window.__until("connected", () => el.state !== "connecting");
        return { state: el.state, sessionId: el.connection.sessionId, transport: el.transport };
      });
      assert.deepEqual([r.state, r.transport], ["connected", "webrtc"]);
      await b.run(() =>
        window.__until("bot-ready and the server message in the log", () => {
          const log = window.__shadow("a", "#log").textContent;
          return log.includes("ready") && log.includes("Connected to the agent-rtc local agent");
        }),
      );
      await b.run(() => window.__until("both meters to move", () => window.__shadow("a", "#ml").value > 0.01 && window.__shadow("a", "#bl").value > 0.01));
      assert.equal((await debugSession(ctx.agent, r.sessionId)).peers[0].trackStatus["0"], true, "mic on");
      await b.run(() => window.__shadow("a", "#mute").click());
      await poll("the agent to see the mic muted", async () => {
        const s = await debugSession(ctx.agent, r.sessionId);
        return { ok: s.peers[0]?.trackStatus?.["0"] === false };
      });
      const after = await b.run(async () => {
        const el = window.__el("a");
        await el.stop();
        return { state: el.state, connection: el.connection, pcs: window.__openPcs(), tracks: window.__liveTracks(), events: window.__events };
      });
      assert.deepEqual([after.state, after.connection, after.pcs, after.tracks], ["disconnected", null, 0, 0]);
      const states = after.events.filter((e) => e.type === "statechange").map((e) => e.detail.state);
      assert.deepEqual(states, ["connecting", "connected", "disconnected"]);
      assert.ok(after.events.some((e) => e.type === "botready"), "botready event");
      assert.ok(after.events.some((e) => e.type === "message"), "message events");
      assert.ok(!after.events.some((e) => e.type === "error"), JSON.stringify(after.events.filter((e) => e.type === "error")));
    },
  },
  {
    name: "removing a connected widget disconnects and releases the mic; re-inserting it starts again",
    async run(b, ctx) {
      await open(b, ctx);
      const first = await b.run(async (attrs) => {
        const el = window.__mk("a", attrs);
        await el.start();
        return { sessionId: el.connection.sessionId, ...{ pcs: window.__openPcs(), tracks: window.__liveTracks() } };
      }, runner(ctx));
      assert.deepEqual([first.pcs, first.tracks], [1, 1]);
      await b.run(() => {
        window.__removed = window.__el("a");
        window.__removed.remove();
      });
      await released(b);
      const gone = await b.run(() => ({ state: window.__removed.state, connection: window.__removed.connection }));
      assert.deepEqual(gone, { state: "disconnected", connection: null });
      await poll("the agent to see the peer closed", async () => {
        const s = await debugSession(ctx.agent, first.sessionId);
        return { ok: s.peers.length > 0 && s.peers.every((p) => p.state === "closed"), peers: s.peers.map((p) => p.state) };
      });
      const again = await b.run(async () => {
        const el = window.__removed;
        document.body.append(el);
        await el.start();
        return { state: el.state, sessionId: el.connection.sessionId, pcs: window.__openPcs(), tracks: window.__liveTracks() };
      });
      assert.equal(again.state, "connected");
      assert.notEqual(again.sessionId, first.sessionId, "a new session");
      assert.deepEqual([again.pcs, again.tracks], [1, 1]);
      await b.run(() => window.__removed.remove());
      await released(b);
    },
  },
  {
    name: "removing a widget while it is still connecting releases what the attempt opened",
    async run(b, ctx) {
      await open(b, ctx);
      // The start request never answers, while the microphone and the peer connection are prepared.
      const r = await b.run(async (attrs) => {
        const el = (window.__a = window.__mk("a", attrs));
        // On the element itself: events of a detached element do not reach the document.
        window.__states = [];
        el.addEventListener("statechange", (e) => window.__states.push(e.detail.state));
        window.__started = el.start().then(() => "resolved", (e) => "rejected: " + e.code);
        await window.__until("the microphone to open", () => window.__liveTracks() === 1 && window.__openPcs() === 1);
        const state = el.state;
        el.remove();
        return { state, outcome: await window.__started };
      }, { platform: "pipecat-cloud", "base-url": `${ctx.agent.url}/v1/public`, agent: "fault-start-hang" });
      assert.equal(r.state, "connecting");
      assert.equal(r.outcome, "resolved", "a start that stop() superseded ends quietly");
      await released(b);
      const after = await b.run(() => ({ state: window.__a.state, connection: window.__a.connection, states: window.__states, events: window.__events }));
      assert.deepEqual([after.state, after.connection], ["disconnected", null]);
      assert.ok(!after.events.some((e) => e.type === "error"), "no error for a call the page ended");
      assert.deepEqual(after.states, ["connecting", "disconnected"]);
    },
  },
  {
    name: "two widgets on one page keep separate calls: state, mute and stop of one leave the other alone",
    async run(b, ctx) {
      await open(b, ctx);
      const one = await b.run(async (attrs) => {
        const a = window.__mk("a", attrs);
        const bb = window.__mk("b", attrs);
        await a.start();
        return { a: a.state, b: bb.state, bConn: bb.connection, bLog: window.__shadow("b", "#log").textContent, pcs: window.__openPcs() };
      }, runner(ctx));
      assert.deepEqual(one, { a: "connected", b: "disconnected", bConn: null, bLog: "", pcs: 1 });
      const two = await b.run(async () => {
        await window.__el("b").start();
        return { a: window.__el("a").connection.sessionId, b: window.__el("b").connection.sessionId, pcs: window.__openPcs(), tracks: window.__liveTracks() };
      });
      assert.notEqual(two.a, two.b, "each widget has its own session");
      assert.deepEqual([two.pcs, two.tracks], [2, 2]);
      await b.run(() => window.__shadow("a", "#mute").click());
      await poll("the agent to see a muted and b not", async () => {
        const [sa, sb] = [await debugSession(ctx.agent, two.a), await debugSession(ctx.agent, two.b)];
        return { ok: sa.peers[0]?.trackStatus?.["0"] === false && sb.peers[0]?.trackStatus?.["0"] === true };
      });
      const pressed = await b.run(() => [window.__shadow("a", "#mute").getAttribute("aria-pressed"), window.__shadow("b", "#mute").getAttribute("aria-pressed")]);
      assert.deepEqual(pressed, ["true", "false"]);
      const three = await b.run(async () => {
        await window.__el("a").stop();
        const bt = window.__el("b").connection.localStream.getAudioTracks()[0];
        return { a: window.__el("a").state, b: window.__el("b").state, bTrack: bt.readyState, bEnabled: bt.enabled, pcs: window.__openPcs(), tracks: window.__liveTracks() };
      });
      assert.deepEqual(three, { a: "disconnected", b: "connected", bTrack: "live", bEnabled: true, pcs: 1, tracks: 1 });
      await b.run(() => window.__el("b").stop());
      await released(b);
    },
  },
  {
    name: "a StrictMode-style double mount (connect, disconnect, connect in one tick) ends with exactly one live connection",
    async run(b, ctx) {
      await open(b, ctx);
      // As React 18 StrictMode mounts a custom element: inserted, removed and inserted again.
      const mounted = await b.run(async (attrs) => {
        const el = document.createElement("agent-preview");
        el.id = "a";
        for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
        document.body.append(el);
        el.remove();
        document.body.append(el);
        await window.__until("connected", () => el.state === "connected");
        await window.__quiet(1000); // for a while, no second connection shows up
        return { pcs: window.__openPcs(), tracks: window.__liveTracks(), made: window.__pcs.length };
      }, { ...runner(ctx), "auto-connect": "" });
      assert.deepEqual(mounted, { pcs: 1, tracks: 1, made: 1 });
      await b.run(() => window.__el("a").remove());
      await released(b);

      // An effect that calls start(), its cleanup stop(), and start() again, all synchronously.
      const effect = await b.run(async (attrs) => {
        const el = window.__mk("b", attrs);
        el.start().catch(() => {});
        el.stop();
        const last = el.start();
        await last;
        await window.__quiet(1000); // for a while, no second connection shows up
        return { state: el.state, pcs: window.__openPcs(), tracks: window.__liveTracks() };
      }, runner(ctx));
      assert.deepEqual(effect, { state: "connected", pcs: 1, tracks: 1 });
      await b.run(() => window.__el("b").stop());
      await released(b);

      // Mounted and unmounted in one tick: nothing is started at all.
      const made = await b.run(async (attrs) => {
        const before = window.__pcs.length;
        const el = window.__mk("c", attrs);
        el.remove();
        await window.__quiet(500); // for a while, nothing is started
        return { made: window.__pcs.length - before, state: el.state, tracks: window.__liveTracks() };
      }, { ...runner(ctx), "auto-connect": "" });
      assert.deepEqual(made, { made: 0, state: "disconnected", tracks: 0 });
    },
  },
  {
    name: "an RTVI error from the bot is shown with its data.error text",
    async run(b, ctx) {
      await open(b, ctx);
      const log = await b.run(async (attrs) => {
        const el = window.__mk("a", attrs);
        await el.start();
        const chat = window.__channels.find((c) => c.label === "chat" && c.readyState === "open");
        // What a Pipecat bot sends on an error (the local echo bot never errs): through the real channel's event path.
        const send = (data) => chat.dispatchEvent(new MessageEvent("message", { data: JSON.stringify({ label: "rtvi-ai", type: "error", id: "e1", data }) }));
        send({ error: "LLM quota exceeded", fatal: false });
        send({ error: "pipeline stopped", fatal: true });
        await window.__until("the errors in the log", () => window.__shadow("a", "#log").textContent.includes("pipeline stopped"));
        const lines = [...window.__shadow("a", "#log").querySelectorAll("li")].map((li) => li.textContent);
        await el.stop();
        return lines;
      }, runner(ctx));
      assert.ok(log.includes("ErrorLLM quota exceeded"), JSON.stringify(log));
      assert.ok(log.includes("Error (fatal)pipeline stopped"), JSON.stringify(log));
      await released(b);
    },
  },
  {
    name: "a session with a Daily room opens it in an iframe: the start request, URL and permissions, no token anywhere, stop removes it",
    async run(b, ctx) {
      // The local agent answers a start that asks for a room with one of its own:
      // { dailyRoom: "<agent>/daily/<session id>", dailyToken }, and serves a stand-in page there
      // that counts its loads with the right ?t= token (debug record `daily`).
      const agent = ctx.agent;
      const variants = [
        { attrs: { platform: "pipecat-runner", "base-url": agent.url, "create-daily-room": "" }, asked: { createDailyRoom: true, transport: null } },
        { attrs: { platform: "butter", "base-url": agent.url, agent: "agent_daily", transport: "daily" }, asked: { createDailyRoom: true, transport: "daily" } },
      ];
      const tokens = [];
      for (const [i, { attrs, asked }] of variants.entries()) {
        await open(b, ctx);
        const r = await b.run(async (attrs) => {
          const el = window.__mk("a", attrs);
          await el.start();
          await window.__until("the room's page to load", () => el.state === "connected");
          const frame = el.shadowRoot.querySelector("iframe");
          // Every attribute value in the document and in every open shadow root.
          const values = [];
          const walk = (root) => {
            for (const n of root.querySelectorAll("*")) {
              for (const a of n.attributes) values.push(`${a.name}=${a.value}`);
              if (n.shadowRoot) walk(n.shadowRoot);
            }
          };
          walk(document);
          const seen = {
            state: el.state,
            transport: el.transport,
            room: el.room,
            connection: el.connection,
            allow: frame.getAttribute("allow"),
            src: frame.getAttribute("src"),
            // The room page is on the agent, like this page: its address (with the token) is readable.
            frameUrl: frame.contentWindow.location.href,
            frameText: frame.contentDocument.body.textContent,
            frames: el.shadowRoot.querySelectorAll("iframe").length,
            attributes: values,
            html: document.documentElement.outerHTML + el.shadowRoot.innerHTML,
            text: el.shadowRoot.textContent,
            events: [...window.__events],
            console: [...window.__console],
            pcs: window.__pcs.length,
            tracks: window.__tracks.length,
          };
          await el.stop();
          seen.afterStop = { state: el.state, frames: el.shadowRoot.querySelectorAll("iframe").length, room: el.room, transport: el.transport };
          return seen;
        }, attrs);
        const m = /^(.*\/daily\/([^/?#]+))$/.exec(r.room ?? "");
        assert.ok(m && m[1].startsWith(`${agent.url}/daily/`), `the room is on the agent: ${r.room}`);
        const sessionId = m[2];
        const frameUrl = new URL(r.frameUrl);
        const token = frameUrl.searchParams.get("t");
        assert.ok(token && token.length >= 32, `the frame's address carries the token: ${r.frameUrl}`);
        assert.equal(r.frameUrl, `${r.room}?t=${token}`, "the frame loads {dailyRoom}?t={dailyToken}");
        assert.equal(r.frameText.trim(), `Daily room stand-in: ${sessionId}`);
        tokens.push(token);
        // What the agent saw: the start asked for a room, and the page was loaded with the room's token.
        const d = await debugSession(agent, sessionId);
        assert.deepEqual(
          { createDailyRoom: d.daily.createDailyRoom, transport: d.daily.transport, room: d.daily.room, pageLoads: d.daily.pageLoads },
          { ...asked, room: r.room, pageLoads: 1 },
          `variant ${i}`,
        );
        assert.deepEqual(d.peers, [], "no offer");
        assert.deepEqual(
          { state: r.state, transport: r.transport, connection: r.connection, frames: r.frames },
          { state: "connected", transport: "daily", connection: null, frames: 1 },
        );
        assert.equal(r.allow, "microphone; camera; autoplay; display-capture");
        assert.equal(r.src, null, "the frame has no src attribute");
        const everywhere = JSON.stringify([r.attributes, r.html, r.text, r.events, r.console]);
        assert.ok(!everywhere.includes(token), "the token is in no attribute, markup, text, event or console line");
        assert.deepEqual([r.pcs, r.tracks], [0, 0], "no WebRTC connection and no microphone of its own");
        assert.deepEqual(
          r.events.filter((e) => e.type === "statechange").map((e) => e.detail.state),
          ["connecting", "connected"],
        );
        assert.deepEqual(r.afterStop, { state: "disconnected", frames: 0, room: null, transport: null });
      }
      assert.notEqual(tokens[0], tokens[1], "each start has its own token");
    },
  },
  {
    name: "a session with neither a Daily room nor an offer path fails with an error in words",
    async run(b, ctx) {
      // The fake start server (harness.mjs startFakeRoomServer) stays for this case only: the local
      // agent answers every start that asks for a room (createDailyRoom / transport "daily") with
      // one, so it cannot produce an answer with neither a room nor an offer path.
      const fake = ctx.room;
      fake.answerWithRoom(false);
      try {
        const seenBefore = fake.seen.length;
        await open(b, ctx);
        const tryStart = (attrs) =>
          b.run(async ([id, attrs]) => {
            const el = window.__mk(id, attrs);
            const outcome = await el.start().then(() => "resolved", (e) => ({ code: e.code, message: e.message, reason: e.details?.reason }));
            return { outcome, state: el.state, shown: window.__shadow(id, "#err").textContent, frames: el.shadowRoot.querySelectorAll("iframe").length };
          }, attrs);
        const daily = await tryStart(["a", { platform: "pipecat-runner", "base-url": fake.url, transport: "daily" }]);
        assert.deepEqual(daily.outcome, { code: "bad_response", message: 'The session has no Daily room (transport="daily").', reason: "no-room" });
        assert.deepEqual([daily.state, daily.frames], ["failed", 0]);
        assert.equal(daily.shown, 'The session has no Daily room (transport="daily").');
        const body = JSON.parse(fake.seen.slice(seenBefore).find((q) => q.method === "POST").body);
        assert.deepEqual([body.transport, body.createDailyRoom], ["daily", true]);

        // A start URL with no /start segment gives no offer URL either.
        const neither = await tryStart(["b", { "start-url": `${fake.url}/begin`, "create-daily-room": "" }]);
        assert.equal(neither.outcome.reason, "no-transport");
        assert.equal(neither.shown, "The session has neither a Daily room nor a WebRTC offer URL.");
        assert.deepEqual([neither.state, neither.frames], ["failed", 0]);
        const events = await b.run(() => window.__events.filter((e) => e.type === "error").map((e) => [e.id, e.detail.code]));
        assert.deepEqual(events, [["a", "bad_response"], ["b", "bad_response"]]);
        assert.deepEqual(await counts(b), { pcs: 0, tracks: 0, made: 0 });
      } finally {
        fake.answerWithRoom(true);
      }
    },
  },
];
