// Benchmark: agent-rtc against the official @pipecat-ai/client-js + small-webrtc-transport, side by
// side on this machine, against the same local agent over loopback, in the same headless Chromium.
// Prints measured numbers (no pass/fail): the time from the connect call to each step (median,
// p90 over RUNS runs after WARMUP), peer connections left open afterwards, and the gzip -9 size of
// what a page loads for each client.
//
// Run: make bench   (RUNS=20 make bench for more runs)

import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { ROOT, bundleClient, launchChromium, startAgent, workDir } from "../e2e/harness.mjs";

const RUNS = Number(process.env.RUNS || 15);
const WARMUP = 2;

const OURS_PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
import init, { startAndConnect, startSession, connectWebRtc } from "/pkg/agent_rtc.js";
await init();
const pcs = [];
const Orig = RTCPeerConnection;
window.RTCPeerConnection = class extends Orig { constructor(...a) { super(...a); pcs.push(this); } };
window.openPcs = () => pcs.filter((p) => p.connectionState !== "closed").length;
window.runOurs = async (base, mode) => {
  const audio = document.createElement("audio");
  audio.autoplay = true;
  const t0 = performance.now();
  let conn;
  let started;
  if (mode === "sequential") {
    const session = await startSession({ platform: "pipecat-runner", baseUrl: base });
    started = performance.now() - t0;
    conn = await connectWebRtc({ session });
  } else {
    conn = await startAndConnect({ platform: "pipecat-runner", baseUrl: base });
  }
  const total = performance.now() - t0;
  const t = conn.timings;
  audio.srcObject = conn.remoteStream;
  await conn.disconnect();
  audio.srcObject = null;
  return { ...t, total, started };
};
window.pageReady = true;
</script>`;

function gz(buf) {
  return gzipSync(buf, { level: 9 }).length;
}

function stats(values) {
  const v = values.filter((x) => typeof x === "number").sort((a, b) => a - b);
  if (!v.length) return { median: NaN, p90: NaN, n: 0 };
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  return { median: v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2, p90: q(0.9), n: v.length };
}

async function officialSize(dir) {
  const esbuild = await import("esbuild");
  const out = join(dir, "official.min.js");
  await esbuild.build({
    stdin: {
      contents: `export { PipecatClient } from "@pipecat-ai/client-js";
                 export { SmallWebRTCTransport, WavMediaManager } from "@pipecat-ai/small-webrtc-transport";`,
      resolveDir: ROOT,
      loader: "js",
    },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    outfile: out,
    logLevel: "error",
  });
  return gz(readFileSync(out));
}

const dir = workDir("bench");
await bundleClient(dir);
writeFileSync(join(dir, "ours.html"), OURS_PAGE);
// Every run starts a session that lingers until its expiry: room for all of them.
const agent = await startAgent(["--www", dir, "--pkg", join(ROOT, "pkg"), "--max-sessions", "1000"]);
const browser = await launchChromium();
try {
  // One client's page at a time: the official client's media manager keeps working in its page
  // after a disconnect, which would slow every run measured beside it.
  const results = { ours: [], sequential: [], official: [], oursSlow: [], sequentialSlow: [] };
  // A start that takes 100 ms, as a cloud start API does: what overlapping buys there.
  const slowBase = `${agent.url}/?fault=delay-start-100`;
  const ours = await browser.newPage();
  await ours.goto(`${agent.url}/ours.html`);
  await ours.waitForFunction(() => window.pageReady === true, null, { timeout: 15000 });
  const pause = () => new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < RUNS + WARMUP; i++) {
    // Alternated, so drift on the machine affects both alike; a pause lets the server free the
    // previous peer first.
    for (const mode of i % 2 ? ["sequential", "ours"] : ["ours", "sequential"]) {
      await pause();
      const r = await ours.evaluate(([b, m]) => window.runOurs(b, m), [agent.url, mode === "ours" ? "together" : "sequential"]);
      if (i >= WARMUP) results[mode].push(r);
    }
  }
  for (let i = 0; i < RUNS + WARMUP; i++) {
    for (const mode of i % 2 ? ["sequentialSlow", "oursSlow"] : ["oursSlow", "sequentialSlow"]) {
      await pause();
      const r = await ours.evaluate(([b, m]) => window.runOurs(b, m), [slowBase, mode === "oursSlow" ? "together" : "sequential"]);
      if (i >= WARMUP) results[mode].push(r);
    }
  }
  const leftOpen = await ours.evaluate(() => window.openPcs());
  await ours.close();
  const official = await browser.newPage();
  await official.goto(`${agent.url}/index.html`);
  await official.waitForFunction(() => window.pageReady === true, null, { timeout: 15000 });
  for (let i = 0; i < RUNS + WARMUP; i++) {
    await pause();
    const o = await official.evaluate((e) => window.runClient({ endpoint: e, sampleMs: 0 }), `${agent.url}/start`);
    if (o.errors.length) throw new Error(`official client failed: ${o.errors.join("; ")}`);
    if (i >= WARMUP) results.official.push(o);
  }
  await official.close();

  const row = (name, values) => {
    const s = stats(values);
    return `  ${name.padEnd(44)} median ${s.median.toFixed(1).padStart(7)} ms   p90 ${s.p90.toFixed(1).padStart(7)} ms   (n=${s.n})`;
  };
  const pick = (list, key) => list.map((r) => r[key]);
  const wasm = readFileSync(join(ROOT, "pkg/agent_rtc_bg.wasm"));
  const glue = readFileSync(join(ROOT, "pkg/agent_rtc.js"));
  const oursGz = gz(wasm) + gz(glue);
  const officialGz = await officialSize(dir);
  const esbuild = await import("esbuild");
  const glueMin = (await esbuild.transform(glue.toString(), { minify: true, format: "esm", loader: "js" })).code;

  console.log(`agent-rtc connect benchmark: ${RUNS} runs (+${WARMUP} warm-up) each, local agent over loopback, headless Chromium`);
  console.log("agent-rtc startAndConnect(), ms from the call:");
  for (const k of ["sessionStarted", "offerSent", "answerReceived", "iceConnected", "channelOpen", "botReady", "total"]) {
    console.log(row(k, pick(results.ours, k)));
  }
  console.log("agent-rtc startSession() then connectWebRtc(), ms from the first call:");
  console.log(row("startSession resolved", pick(results.sequential, "started")));
  for (const k of ["offerSent", "answerReceived", "iceConnected", "channelOpen", "botReady"]) {
    console.log(row(`${k} (+ start)`, results.sequential.map((r) => r[k] + r.started)));
  }
  console.log(row("total", pick(results.sequential, "total")));
  console.log("with a start API that takes 100 ms (the agent's delay-start-100 fault), botReady:");
  console.log(row("startAndConnect()", pick(results.oursSlow, "total")));
  console.log(row("startSession() then connectWebRtc()", pick(results.sequentialSlow, "total")));
  console.log("official client startBotAndConnect(), ms from the call:");
  console.log(row("botReady", pick(results.official, "botReadyMs")));
  console.log(`peer connections left open by agent-rtc after ${4 * (RUNS + WARMUP)} connects: ${leftOpen}`);
  console.log("size a page loads (gzip -9):");
  console.log(`  agent-rtc: ${oursGz} bytes (wasm ${gz(wasm)} of ${wasm.length} raw + JS glue ${gz(glue)} of ${glue.length} raw)`);
  console.log(`  agent-rtc with its JS glue minified as a bundler would: ${gz(wasm) + gz(Buffer.from(glueMin))} bytes`);
  console.log(`  official client + small-webrtc-transport, esbuild --minify: ${officialGz} bytes`);
} finally {
  await browser.close();
  await agent.stop();
}
