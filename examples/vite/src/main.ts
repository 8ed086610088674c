// The SDK and the widget from the npm package, as an app imports them.
import init, { startAndConnect, isAgentRtcError, type Connection } from "agent-rtc";
import "agent-rtc/agent-preview"; // registers <agent-preview> (kept by bundlers: see sideEffects)

// The agent to talk to: `make demo`'s local agent unless ?agent= says otherwise; the call goes
// over WebRTC unless ?transport=websocket. ?worklet= is where the build put agent-rtc-audio.js
// when its bundler does not follow `new URL(…, import.meta.url)` (esbuild: see the README).
const query = new URLSearchParams(location.search);
const agentUrl = query.get("agent") ?? "http://127.0.0.1:7860";
const transport = query.get("transport") === "websocket" ? "websocket" : "webrtc";
const workletUrl = query.get("worklet") ?? undefined;

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};
const state = byId<HTMLOutputElement>("state");
const button = byId<HTMLButtonElement>("connect");
const audio = byId<HTMLAudioElement>("bot");
byId("agent").textContent = agentUrl;

// --- the SDK: one connection, started and ended by the button ---
let conn: Connection | null = null;
const ready = init(); // loads the .wasm (the bundler emits it as an asset)

button.addEventListener("click", async () => {
  button.disabled = true;
  try {
    if (conn) {
      await conn.disconnect();
      conn = null;
      audio.srcObject = null;
      state.value = "disconnected";
      button.textContent = "Connect";
      return;
    }
    state.value = "connecting";
    await ready;
    const c = await startAndConnect({ platform: "pipecat-runner", baseUrl: agentUrl, transport, workletUrl });
    conn = c;
    audio.srcObject = c.remoteStream; // the bot's voice
    c.on("statechange", () => (state.value = c.state));
    c.on("disconnected", () => {
      if (conn === c) conn = null;
      button.textContent = "Connect";
    });
    state.value = c.state;
    button.textContent = "Disconnect";
  } catch (e) {
    state.value = isAgentRtcError(e) ? `failed: ${e.code}` : `failed: ${String(e)}`;
  } finally {
    button.disabled = false;
  }
});

// --- the widget: typed through HTMLElementTagNameMap ---
const widget = document.querySelector("agent-preview");
if (widget) {
  widget.setAttribute("base-url", agentUrl);
  const shown = byId<HTMLOutputElement>("widget-state");
  widget.addEventListener("statechange", (e) => (shown.value = e.detail.state));
  widget.addEventListener("error", (e) => (shown.value = `failed: ${e.detail.code}`));
}
