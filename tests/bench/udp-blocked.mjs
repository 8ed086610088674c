// `transport: "auto"` where UDP is blocked: the browser and both servers (the local agent and the
// real Pipecat runner) in a private network namespace (`unshare --net`), and with AUTO_BLOCK=1
// nftables dropping every UDP packet (TCP left alone), as on a network that blocks UDP. For each
// server, one auto call: which transport carried it, the `fallback` events, the time from the
// call to its resolution, and whether the echo of the microphone came back. Writes the report to
// test-output/$AUTO_OUT (tests/interop/auto.test.mjs asserts on it; make bench prints it).
//
// Env: AUTO_BLOCK (1: drop UDP), AUTO_BROWSER (chromium | firefox), AUTO_OUT, AGENT_BIN,
// AUTO_RUNNER (python of .venv-pipecat; without it only the local agent).

import { execFileSync } from "node:child_process";
import { inNamespace } from "./netns.mjs";
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const NS_FLAG = "AGENT_RTC_AUTO_NS";
const OUT_FILE = process.env.AUTO_OUT || "auto-udp.json";

await inNamespace(SELF, NS_FLAG, async (reason) => {
  const { OUT } = await import("../e2e/harness.mjs");
  writeFileSync(join(OUT, OUT_FILE), JSON.stringify({ skipped: reason }) + "\n");
});

const { OUT, ROOT, launchChromium, rmSync, startAgent, workDir } = await import("../e2e/harness.mjs");
const { startRunner } = await import("./runner.mjs");
const BLOCK = process.env.AUTO_BLOCK === "1";
const BROWSER = process.env.AUTO_BROWSER || "chromium";
const RUNNER_PY = process.env.AUTO_RUNNER || "";
// The bench: with UDP blocked, how long the official client takes to say it cannot connect
// (Chromium; AUTO_OFFICIAL_MS bounds the wait); with UDP open, AUTO_ROUNDS calls of auto and of
// transport "webrtc" in turn (is auto any slower where WebRTC works?).
const OFFICIAL = process.env.AUTO_OFFICIAL === "1" && BLOCK && BROWSER === "chromium";
const OFFICIAL_MS = Number(process.env.AUTO_OFFICIAL_MS || 120000);
const ROUNDS = BLOCK ? 0 : Number(process.env.AUTO_ROUNDS || 0);

const ip = (...args) => execFileSync("ip", args, { encoding: "utf8" });
for (const k of ["all", "default", "lo"]) {
  const f = `/proc/sys/net/ipv6/conf/${k}/disable_ipv6`;
  if (existsSync(f)) writeFileSync(f, "1");
}
ip("link", "set", "lo", "up");
// An interface with an address and a default route: browsers gather host candidates on it (Firefox
// gathers none without a default route).
ip("link", "add", "auto0", "type", "veth", "peer", "name", "auto1");
ip("addr", "add", "192.0.2.1/24", "dev", "auto0");
ip("link", "set", "auto1", "up");
ip("link", "set", "auto0", "up");
ip("route", "add", "default", "via", "192.0.2.254", "dev", "auto0");
if (BLOCK) {
  execFileSync("nft", ["-f", "-"], {
    input: "table inet agent_rtc_auto {\n  chain out {\n    type filter hook output priority 0;\n    meta l4proto udp drop\n  }\n}\n",
  });
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>auto</title>
<script>
  // Every peer connection the page makes (before the SDK loads: its glue keeps the constructor).
  const Native = window.RTCPeerConnection;
  const pcs = (window.__pcs = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...a) {
      super(...a);
      pcs.push(this);
    }
  };
  window.openPcs = () => pcs.filter((pc) => pc.connectionState !== "closed" && pc.signalingState !== "closed").length;
  // The microphone requests of a call (auto asks once, whichever transport carries the call), and
  // the tracks they opened, to see them all stopped at the end.
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.micRequests = 0;
  const opened = (window.__tracks = []);
  navigator.mediaDevices.getUserMedia = async (c) => {
    window.micRequests++;
    const s = await gum(c);
    opened.push(...s.getTracks());
    return s;
  };
  window.liveTracks = () => opened.filter((t) => t.readyState === "live").length;
</script>
<script type="module">
  import init, * as sdk from "/pkg/agent_rtc.js";
  await init();
  // quick: only the time to connect (the bench's rounds), no echo check.
  window.call = async (options, quick = false) => {
    sessionStorage.clear();
    window.micRequests = 0;
    const events = [];
    const t0 = performance.now();
    try {
      const conn = await sdk.startAndConnect(options);
      const ms = performance.now() - t0;
      conn.on("fallback", (f) => events.push(f));
      await new Promise((r) => setTimeout(r, 0));
      if (quick) {
        await conn.disconnect();
        return { ok: true, transport: conn.transport, ms, fallbacks: events };
      }
      // The bot's audio: a WebRTC call's remote track renders only while something plays it.
      await conn.attachAudio().catch(() => {});
      const ctx = new AudioContext();
      const meter = ctx.createAnalyser();
      ctx.createMediaStreamSource(conn.remoteStream).connect(meter);
      const buf = new Float32Array(meter.fftSize);
      let peak = 0;
      for (let i = 0; i < 300 && peak <= 0.02; i++) {
        await new Promise((r) => setTimeout(r, 20));
        meter.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        peak = Math.max(peak, Math.sqrt(sum / buf.length));
      }
      await ctx.close();
      // Nothing of a WebRTC try that gave up is left open while the WebSocket call goes on.
      const openDuringCall = window.openPcs();
      await conn.disconnect();
      return {
        ok: true,
        transport: conn.transport,
        ms,
        fallbacks: events,
        peak,
        openPcsDuringCall: openDuringCall,
        pcsMade: window.__pcs.length,
        micRequests: window.micRequests,
        liveTracksAfter: window.liveTracks(),
      };
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, reason: e.details?.reason, ms: performance.now() - t0 };
    }
  };
  window.pageReady = true;
</script>`;

const dir = workDir("auto-udp");
writeFileSync(join(dir, "auto.html"), PAGE);
if (OFFICIAL) {
  const pages = join(ROOT, "tests/bench/pages");
  for (const f of ["instrument.js", "official.html"]) cpSync(join(pages, f), join(dir, f));
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [join(pages, "official-warm.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    outfile: join(dir, "official-warm.bundle.js"),
    logLevel: "error",
  });
}
const agent = await startAgent(["--www", dir, "--pkg", join(ROOT, "pkg")]);
const runner = RUNNER_PY ? await startRunner(RUNNER_PY, { host: "localhost", args: ["--ws-auth", "token"] }) : null;
let browser;
let driver;
let official;
const report = { blocked: BLOCK, browser: BROWSER, results: {} };
let failed = false;
try {
  let run;
  if (BROWSER === "firefox") {
    const { launchFirefox } = await import("../e2e/webdriver.mjs");
    driver = await launchFirefox();
    await driver.goto(`${agent.url}/auto.html`);
    await driver.waitFor(() => window.pageReady === true, null, { timeoutMs: 30000, what: "the page" });
    run = (arg, quick = false) => driver.run((a) => window.call(a.arg, a.quick), { arg, quick });
  } else {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${agent.url}/auto.html`);
    await page.waitForFunction(() => window.pageReady === true, null, { timeout: 30000 });
    run = (arg, quick = false) => page.evaluate((a) => window.call(a.arg, a.quick), { arg, quick });
    if (OFFICIAL) {
      official = await browser.newPage();
      await official.goto(`${agent.url}/official.html`);
      await official.waitForFunction(() => window.pageReady === true, null, { timeout: 30000 });
    }
  }
  const servers = { agent: agent.url, ...(runner ? { runner: runner.url } : {}) };
  for (const [name, baseUrl] of Object.entries(servers)) {
    const before = runner?.log().length ?? 0;
    const t0 = Date.now();
    const r = (report.results[name] = await run({ platform: "pipecat-runner", baseUrl, transport: "auto", timeoutMs: 30000 }));
    if (name === "runner" && BLOCK && r.ok) {
      // The abandoned WebRTC session: its bot started on the offer and never had a client. How long
      // until the runner ends it by itself (the WebSocket call's bot ended at disconnect)?
      const ended = () => (runner.log().slice(before).match(/agent-rtc-interop: bot ended/g) || []).length;
      const limit = Date.now() + 90_000;
      while (ended() < 2 && Date.now() < limit) await new Promise((res) => setTimeout(res, 250));
      r.abandonedBotEndedAfterMs = ended() >= 2 ? Date.now() - t0 - r.ms : null;
      r.botsStarted = (runner.log().slice(before).match(/agent-rtc-interop: bot started/g) || []).length;
    }
    console.log(`auto, UDP ${BLOCK ? "blocked" : "open"}, ${BROWSER}, ${name}: ${JSON.stringify(r)}`);
    if (official) {
      const o = await official.evaluate((a) => window.runClient(a), { endpoint: `${baseUrl}/start`, timeoutMs: OFFICIAL_MS, outcome: true });
      report.official ??= {};
      report.official[name] = o;
      console.log(`official client, UDP blocked, ${name}: ${JSON.stringify(o)}`);
    }
    const rounds = { auto: [], webrtc: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const transport of i % 2 ? ["webrtc", "auto"] : ["auto", "webrtc"]) {
        const q = await run({ platform: "pipecat-runner", baseUrl, transport, timeoutMs: 30000, audio: true }, true);
        if (!q.ok || q.transport !== "webrtc") throw new Error(`${transport} round on ${name}: ${JSON.stringify(q)}`);
        rounds[transport].push(q.ms);
      }
    }
    if (ROUNDS) {
      const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
      r.rounds = { auto: median(rounds.auto), webrtc: median(rounds.webrtc), n: ROUNDS };
      console.log(`UDP open, ${name}: call -> connected, median of ${ROUNDS}: auto ${r.rounds.auto.toFixed(1)} ms, webrtc ${r.rounds.webrtc.toFixed(1)} ms`);
    }
  }
} catch (e) {
  failed = true;
  report.error = String(e);
  console.error(e);
} finally {
  await driver?.close();
  await browser?.close();
  await runner?.stop();
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, OUT_FILE), JSON.stringify(report, null, 1) + "\n");
process.exit(failed ? 1 : 0);
