// <agent-preview>: talk to a voice agent from any page. No framework; built on the agent-rtc SDK.
// Importing this module registers the element; the wasm module loads on the first start().
//
//   <script type="module" src="/pkg/agent-preview.js"></script>
//   <agent-preview platform="pipecat-cloud" base-url="https://api.pipecat.daily.co/v1/public"
//                  agent="my-agent" api-key="pk_..."></agent-preview>
//
// Attributes: platform, base-url, agent, api-key, offer-url, auto-connect, video.
// Properties: body (JSON for the bot), state, connection; methods start(), stop() (promises).
// Events (bubbling, composed): statechange {state}, botready, message, error (the AgentRtcError).
// Theme with --ap-fg, --ap-bg, --ap-border, --ap-accent, --ap-accent-fg, --ap-error, --ap-muted,
// --ap-log-bg, --ap-radius, --ap-font.

import init, { startAndConnect } from "./agent_rtc.js";

let wasm;
const boot = () => (wasm ||= init());

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
li b{font-weight:600;margin-right:4px}video{width:100%;border-radius:4px}[hidden]{display:none!important}`;

const HTML = `<style>${CSS}</style>
<div class=r><button id=go type=button part=button>Start</button><span id=st role=status>disconnected</span></div>
<div class=r><label for=mic>Microphone</label><select id=mic><option value="">Default</option></select>
<button id=mute type=button aria-pressed=false disabled>Mute</button></div>
<div class=r><label for=ml>Mic</label><meter id=ml min=0 max=1 value=0></meter>
<label for=bl>Bot</label><meter id=bl min=0 max=1 value=0></meter></div>
<p id=blk class=r role=alert hidden>The browser blocked audio playback. <button id=res type=button>Play audio</button></p>
<p id=err class=e role=alert hidden></p>
<video id=vid autoplay playsinline muted hidden></video>
<ol id=log aria-label="Agent events" aria-live=polite></ol><audio id=au autoplay></audio>`;

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
      return `The server sent an unexpected answer${where}.`;
    case "signalling":
      return `The agent ended the call${where}.`;
    default:
      return (e && e.message) || String(e);
  }
}

class AgentPreview extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = HTML; // static markup only
    this.$ = (id) => root.getElementById(id);
    this.body = undefined;
    this._state = "disconnected";
    this._conn = null;
    this._abort = null;
    this._offs = [];
    this._muted = false;
    this.$("go").onclick = () => (this._abort || this._conn ? this.stop() : this.start()).catch(() => {});
    this.$("mute").onclick = () => this._mute(!this._muted);
    this.$("mic").onchange = () => this._switch(this.$("mic").value).catch((e) => this._fail(e));
    this.$("res").onclick = () => this._play(true);
  }

  get state() {
    return this._state;
  }

  get connection() {
    return this._conn;
  }

  connectedCallback() {
    this._devices().catch(() => {});
    if (this.hasAttribute("auto-connect") && this._state == "disconnected") queueMicrotask(() => this.start().catch(() => {}));
  }

  disconnectedCallback() {
    // A move within the document reconnects in the same task: only a real removal frees everything.
    queueMicrotask(() => this.isConnected || this.stop());
  }

  async start() {
    if (this._abort || this._conn) return;
    const ac = (this._abort = new AbortController());
    const attr = (n) => this.getAttribute(n) || undefined;
    const dev = this.$("mic").value;
    const o = {
      platform: attr("platform"),
      baseUrl: attr("base-url"),
      agent: attr("agent"),
      apiKey: attr("api-key"),
      offerUrl: attr("offer-url"),
      body: this.body,
      audio: dev ? { deviceId: { exact: dev } } : true,
      video: this.hasAttribute("video"),
      signal: ac.signal,
    };
    for (const k in o) if (o[k] === undefined) delete o[k];
    this.$("err").hidden = true;
    this.$("log").replaceChildren();
    // Made inside the click, so the browser lets it (and the <audio>) play.
    this._ctx = new AudioContext();
    this._set("connecting");
    let c;
    try {
      await boot();
      c = await startAndConnect(o);
    } catch (e) {
      if (this._abort != ac) return; // stop() ended this attempt
      this._abort = null;
      this._free();
      this._set("failed");
      this._fail(e);
      throw e;
    }
    this._abort = null;
    this._conn = c;
    this._wire(c);
  }

  async stop() {
    this._abort?.abort();
    this._abort = null;
    const c = this._conn;
    this._conn = null;
    this._free();
    if (c) await c.disconnect();
    this._set("disconnected");
  }

  _wire(c) {
    const on = (ev, f) => this._offs.push(c.on(ev, f));
    // Events from before the connect resolved are replayed a task later: show the state as it is now.
    on("statechange", () => this._set(c.state));
    on("message", (m) => this._emit("message", m));
    on("rtvi", (m) => this._rtvi(m));
    on("botready", (d) => {
      this._line("Bot", "ready");
      this._emit("botready", d);
    });
    on("error", (e) => this._fail(e));
    on("track", () => this._media(c));
    on("disconnected", (r) => {
      if (this._conn != c) return;
      this._conn = null;
      this._line("Call", `ended (${r})`);
      this._free();
      this._set(c.state == "failed" ? "failed" : "disconnected");
    });
    const md = navigator.mediaDevices;
    const list = () => this._devices();
    md.addEventListener("devicechange", list);
    this._offs.push(() => md.removeEventListener("devicechange", list));
    this._mic = c.localStream.getAudioTracks()[0];
    this._set(c.state);
    this._media(c);
    list();
    this._tick = setInterval(() => this._levels(), 100);
  }

  /** Plays the bot (audio element owned here) and (re)builds both level meters. */
  _media(c) {
    const ctx = this._ctx;
    const rs = c.remoteStream;
    const au = this.$("au");
    if (au.srcObject != rs) au.srcObject = rs;
    if (this.hasAttribute("video")) {
      this.$("vid").srcObject = rs;
      this.$("vid").hidden = !rs.getVideoTracks().length;
    }
    this._play();
    if (!this._bot && rs.getAudioTracks().length) this._bot = this._analyser(rs);
    this._micMeter();
  }

  _micMeter() {
    this._micA?.s.disconnect();
    this._micA = this._mic && this._analyser(new MediaStream([this._mic]));
  }

  _analyser(stream) {
    const s = this._ctx.createMediaStreamSource(stream);
    const a = this._ctx.createAnalyser();
    a.fftSize = 1024;
    s.connect(a);
    return { s, a, buf: new Float32Array(a.fftSize) };
  }

  _levels() {
    for (const [m, id] of [[this._micA, "ml"], [this._bot, "bl"]]) {
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

  _play(click) {
    const ctx = this._ctx;
    const blk = this.$("blk");
    const shown = (ok) => (blk.hidden = ok && ctx?.state != "suspended");
    if (click) ctx?.resume().then(() => shown(true), () => {});
    this.$("au").play().then(
      () => shown(true),
      (e) => e.name == "NotAllowedError" && shown(false),
    );
  }

  _mute(m) {
    const c = this._conn;
    if (!c) return;
    c.setMicEnabled(!m);
    if (this._mic) this._mic.enabled = !m;
    this._muted = m;
    this.$("mute").setAttribute("aria-pressed", m);
    this.$("mute").textContent = m ? "Unmute" : "Mute";
  }

  async _devices() {
    const sel = this.$("mic");
    const all = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind == "audioinput" && d.deviceId);
    const cur = this._mic?.getSettings().deviceId;
    if (!all.length) return;
    sel.replaceChildren(
      ...all.map((d, i) => {
        const opt = new Option(d.label || `Microphone ${i + 1}`, d.deviceId);
        opt.selected = d.deviceId == cur;
        return opt;
      }),
    );
  }

  /** Another microphone without reconnecting: the sender's track is replaced in place. */
  async _switch(id) {
    const c = this._conn;
    if (!c) return;
    const s = await navigator.mediaDevices.getUserMedia({ audio: id ? { deviceId: { exact: id } } : true });
    const t = s.getAudioTracks()[0];
    if (this._conn != c) return t.stop();
    const tr = c.peerConnection.getTransceivers().find((x) => x.receiver.track.kind == "audio");
    await tr.sender.replaceTrack(t);
    t.enabled = !this._muted;
    const old = this._mic;
    if (old) {
      c.localStream.removeTrack(old);
      old.stop(); // the old device is no longer sent: release it (the SDK stops its own twice, harmlessly)
    }
    c.localStream.addTrack(t);
    this._mic = this._own = t;
    this._micMeter();
    this._line("Microphone", t.label || "changed");
  }

  _rtvi(m) {
    const d = m.data || {};
    const t = m.type;
    const text = typeof d.text == "string" ? d.text : "";
    if (t == "user-started-speaking") this._line("You", "speaking…");
    else if (t == "bot-started-speaking") this._line("Bot", "speaking…");
    else if (t == "user-transcription") d.final !== false && this._line("You", text);
    else if (t == "bot-transcription" || t == "bot-tts-text" || t == "bot-output") this._line("Bot", text);
    else if (t == "server-message" || t == "server-response") this._line("Server", text || JSON.stringify(m.data));
    else if (t == "error") this._line("Error", d.message || JSON.stringify(d));
  }

  _line(who, what) {
    const log = this.$("log");
    const li = document.createElement("li");
    const b = document.createElement("b");
    b.textContent = who;
    li.append(b, String(what));
    log.append(li);
    while (log.childElementCount > 50) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  _fail(e) {
    const p = this.$("err");
    p.textContent = describeError(e);
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
    this.$("mute").disabled = s != "connected";
    this._emit("statechange", { state: s });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** Frees what this element holds for a call: listeners, timer, audio graph, tracks it opened. */
  _free() {
    this._offs.forEach((f) => f());
    this._offs = [];
    clearInterval(this._tick);
    this._ctx?.close().catch(() => {});
    this._ctx = this._bot = this._micA = this._mic = null;
    this._own?.stop();
    this._own = null;
    this.$("au").srcObject = this.$("vid").srcObject = null;
    this.$("blk").hidden = true;
    this.$("ml").value = this.$("bl").value = 0;
    if (this._muted) {
      this._muted = false;
      this.$("mute").setAttribute("aria-pressed", false);
      this.$("mute").textContent = "Mute";
    }
  }
}

if (!customElements.get("agent-preview")) customElements.define("agent-preview", AgentPreview);
export { AgentPreview };
