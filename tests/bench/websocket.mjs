// Benchmark of the WebSocket transport (issue 23's numbers), against the real Pipecat runner
// (tests/interop/bot.py, echo bot, `--host localhost --ws-auth token`), in headless Chromium,
// loopback only. Prints measured numbers, never pass/fail; writes them to
// test-output/bench-websocket.json:
//
//   1. connect: ms from the call to bot-ready, per round, for agent-rtc over a WebSocket (W),
//      the floor (F: a hand-written minimal WebSocket + AudioWorklet client,
//      tests/bench/pages/ws-bench.js) and agent-rtc over WebRTC (R), same runner, rounds rotating.
//   2. mouth-to-ear: a 10 ms click put into the microphone track (an oscillator the page gates)
//      until it is heard in the call's remote stream through the echo bot, per transport.
//
// The official @pipecat-ai/websocket-transport is not run: it imports daily-js for its media
// (DailyMediaManager), whose code is fetched from Daily's servers at runtime, and nothing here
// reaches outside loopback.
//
// Run: make bench (after make pkg), or BENCH_RUNNER=.venv-pipecat/bin/python node tests/bench/websocket.mjs
// Knobs: WS_RUNS (connect rounds, 20), EAR_CALLS (calls per client for mouth-to-ear, 4).

import { copyFileSync, cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { OUT, ROOT, launchChromium, rmSync, serveStatic, workDir } from "../e2e/harness.mjs";
import { startRunner } from "./runner.mjs";

const RUNNER_PY = resolve(ROOT, process.env.BENCH_RUNNER || ".venv-pipecat/bin/python");
const RUNS = Number(process.env.WS_RUNS || 20);
const EAR_CALLS = Number(process.env.EAR_CALLS || 4);
const WARMUP = 3;

const sorted = (v) => v.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
const median = (v) => {
  const s = sorted(v);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (v, p) => {
  const s = sorted(v);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] : NaN;
};
const cell = (v) => `${median(v).toFixed(1)} (${pct(v, 0.9).toFixed(1)})`.padStart(16);

const dir = workDir("bench-websocket");
mkdirSync(join(dir, "pkg"), { recursive: true });
cpSync(join(ROOT, "pkg"), join(dir, "pkg"), { recursive: true });
copyFileSync(join(ROOT, "tests/bench/pages/ws-bench.js"), join(dir, "ws-bench.js"));
writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><title>ws bench</title><script type="module" src="/ws-bench.js"></script>`);
const server = await serveStatic(dir);
const runner = await startRunner(RUNNER_PY, { host: "localhost", args: ["--ws-auth", "token"] });
const browser = await launchChromium();
const startedAt = performance.now();
const lines = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};
let failed = false;
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 30000 });
  const clients = {
    W: (mouth) => page.evaluate((a) => window.ours(a), { baseUrl: runner.url, transport: "websocket", mouth }),
    F: (mouth) => page.evaluate((a) => window.floor(a), { baseUrl: runner.url, mouth }),
    R: (mouth) => page.evaluate((a) => window.ours(a), { baseUrl: runner.url, transport: "webrtc", mouth }),
  };
  const names = Object.keys(clients);
  const ready = { W: [], F: [], R: [] };
  for (let round = -WARMUP; round < RUNS; round++) {
    // Rotating order: no client always goes first.
    const order = names.map((_, i) => names[(i + Math.max(0, round)) % names.length]);
    for (const k of order) {
      const r = await clients[k](false);
      if (round >= 0) ready[k].push(r.ready);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  const ratios = ready.W.map((w, i) => w / ready.F[i]);
  const wr = ready.W.map((w, i) => w / ready.R[i]);
  say(`agent-rtc WebSocket benchmark: the real Pipecat runner (pipecat-ai 1.14, --ws-auth token), headless Chromium, loopback`);
  say(`1. Connect, ms from the call to bot-ready, ${RUNS} rounds (+${WARMUP}), m (p90); the caller's track as microphone.`);
  say(`   W agent-rtc startAndConnect over a WebSocket   ${cell(ready.W)}`);
  say(`   F the floor (minimal WebSocket client)         ${cell(ready.F)}`);
  say(`   R agent-rtc startAndConnect over WebRTC        ${cell(ready.R)}`);
  say(`   per-round ratio W/F ${median(ratios).toFixed(2)} (p90 ${pct(ratios, 0.9).toFixed(2)}), W/R ${median(wr).toFixed(2)} (p90 ${pct(wr, 0.9).toFixed(2)})`);
  const ears = { W: [], F: [], R: [] };
  let underruns = 0;
  for (let call = 0; call < EAR_CALLS; call++) {
    for (const k of names) {
      const r = await clients[k](true);
      ears[k].push(...r.ears);
      if (k === "W") underruns += r.underruns || 0;
    }
  }
  const miss = (k) => ears[k].filter((x) => x === null).length;
  say(`2. Mouth-to-ear through the echo bot, ms from a 10 ms click into the microphone until heard in the remote stream,`);
  say(`   ${EAR_CALLS} calls × 5 clicks per client, m (p90); missed clicks in brackets.`);
  say(`   W agent-rtc over a WebSocket (jitter buffer)    ${cell(ears.W)} [${miss("W")}]`);
  say(`   F the floor (plays on arrival)                   ${cell(ears.F)} [${miss("F")}]`);
  say(`   R agent-rtc over WebRTC                          ${cell(ears.R)} [${miss("R")}]`);
  say(`   W − F: ${(median(ears.W) - median(ears.F)).toFixed(1)} ms (goal: within 10 ms); W's playback underruns over its calls: ${underruns}`);
  say(`benchmark took ${((performance.now() - startedAt) / 1000).toFixed(0)} s; every number is in test-output/bench-websocket.json`);
  writeFileSync(
    join(OUT, "bench-websocket.json"),
    JSON.stringify({ runner: "pipecat-ai 1.14 development runner", runs: RUNS, ready, ears, printed: lines }, null, 1) + "\n",
  );
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
  await runner.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
if (failed) process.exit(1);
