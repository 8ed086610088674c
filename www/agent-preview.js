// <agent-preview>: talk to a voice agent from any page. No framework; built on the agent-rtc SDK.
// Importing this module registers the element; the wasm module loads on the first start().
//
//   <script type="module" src="/pkg/agent-preview.js"></script>
//   <agent-preview platform="pipecat-cloud" base-url="https://api.pipecat.daily.co/v1/public"
//                  agent="my-agent" api-key="pk_..."></agent-preview>
//
// Attributes: platform, base-url, start-url, agent, api-key, offer-url, transport ("webrtc" |
// "websocket" | "auto" | "daily"), create-daily-room, auto-connect, video. Types and the full table: agent-preview.d.ts.
// Properties: body (JSON for the bot), apiKey (instead of the attribute, kept out of the DOM),
// state, connection, transport, room; methods start(), stop() (promises).
// Shows the conversation (the transcript of both sides, the bot's messages and errors: text only,
// the last 50 lines, an aria-live log), who is speaking, and pickers for the microphone and (where
// the browser can choose one) the speaker; a switch keeps the call.
// Events (bubbling, composed): statechange {state}, botready, message, transcript {role, text,
// final, timestamp?}, speaking {role, speaking}, error (the AgentRtcError).
// Theme with --ap-fg, --ap-bg, --ap-border, --ap-accent, --ap-accent-fg, --ap-error, --ap-muted,
// --ap-log-bg, --ap-radius, --ap-font.
//
// A session that comes back with a Daily room (Butter's preview flow asks for one with
// `createDailyRoom`) is joined in an <iframe> of the room: the element loads no Daily SDK.

import init, { startAndConnect, startSession, connectWebRtc, listDevices } from "./agent_rtc.js";

let wasm;
const boot = () => (wasm ||= init());

/** What the room's page may use: the same as Daily's own embed asks for. */
const ROOM_ALLOW = "microphone; camera; autoplay; display-capture";
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

const CSS = `:host{display:block;font:var(--ap-font,14px/1.4 system-ui,sans-serif);color:var(--ap-fg,#1b1b1f);
background:var(--ap-bg,#fff);border:1px solid var(--ap-border,#c9c9d2);border-radius:var(--ap-radius,8px);padding:12px;max-width:30rem}
.r{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:0 0 8px}
button,select{font:inherit;color:inherit;background:transparent;border:1px solid var(--ap-border,#c9c9d2);border-radius:6px;padding:4px 10px}
button{cursor:pointer}#go{background:var(--ap-accent,#2f6fed);color:var(--ap-accent-fg,#fff);border-color:transparent;min-width:5rem}
button:focus-visible,select:focus-visible{outline:2px solid var(--ap-accent,#2f6fed);outline-offset:2px}
button:disabled,select:disabled{opacity:.5;cursor:default}
[aria-pressed=true]{background:var(--ap-error,#b3261e);color:#fff}
#st{font-weight:600}#st::before{content:"\\25CF ";color:var(--ap-muted,#888)}
:host([data-state=connected]) #st::before{color:#1e8e3e}:host([data-state=failed]) #st::before{color:var(--ap-error,#b3261e)}
meter{width:7rem;height:.8rem}.e{color:var(--ap-error,#b3261e);margin:0 0 8px}
ol{list-style:none;margin:0;padding:4px 6px;height:7.5rem;overflow:auto;font-size:12px;background:var(--ap-log-bg,#f4f4f7);border-radius:4px}
li b{font-weight:600;margin-right:4px}li.i{opacity:.7;font-style:italic}#who{color:var(--ap-accent,#2f6fed)}video{width:100%;border-radius:4px}
#room iframe{display:block;width:100%;height:24rem;border:0;border-radius:4px;margin:0 0 8px}[hidden]{display:none!important}`;

// The element's markup, built node by node: no HTML string is parsed, so a page that requires
// Trusted Types (`require-trusted-types-for 'script'`) takes it. [tag, attributes, ...children].
const VIEW = [
  ["div", "class=r", ["button", "id=go type=button part=button", "Start"], ["span", "id=st role=status", "disconnected"], ["span", "id=who"]],
  ["div", "id=media",
    ["div", "class=r", ["label", "for=mic", "Microphone"], ["select", "id=mic", ["option", "value=", "Default"]],
      ["button", "id=mute type=button aria-pressed=false disabled", "Mute"]],
    ["div", "class=r id=sink hidden", ["label", "for=out", "Speaker"], ["select", "id=out", ["option", "value=", "Default"]]],
    ["div", "class=r", ["label", "for=ml", "Mic"], ["meter", "id=ml min=0 max=1 value=0"], ["label", "for=bl", "Bot"], ["meter", "id=bl min=0 max=1 value=0"]]],
  ["div", "class=r", ["button", "id=see type=button aria-pressed=false", "Let the agent see this page"]],
  ["p", "id=blk class=r role=alert hidden", "The browser blocked audio playback. ", ["button", "id=res type=button", "Play audio"]],
  ["p", "id=err class=e role=alert hidden"],
  ["div", "id=room hidden"],
  ["video", "id=vid autoplay playsinline muted hidden"],
  ["ol", "id=log role=log aria-label=Conversation aria-live=polite"],
  ["audio", "id=au autoplay"],
];

function build(parent, [tag, attrs, ...children]) {
  const el = parent.appendChild(document.createElement(tag));
  for (const a of attrs.split(" ")) {
    const [k, v = ""] = a.split("=");
    el.setAttribute(k, v);
  }
  for (const c of children) typeof c == "string" ? el.append(c) : build(el, c);
}

// The styles as a constructed stylesheet: a page whose CSP is `style-src 'self'` refuses a
// `<style>` element in the shadow root, not this. (A browser without constructable stylesheets
// gets the `<style>` element.)
let sheet;
function style(root) {
  if (globalThis.CSSStyleSheet && "adoptedStyleSheets" in root) {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
    }
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(document.createElement("style")).textContent = CSS;
  }
}

const PHASE = {
  start: "starting the session",
  media: "opening the microphone",
  offer: "sending the offer",
  ice: "connecting the network path",
  channel: "opening the data channel",
  "bot-ready": "waiting for the bot",
};

/** The error in words; server text is only ever put into textContent. */
export function describeError(e) {
  const d = (e && e.details) || {};
  const where = PHASE[d.phase] ? ` while ${PHASE[d.phase]}` : "";
  const said = [d.error, d.detail, d.code].find((v) => typeof v == "string");
  switch (e && e.code) {
    case "http":
      return `The server answered HTTP ${e.status}${where}${said ? `: ${said}` : "."}`;
    case "timeout":
      return `Timed out${where}.`;
    case "media":
      return `The microphone could not be opened (${d.name || "unavailable"}).`;
    case "ice_failed":
      return "The network connection to the agent failed.";
    case "invalid_options":
      return `Check the settings: ${e.message}`;
    case "bad_response":
      return d.reason ? e.message : `The server sent an unexpected answer${where}.`;
    case "signalling":
      return `The agent ended the call${where}.`;
    default:
      return (e && e.message) || String(e);
  }
}

/** A start answer the element cannot use, in the shape of the SDK's errors. */
function sessionError(message, reason) {
  const e = new Error(message);
  e.name = "AgentRtcError";
  e.code = "bad_response";
  e.retryable = false;
  e.details = { phase: "start", reason };
  return e;
}

/** `{dailyRoom}?t={dailyToken}`, refusing anything but https (plain http only on loopback). */
function roomUrl(room, token) {
  let url;
  try {
    url = new URL(room);
  } catch {
    throw sessionError("The session's Daily room is not a URL.", "room-url");
  }
  if (url.protocol != "https:" && !(url.protocol == "http:" && LOOPBACK.test(url.hostname))) {
    throw sessionError("The session's Daily room is not an https URL.", "room-url");
  }
  if (token) url.searchParams.set("t", token);
  return url.href;
}

// Without a DOM (a server build, Node) the module still imports: the class extends nothing that
// needs one, and nothing is registered; a browser registers the element when it loads the module.
const Base = globalThis.HTMLElement ?? class {};

class AgentPreview extends Base {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    style(root);
    for (const v of VIEW) build(root, v);
    this.$ = (id) => root.getElementById(id);
    this.body = undefined;
    this._key = undefined;
    this._state = "disconnected";
    // The call in progress (connecting or live), or null: everything it holds hangs off it, so a
    // stop() or a newer start() can tell an attempt it has been superseded.
    this._call = null;
    this._muted = false;
    this.$("go").onclick = () => (this._call ? this.stop() : this.start()).catch(() => {});
    // The UI agent (RTVI 2.2): off until the user turns it on (or the see-page attribute).
    this.$("see").onclick = () => this._see(!this._seeing);
    this.$("mute").onclick = () => this._mute(!this._muted);
    this.$("mic").onchange = () => this._switch(this.$("mic").value);
    this.$("out").onchange = () => this._sink(this.$("out").value);
    this.$("res").onclick = () => this._play();
    // Only browsers that can choose the output device (setSinkId) get a speaker picker.
    this.$("sink").hidden = !("setSinkId" in HTMLMediaElement.prototype);
  }

  get state() {
    return this._state;
  }

  get connection() {
    return this._call?.conn ?? null;
  }

  /** "webrtc", "websocket" or "daily" once the call has a transport, else null. */
  get transport() {
    return this._call?.kind ?? null;
  }

  /** Sets the `transport` attribute (what the next call uses): frameworks that set props as
   * properties (React 19) must not throw on the read-only value above. */
  set transport(v) {
    this.setAttribute("transport", String(v));
  }

  /** The Daily room being shown (without its token), else null. */
  get room() {
    return this._call?.room ?? null;
  }

  /** The API key, as a property: unlike the `api-key` attribute it never appears in the DOM. */
  set apiKey(v) {
    this._key = v == null ? undefined : String(v);
  }

  get apiKey() {
    return this._key;
  }

  connectedCallback() {
    this._devices().catch(() => {});
    // Checked when the microtask runs: a mount undone in the same tick starts nothing.
    if (this.hasAttribute("auto-connect")) queueMicrotask(() => this.isConnected && !this._call && this.start().catch(() => {}));
  }

  disconnectedCallback() {
    // A move within the document reconnects in the same task: only a real removal frees everything.
    queueMicrotask(() => this.isConnected || this.stop().catch(() => {}));
  }

  async start() {
    if (this._call) return;
    // pend: each role's interim transcript line; talk: who is speaking.
    const call = (this._call = { ac: new AbortController(), offs: [], kind: null, conn: null, room: null, pend: {}, talk: {} });
    const attr = (n) => this.getAttribute(n) || undefined;
    // "auto" (the default): WebRTC where it connects, else Pipecat's WebSocket transport (audio
    // only); "webrtc" or "websocket" only that one; "daily" a Daily room.
    const transport = attr("transport") || "auto";
    const daily = transport == "daily";
    const socket = transport == "websocket";
    const auto = transport == "auto";
    const askRoom = daily || this.hasAttribute("create-daily-room");
    const dev = this.$("mic").value;
    const start = {
      platform: attr("platform"),
      baseUrl: attr("base-url"),
      startUrl: attr("start-url"),
      agent: attr("agent"),
      apiKey: this._key ?? attr("api-key"),
      offerUrl: attr("offer-url"),
      body: this.body,
      signal: call.ac.signal,
    };
    // How startAndConnect carries the call (a start that asks for a room says "daily" or nothing).
    const via = socket ? { transport: "websocket" } : auto ? { transport: "auto" } : {};
    const media = {
      audio: dev ? { deviceId: { exact: dev } } : true,
      video: this.hasAttribute("video") && !socket,
      signal: call.ac.signal,
    };
    for (const o of [start, media]) for (const k in o) if (o[k] === undefined) delete o[k];
    this.$("err").hidden = true;
    this.$("log").replaceChildren();
    // Made inside the click, so the browser lets it (and the <audio>) play. A Daily room plays
    // its own audio.
    if (!daily) call.ctx = new AudioContext();
    this._set("connecting");
    try {
      await boot();
      if (this._call != call) return;
      if (!askRoom) return this._wire(call, await startAndConnect({ ...start, ...media, ...via }));
      const s = await startSession({ ...start, createDailyRoom: true, ...(daily ? { transport: "daily" } : {}) });
      if (this._call != call) return;
      if (s.dailyRoom) {
        const { dailyRoom, dailyToken } = s;
        s.free(); // the token is not kept anywhere but in the frame's address
        return this._room(call, dailyRoom, dailyToken);
      }
      if (daily) throw sessionError('The session has no Daily room (transport="daily").', "no-room");
      if (!s.offerUrl) throw sessionError("The session has neither a Daily room nor a WebRTC offer URL.", "no-transport");
      this._wire(call, await connectWebRtc({ session: s, ...media }));
    } catch (e) {
      if (this._call != call) return; // stop() (or a removal) ended this attempt
      this._call = null;
      this._free(call);
      this._set("failed");
      this._fail(e);
      throw e;
    }
  }

  async stop() {
    const call = this._call;
    this._call = null;
    if (call) {
      call.ac.abort();
      this._free(call);
      if (call.conn) await call.conn.disconnect();
    }
    if (!this._call) this._set("disconnected"); // unless a new start() began meanwhile
  }

  _wire(call, c) {
    if (this._call != call) {
      // stop() came after the SDK had already resolved: this connection is nobody's.
      c.disconnect();
      return;
    }
    call.kind = c.transport;
    call.conn = c;
    const on = (ev, f) => call.offs.push(c.on(ev, f));
    // Events from before the connect resolved are replayed a task later: show the state as it is now.
    on("statechange", () => this._set(c.state));
    on("message", (m) => this._emit("message", m));
    on("transcript", (t) => {
      this._said(call, t);
      this._emit("transcript", t);
    });
    on("speaking", (s) => {
      this._speaking(call, s);
      this._emit("speaking", s);
    });
    on("servermessage", (d) => this._line("Server", typeof d?.text == "string" ? d.text : JSON.stringify(d)));
    on("boterror", (e) => this._line(e.fatal ? "Error (fatal)" : "Error", e.message || "(no details)"));
    on("botready", (d) => {
      this._line("Bot", "ready");
      this._emit("botready", d);
    });
    on("error", (e) => this._fail(e));
    on("track", (e) => this._media(call, e.track));
    on("reconnecting", (r) => this._line("Call", `Reconnecting (attempt ${r.attempt})`));
    on("reconnected", (r) => this._line("Call", `Reconnected after ${(r.downMs / 1000).toFixed(1)} s`));
    on("devicechange", (l) => this._devices(l));
    on("disconnected", (r) => {
      if (this._call != call) return;
      this._call = null;
      this._line("Call", `ended (${r})`);
      this._free(call);
      this._set(c.state == "failed" ? "failed" : "disconnected");
    });
    this._set(c.state);
    // The SDK plays the bot in the element's own <audio> (so setSpeaker and resumeAudio act on it).
    c.attachAudio(this.$("au"))
      .then(() => this._blocked(call, false), (e) => this._blocked(call, e.details?.name == "NotAllowedError"))
      .then(() => this._out && this._sink(this._out)); // a speaker picked before the call
    this._media(call, c.remoteStream.getAudioTracks()[0]);
    this._see(this._seeing ?? this.hasAttribute("see-page"));
    this._micMeter(call);
    this._devices().catch(() => {});
    call.tick = setInterval(() => this._levels(call), 100);
  }

  /**
   * Lets the bot see the page and act on it, or stops it: agent-rtc-ui.js, loaded the first time
   * (a page that never turns it on never fetches it), on the live call; the element itself is
   * left out of what the bot sees and may touch.
   */
  _see(on) {
    this._seeing = on;
    this.$("see").setAttribute("aria-pressed", String(on));
    const call = this._call;
    if (!on || !call?.conn) {
      call?.ui?.disable?.();
      if (call) call.ui = null;
      return;
    }
    if (call.ui) return;
    const pending = (call.ui = import("./agent-rtc-ui.js").then(({ enableUiAgent }) => {
      if (this._call != call || call.ui != pending) return; // stopped or turned off meanwhile
      const ui = (call.ui = enableUiAgent(call.conn, { root: document.body, exclude: [this] }));
      ui.on("command", (c) => this._line("Agent", `${c.command}${c.ok ? "" : ` refused (${c.reason})`}`));
      ui.on("error", (e) => e.details?.reason || this._fail(e));
      this._emit("uiagent", ui);
    }, (e) => this._fail(e)));
  }

  /** Shows the session's Daily room in a frame; the token goes only into the frame's address. */
  _room(call, room, token) {
    const href = roomUrl(room, token);
    call.kind = "daily";
    call.room = room;
    call.ctx?.close().catch(() => {}); // the room plays its own audio
    call.ctx = null;
    const f = document.createElement("iframe");
    f.allow = ROOM_ALLOW;
    f.title = "Agent call";
    f.setAttribute("part", "room");
    this.$("media").hidden = true;
    const box = this.$("room");
    box.replaceChildren(f);
    box.hidden = false;
    call.frame = f;
    const loaded = () => {
      // The frame's first document is its own about:blank; the room is another origin.
      let blank;
      try {
        blank = f.contentWindow.location.href == "about:blank";
      } catch {
        blank = false;
      }
      if (blank || this._call != call) return;
      this._line("Call", "Daily room opened");
      this._set("connected");
    };
    f.addEventListener("load", loaded);
    call.offs.push(() => f.removeEventListener("load", loaded));
    // Navigated rather than given a src, so the token never becomes an attribute.
    f.contentWindow.location.replace(href);
  }

  /** The bot's video, and its level meter on its newest audio track (a reconnect brings a new one). */
  _media(call, track) {
    const rs = call.conn.remoteStream;
    if (this.hasAttribute("video")) {
      this.$("vid").srcObject = rs;
      this.$("vid").hidden = !rs.getVideoTracks().length;
    }
    if (track?.kind == "audio") {
      call.bot?.s.disconnect();
      call.bot = this._analyser(call, new MediaStream([track]));
    }
  }

  /** The mic meter, on the track being sent (again after a switch). */
  _micMeter(call) {
    const t = call.conn.localStream.getAudioTracks()[0];
    call.micA?.s.disconnect();
    call.micA = t && this._analyser(call, new MediaStream([t]));
  }

  _analyser(call, stream) {
    const s = call.ctx.createMediaStreamSource(stream);
    const a = call.ctx.createAnalyser();
    a.fftSize = 1024;
    s.connect(a);
    return { s, a, buf: new Float32Array(a.fftSize) };
  }

  _levels(call) {
    for (const [m, id] of [[call.micA, "ml"], [call.bot, "bl"]]) {
      let v = 0;
      if (m) {
        m.a.getFloatTimeDomainData(m.buf);
        for (const x of m.buf) v += x * x;
        v = Math.min(1, Math.sqrt(v / m.buf.length) * 4);
      }
      const el = this.$(id);
      el.value = Math.max(v, el.value * 0.8); // falls back slowly, so short sounds stay visible
    }
  }

  /** The audio-blocked notice: shown while playback (`refused`, when known) or the meters' audio graph is held. */
  _blocked(call, refused = call.refused) {
    call.refused = refused;
    if (this._call == call) this.$("blk").hidden = !refused && call.ctx?.state != "suspended";
  }

  /** The notice's button (a user gesture): resumes the audio graph and the bot's playback. */
  _play() {
    const call = this._call;
    if (!call?.conn) return;
    call.ctx?.resume().then(() => this._blocked(call), () => {});
    call.conn.resumeAudio().then(
      () => this._blocked(call, false),
      (e) => this._blocked(call, e.details?.name == "NotAllowedError"),
    );
  }

  _mute(m) {
    const c = this._call?.conn;
    if (!c) return;
    c.setMicEnabled(!m); // the SDK disables the track it sends (also after a switch) and tells the bot
    this._muted = m;
    this.$("mute").setAttribute("aria-pressed", m);
    this.$("mute").textContent = m ? "Unmute" : "Mute";
  }

  /**
   * Fills both pickers from `l` (the connection's devicechange list), else from `listDevices()`;
   * before the first start() the wasm module is not loaded yet: then from the browser's own list.
   */
  async _devices(l) {
    if (!l) {
      const all = wasm ? null : await navigator.mediaDevices.enumerateDevices();
      const kind = (k) => all.filter((d) => d.kind == k);
      l = all ? { audioinput: kind("audioinput"), audiooutput: kind("audiooutput") } : await wasm.then(() => listDevices());
    }
    this._fill("mic", l.audioinput, this._call?.conn?.localStream.getAudioTracks()[0]?.getSettings().deviceId, "Microphone");
    this._fill("out", l.audiooutput, this.$("au").sinkId, "Speaker");
  }

  _fill(id, devices, cur, name) {
    const sel = this.$(id);
    const all = devices.filter((d) => d.deviceId);
    if (!all.length) return;
    cur ||= sel.value;
    sel.replaceChildren(
      ...all.map((d, i) => {
        const opt = new Option(d.label || `${name} ${i + 1}`, d.deviceId);
        opt.selected = d.deviceId == cur;
        return opt;
      }),
    );
  }

  /** Another microphone without reconnecting (`setMicrophone`); a failure keeps the call and the old one. */
  async _switch(id) {
    const call = this._call;
    const c = call?.conn;
    if (!c || !id) return; // before a call, the choice is what start() opens
    try {
      await c.setMicrophone(id);
    } catch (e) {
      if (this._call != call) return;
      this._fail(e);
      return this._devices().catch(() => {}); // shows the microphone still in use
    }
    if (this._call != call) return;
    this.$("err").hidden = true;
    this._micMeter(call);
    this._line("Microphone", c.localStream.getAudioTracks()[0]?.label || "changed");
  }

  /** The bot's voice to another output device (`setSpeaker`); a failure keeps the call. */
  async _sink(id) {
    const call = this._call;
    const c = call?.conn;
    this._out = id; // before a call: set once it is attached
    if (!c) return;
    try {
      await c.setSpeaker(id);
    } catch (e) {
      if (this._call != call) return;
      this._fail(e, `The speaker could not be changed (${e.details?.name || "unavailable"}).`);
      return this._devices().catch(() => {});
    }
    if (this._call != call) return;
    this.$("err").hidden = true;
    this._line("Speaker", this.$("out").selectedOptions[0]?.text || "changed");
  }

  /** A transcript line: interim text is shown in place (hidden from screen readers), a final line replaces it. */
  _said(call, { role, text, final }) {
    const who = role == "user" ? "You" : "Bot";
    let li = call.pend[role];
    if (final) {
      li?.remove();
      call.pend[role] = null;
      if (role == "bot") call.botSaid = true;
      return this._line(who, text, role);
    }
    li ||= call.pend[role] = this._line(who, "", `${role} i`, true);
    // A user's interim text is the whole guess so far; a bot streams its words (bot-tts-text).
    const t = li.lastChild;
    t.data = role == "bot" && t.data ? `${t.data} ${text}` : text;
  }

  _speaking(call, { role, speaking }) {
    call.talk[role] = speaking;
    if (role == "bot") {
      // A bot that only streamed its words (no final line this turn): the words become the line.
      const li = call.pend.bot;
      if (speaking) call.botSaid = false;
      else if (li) {
        li.remove();
        call.pend.bot = null;
        if (!call.botSaid) this._line("Bot", li.lastChild.data, "bot");
      }
    }
    this._who(call.talk);
  }

  _who(t) {
    this.$("who").textContent = ["", "You are speaking", "The bot is speaking", "You and the bot are speaking"][!!t.user + 2 * !!t.bot];
  }

  /** One line of the log, as text only; the last 50 are kept. An interim line is not announced. */
  _line(who, what, cls, interim) {
    const log = this.$("log");
    const li = document.createElement("li");
    const b = document.createElement("b");
    b.textContent = who;
    li.append(b, String(what));
    if (cls) li.className = cls;
    if (interim) li.setAttribute("aria-hidden", "true");
    log.append(li);
    while (log.childElementCount > 50) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
    return li;
  }

  _fail(e, said) {
    const p = this.$("err");
    p.textContent = said || describeError(e);
    p.hidden = false;
    this._emit("error", e);
  }

  _set(s) {
    if (s == this._state) return;
    this._state = s;
    this.dataset.state = s;
    this.$("st").textContent = s;
    const live = s == "connecting" || s == "connected" || s == "reconnecting";
    this.$("go").textContent = live ? "Stop" : "Start";
    this.$("mute").disabled = s != "connected" || this._call?.kind == "daily";
    this._emit("statechange", { state: s });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** Frees what a call holds: listeners, timer, audio graph, tracks it opened, the room's frame. */
  _free(call) {
    call.ui?.disable?.();
    call.ui = null;
    call.offs.forEach((f) => f());
    call.offs = [];
    clearInterval(call.tick);
    call.ctx?.close().catch(() => {});
    call.ctx = call.bot = call.micA = null;
    call.frame?.remove();
    call.frame = null;
    this.$("room").hidden = true;
    this.$("media").hidden = false;
    this.$("au").srcObject = this.$("vid").srcObject = null;
    this.$("blk").hidden = true;
    this.$("ml").value = this.$("bl").value = 0;
    this._who({});
    if (this._muted) {
      this._muted = false;
      this.$("mute").setAttribute("aria-pressed", false);
      this.$("mute").textContent = "Mute";
    }
  }
}

const registry = globalThis.customElements;
if (registry && !registry.get("agent-preview")) registry.define("agent-preview", AgentPreview);
export { AgentPreview };
