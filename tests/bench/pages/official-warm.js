// Client A of the step benchmark: the official @pipecat-ai/client-js + small-webrtc-transport
// (bundled by esbuild into official-warm.bundle.js). The caller's microphone track is handed in
// through the transport's documented extension point, a MediaManager, so that no getUserMedia and
// no audio-processing graph is on the clock (the same as agent-rtc's `audio: track` and the floor).
import { PipecatClient } from "@pipecat-ai/client-js";
import { SmallWebRTCTransport, WavMediaManager } from "@pipecat-ai/small-webrtc-transport";

// WavMediaManager is the only media manager the package exports that works offline; its recorder
// and player are only built by initialize()/connect(), which are replaced here.
class TrackMediaManager extends WavMediaManager {
  constructor(track) {
    super();
    this.track = track;
  }
  async initialize() {}
  async connect() {}
  async disconnect() {}
  tracks() {
    return { local: this.track ? { audio: this.track } : {} };
  }
  async enableMic(enable) {
    this._micEnabled = enable;
    if (this.track) this.track.enabled = enable;
  }
  getAllMics() {
    return Promise.resolve([]);
  }
  async updateMic() {}
  get selectedMic() {
    return {};
  }
}

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);

const mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];

// `timeoutMs`: how long to wait for bot-ready (20 s by default). `outcome: true` (the UDP-blocked
// bench) resolves with what happened instead of throwing: when the client first said it had
// failed (an error callback, a rejected connect, or the transport's state turning to error or
// disconnected), in ms from the call, or null if it had said nothing by `timeoutMs`.
window.runClient = async ({ endpoint, timeoutMs = 20000, outcome = false }) => {
  const track = mic.clone();
  let botReady;
  const ready = new Promise((r) => (botReady = r));
  const errors = [];
  const states = [];
  let saidFailed = null;
  let over = false;
  const t0 = performance.now();
  const failed = (what) => {
    if (over) return; // our own disconnect() below, not a failure
    errors.push(what);
    saidFailed ??= performance.now() - t0;
  };
  const client = new PipecatClient({
    transport: new SmallWebRTCTransport({ mediaManager: new TrackMediaManager(track) }),
    enableMic: true,
    enableCam: false,
    callbacks: {
      onBotReady: () => botReady(),
      onError: (e) => failed(String(e && e.data ? JSON.stringify(e.data) : e)),
      onTransportStateChanged: (state) => {
        states.push([state, Math.round(performance.now() - t0)]);
        if (state === "error" || state === "disconnected") failed(`transport state ${state}`);
      },
    },
  });
  const run = window.__bench.begin();
  try {
    await withTimeout(Promise.all([client.startBotAndConnect({ endpoint }), ready]), timeoutMs, "bot-ready");
    run.ready = performance.now() - run.t0;
  } catch (e) {
    if (!/^timed out/.test(e.message)) failed(e.message);
    else errors.push(e.message);
  } finally {
    window.__bench.end();
    over = true;
    await client.disconnect().catch(() => {});
    track.stop();
  }
  if (outcome) return { ready: run.ready ?? null, saidFailedAfterMs: saidFailed, errors, states };
  if (errors.length) throw new Error(`official client: ${errors.join("; ")}`);
  return run;
};
window.pageReady = true;
