// The demo page: a settings form driving <agent-preview>, a text box with the function calls it
// leads to, a connection timeline and a stats panel.
import "/pkg/agent-preview.js";
import init from "/pkg/agent_rtc.js";

// Load the wasm module now (the widget shares it), so the timeline measures the call, not the download.
const wasmReady = init();

const $ = (id) => document.getElementById(id);
const form = $("form");
const preview = $("preview");
form.elements["base-url"].value = location.origin;

/** Copies the form onto the widget's attributes and body; runs on every edit, so start() sees it. */
function apply() {
  for (const name of ["platform", "transport", "base-url", "agent", "api-key"]) {
    const v = form.elements[name].value.trim();
    if (v) preview.setAttribute(name, v);
    else preview.removeAttribute(name);
  }
  const err = $("form-error");
  const text = form.elements.body.value.trim();
  try {
    preview.body = text ? JSON.parse(text) : undefined;
    err.hidden = true;
  } catch (e) {
    err.textContent = `Body is not JSON: ${e.message}`;
    err.hidden = false;
  }
}
form.addEventListener("input", apply);
form.addEventListener("submit", (e) => e.preventDefault());
apply();
wasmReady.catch((e) => {
  $("form-error").textContent = `Cannot load the SDK: ${e}`;
  $("form-error").hidden = false;
});

// ---- timeline: each step with its time in ms since start was clicked ----
let t0 = 0;
let conn = null;
const seen = new Set();
let offers = 0;

function step(text, at = performance.now()) {
  const li = document.createElement("li");
  const ms = document.createElement("span");
  ms.className = "ms";
  ms.textContent = `${Math.round(at - t0)} ms`;
  const what = document.createElement("span");
  what.textContent = text;
  li.append(ms, what);
  li.dataset.at = at - t0;
  // Steps recorded after the fact (from resource timing) go in order.
  const list = $("timeline");
  const after = [...list.children].find((x) => Number(x.dataset.at) > at - t0);
  list.insertBefore(li, after || null);
}

const STEPS = {
  sessionStarted: "session started (start answered)",
  offerSent: "offer sent",
  answerReceived: "answer received",
  iceConnected: "ICE connected",
  channelOpen: "data channel open",
  remoteTrack: "remote track",
  botReady: "bot-ready",
  connected: "connected",
};

/** The start and offer requests, from the browser's resource timing. */
function requestSteps() {
  for (const e of performance.getEntriesByType("resource")) {
    if (e.startTime < t0 || seen.has(e) || e.initiatorType !== "fetch") continue;
    const path = new URL(e.name).pathname;
    const offer = /\/offer$/.test(path);
    // The first offer request is the POST with the SDP; later ones PATCH trickled candidates.
    const what = /\/start$/.test(path) ? "session started (start answered)" : offer && !offers++ ? "answer received (offer answered)" : offer ? "ICE candidates sent (PATCH answered)" : null;
    if (!what) continue;
    seen.add(e);
    step(`${what}: ${path}`, e.responseEnd);
  }
}

preview.addEventListener("statechange", (e) => {
  const { state } = e.detail;
  if (state === "connecting" && !conn) {
    t0 = performance.now();
    $("timeline").replaceChildren();
    seen.clear();
    offers = 0;
    step("start clicked");
  }
  step(`state: ${state}`);
  if (state === "connected" && preview.connection && preview.connection !== conn) {
    conn = preview.connection;
    // SDK builds that expose per-step timings (ms since the connect call, which follows the click
    // closely since the wasm module is already loaded) give the detail; otherwise the browser's
    // resource timing of the start and offer requests does.
    const timings = conn.timings;
    if (timings) for (const [k, v] of Object.entries(timings)) step(STEPS[k] || k, t0 + v);
    else requestSteps();
    // Tracks that arrived before connect resolved are replayed as events a task later: list them
    // once, here; later tracks (a renegotiation) come as events.
    const known = new Set(conn.remoteStream.getTracks().map((tr) => tr.id));
    if (!timings) for (const tr of conn.remoteStream.getTracks()) step(`remote ${tr.kind} track (before connect resolved)`);
    conn.on("track", ({ track }) => known.has(track.id) || step(`track: ${track.kind}`));
    conn.on("disconnected", (reason) => step(`disconnected: ${reason}`));
    talkTo(conn);
  }
  if (state === "disconnected" || state === "failed") {
    if (!conn) requestSteps(); // a failed start: how far its requests got
    conn = null;
  }
  $("text").disabled = $("send").disabled = state !== "connected";
  $("ui-name").disabled = $("ui-go").disabled = state !== "connected";
});
preview.addEventListener("uiagent", (e) => {
  step("the agent sees this page");
  e.detail.on("command", (c) => step(`ui-command ${c.command}${c.ok ? "" : ` refused (${c.reason})`}`));
});
preview.addEventListener("botready", (e) => step(`bot-ready event (version ${e.detail?.version ?? "?"})`));
preview.addEventListener("error", (e) => step(`error: ${e.detail?.code ?? ""} ${e.detail?.message ?? e.detail}`));

// ---- text to the bot, and the function calls it leads to ----
function callLine(who, what) {
  const li = document.createElement("li");
  const b = document.createElement("b");
  b.textContent = who;
  li.append(b, what); // bot data only ever as text
  $("calls").append(li);
  while ($("calls").childElementCount > 50) $("calls").firstElementChild.remove();
}

/** The page's side of a call: the handler the bot's function calls run, and the bot's report. */
function talkTo(c) {
  $("calls").replaceChildren();
  // A stand-in for a real weather lookup: what the handler returns goes back to the bot.
  c.registerFunctionCallHandler("get_weather", (args, { functionName, toolCallId }) => {
    callLine("call", `${functionName}(${JSON.stringify(args)}) [${toolCallId}]`);
    const result = { location: args.location, conditions: "sunny", temperatureC: 21 };
    callLine("page returned", JSON.stringify(result));
    return result;
  });
  c.on("servermessage", (m) => {
    if (m?.type === "function-result") callLine("bot reported", `${m.function_name} → ${JSON.stringify(m.result)} [${m.tool_call_id}]`);
  });
}

$("talk").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  const err = $("talk-error");
  err.hidden = true;
  if (!text || !conn) return;
  try {
    conn.sendText(text);
    callLine("you sent", text);
  } catch (x) {
    err.textContent = `Cannot send: ${x.message}`;
    err.hidden = false;
  }
});

// ---- the UI agent: the bot finds an element by name in the page's snapshot and clicks it ----
let rings = 0;
$("bell").addEventListener("click", () => ($("rung").textContent = `rung ${++rings} time${rings > 1 ? "s" : ""}`));
$("ui-ask").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("ui-error");
  err.hidden = true;
  if (!conn) return;
  try {
    const r = await conn.sendClientRequest("ui-demo", { name: $("ui-name").value.trim(), click: true });
    step(`the bot acted on ${r.ref}`);
  } catch (x) {
    err.textContent = x.message;
    err.hidden = false;
  }
});

// ---- stats, every second; bitrates from two samples ----
let last = null;
const show = (k, v) => (document.querySelector(`#stats [data-k="${k}"]`).textContent = v);
const kbps = (bytes, prev, ms) => (prev == null || bytes == null || ms <= 0 ? "–" : `${(((bytes - prev) * 8) / ms).toFixed(1)} kbit/s`);

setInterval(async () => {
  const c = preview.connection;
  if (!c || c.state !== "connected") {
    last = null;
    return;
  }
  let s;
  try {
    s = await c.getStats();
  } catch {
    return;
  }
  const now = s.timestamp ?? performance.now();
  show("rtt", s.rttMs == null ? "–" : `${s.rttMs.toFixed(1)} ms`);
  show("jitter", s.jitterMs == null ? "–" : `${s.jitterMs.toFixed(1)} ms`);
  const got = s.packetsReceived ?? 0;
  const lost = s.packetsLost ?? 0;
  show("loss", got + lost ? `${((100 * lost) / (got + lost)).toFixed(2)} % (${lost} of ${got + lost})` : "–");
  show("in", kbps(s.bytesReceived, last?.bytesReceived, now - (last?.t ?? now)));
  show("out", kbps(s.bytesSent, last?.bytesSent, now - (last?.t ?? now)));
  show("pair", s.candidatePairType ?? "–");
  show("session", c.sessionId ?? "–");
  last = { t: now, bytesReceived: s.bytesReceived, bytesSent: s.bytesSent };
}, 1000);
