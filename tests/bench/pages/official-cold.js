// Cold start of the official client as a page ships it: bundled and minified by esbuild
// (official-cold.bundle.js), WavMediaManager (its default DailyMediaManager loads daily-js from the
// internet, which this machine has not), the microphone opened by the client itself. Runs on load;
// every time is performance.now(), i.e. ms since the navigation started.
import { PipecatClient } from "@pipecat-ai/client-js";
import { SmallWebRTCTransport, WavMediaManager } from "@pipecat-ai/small-webrtc-transport";

const t = { scriptStart: performance.now() };
try {
  let botReady;
  const ready = new Promise((r) => (botReady = r));
  const client = new PipecatClient({
    transport: new SmallWebRTCTransport({ mediaManager: new WavMediaManager() }),
    enableMic: true,
    enableCam: false,
    callbacks: { onBotReady: () => botReady() },
  });
  await Promise.all([client.startBotAndConnect({ endpoint: `${location.origin}/start` }), ready]);
  t.botReady = performance.now();
  window.__cold = { t, disconnect: () => client.disconnect() };
} catch (e) {
  window.__coldError = String((e && e.message) || e);
}
