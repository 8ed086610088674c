// One call of the official @pipecat-ai/client-js + small-webrtc-transport for the blackout bench
// (bundled by esbuild into blackout-official.bundle.js): the transport's WavMediaManager (its
// default media manager loads code from the internet), the bot played in an <audio> that follows
// onTrackStarted as the compat test does, every callback that could tell an app about a drop
// logged, and the transport's current peer connection (its `pc` field) sampled.
import { PipecatClient } from "@pipecat-ai/client-js";
import { SmallWebRTCTransport, WavMediaManager } from "@pipecat-ai/small-webrtc-transport";

const B = window.__blackout;
let client = null;
let transport = null;

// What the official client can tell an app about a connection in trouble, and what follows.
const WATCHED = [
  "onTransportStateChanged",
  "onConnected",
  "onDisconnected",
  "onBotConnected",
  "onBotDisconnected",
  "onBotReady",
  "onParticipantLeft",
  "onTrackStopped",
  "onError",
  "onMessageError",
  "onServerMessage",
];

window.startCall = async ({ endpoint, tag }) => {
  const audio = document.createElement("audio");
  audio.autoplay = true;
  document.body.appendChild(audio);
  let botReady;
  const ready = new Promise((r) => (botReady = r));
  const callbacks = Object.fromEntries(WATCHED.map((name) => [name, (data) => B.event("official", name, summarise(name, data))]));
  callbacks.onBotReady = (data) => {
    B.event("official", "onBotReady", data);
    botReady();
  };
  callbacks.onTrackStarted = (track, participant) => {
    if (track.kind !== "audio" || (participant && participant.local)) return;
    B.event("official", "onTrackStarted", { kind: track.kind });
    audio.srcObject = new MediaStream([track]);
    audio.play().catch((e) => B.event("official", "play-failed", e.message));
  };
  transport = new SmallWebRTCTransport({ mediaManager: new WavMediaManager() });
  client = new PipecatClient({ transport, enableMic: true, enableCam: false, callbacks });
  await Promise.all([client.startBotAndConnect({ endpoint, headers: new Headers({ "x-test-tag": tag }) }), ready]);
  B.startSampler(() => transport && transport.pc);
  return { state: client.state };
};

function summarise(name, data) {
  if (name === "onTrackStopped") return { kind: data?.kind };
  if (name === "onError") return data?.data ?? String(data);
  return data;
}

window.hangUp = async () => {
  B.stopSampler();
  if (client) await client.disconnect().catch(() => {});
};
window.pageReady = true;
