// Shared pieces of the end-to-end tests: the local agent as a child process, a browser bundle of
// the official Pipecat client, and headless Chromium. Everything written goes under test-output/.

import { spawn } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync, rmSync, readFileSync } from "node:fs";
export { rmSync };
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const OUT = join(ROOT, "test-output");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
];

/** A fresh directory under test-output/ for one test run (remove it with rmSync when done). */
export function workDir(name) {
  const dir = join(OUT, `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Starts the agent binary on a free port; resolves once it prints its ready line.
 * Returns { url, proc, readyMs, stop() }.
 */
export function startAgent(args = [], { timeoutMs = 15000 } = {}) {
  const bin = resolve(ROOT, process.env.AGENT_BIN || "target/debug/agent-rtc-agent");
  const t0 = performance.now();
  const proc = spawn(bin, ["--host", "127.0.0.1", "--port", "0", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`agent did not print its ready line within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    proc.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${e.message} (build it: cargo build -p agent-rtc-agent)`));
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited early with ${code}; stderr: ${stderr}`));
    });
    createInterface({ input: proc.stdout }).on("line", (line) => {
      const m = /^agent-rtc agent listening on (http:\/\/\S+)$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      const readyMs = performance.now() - t0;
      resolveStart({
        url: m[1],
        proc,
        readyMs,
        stop: () =>
          new Promise((done) => {
            if (proc.exitCode !== null) return done(proc.exitCode);
            proc.removeAllListeners("exit");
            proc.on("exit", (code) => done(code));
            proc.kill("SIGTERM");
          }),
      });
    });
  });
}

/** Resident memory of a process in KiB (Linux). */
export function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : NaN;
}

const PAGE_SCRIPT = `
import { PipecatClient } from "@pipecat-ai/client-js";
import { SmallWebRTCTransport, WavMediaManager } from "@pipecat-ai/small-webrtc-transport";

async function audioEnergy(pc) {
  let energy = 0;
  let packets = 0;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      energy += s.totalAudioEnergy || 0;
      packets += s.packetsReceived || 0;
    }
  });
  return { energy, packets };
}

// Connects one official client to endpoint, waits for bot-ready and the remote audio track,
// round-trips a client request, then watches the inbound audio until at least \`packets\` packets
// (and, unless null, more than \`energy\` of energy) arrived, or timeoutMs passed: what came
// then is the sample.
window.runClient = async ({ endpoint, tag, packets = 50, energy = null, timeoutMs = 30000, keep = false }) => {
  const result = { botReady: false, remoteAudioTrack: false, serverMessages: [], errors: [] };
  const audio = document.createElement("audio");
  audio.autoplay = true;
  document.body.appendChild(audio);
  let resolveReady;
  const ready = new Promise((r) => (resolveReady = r));
  let resolveTrack;
  const trackStarted = new Promise((r) => (resolveTrack = r));
  const transport = new SmallWebRTCTransport({ mediaManager: new WavMediaManager() });
  const client = new PipecatClient({
    transport,
    enableMic: true,
    enableCam: false,
    callbacks: {
      onBotReady: (data) => {
        result.botReady = true;
        result.botReadyData = data;
        resolveReady();
      },
      onTrackStarted: (track, participant) => {
        if (track.kind === "audio" && !(participant && participant.local)) {
          result.remoteAudioTrack = true;
          audio.srcObject = new MediaStream([track]);
          audio.play().catch((e) => result.errors.push("play: " + e.message));
          resolveTrack();
        }
      },
      onServerMessage: (m) => result.serverMessages.push(m),
      onError: (e) => result.errors.push(JSON.stringify(e && e.data ? e.data : String(e))),
    },
  });
  const timeout = (what) =>
    new Promise((_, reject) => setTimeout(() => reject(new Error("timed out waiting for " + what)), timeoutMs));
  const t0 = performance.now();
  try {
    // The tag lets the test find this client's requests (and session) in /debug/requests.
    const headers = tag ? new Headers({ "x-test-tag": tag }) : undefined;
    const connected = client.startBotAndConnect({ endpoint, headers });
    await Promise.race([Promise.all([connected, ready]), timeout("bot-ready")]);
    result.botReadyMs = performance.now() - t0;
    await Promise.race([trackStarted, timeout("the remote audio track")]);
    result.echoReply = await client.sendClientRequest("echo", { n: 42, s: "round trip" }, 5000);
    // The transport's own RTCPeerConnection (a field of SmallWebRTCTransport). If the transport
    // replaced it meanwhile (a reconnection), the new one's totals are the sample.
    const pc = transport.pc;
    const start = await audioEnergy(pc);
    const until = performance.now() + timeoutMs;
    for (;;) {
      result.reconnected = transport.pc !== pc;
      const now = await audioEnergy(transport.pc);
      const base = result.reconnected ? { energy: 0, packets: 0 } : start;
      result.audioEnergy = now.energy - base.energy;
      result.audioPackets = now.packets - base.packets;
      if (result.audioPackets >= packets && (energy === null || result.audioEnergy > energy)) break;
      if (performance.now() > until) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    result.errors.push(e.message);
  }
  if (keep) {
    window.keptClients = window.keptClients || [];
    window.keptClients.push(client);
  } else {
    await client.disconnect().catch(() => {});
  }
  return result;
};

window.disconnectAll = async () => {
  await Promise.all((window.keptClients || []).map((c) => c.disconnect().catch(() => {})));
  window.keptClients = [];
};
window.pageReady = true;
`;

/** Bundles the official client for the browser into dir (bundle.js + index.html). */
export async function bundleClient(dir) {
  const esbuild = await import("esbuild");
  await esbuild.build({
    stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, loader: "js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    outfile: join(dir, "bundle.js"),
    logLevel: "error",
  });
  writeFileSync(
    join(dir, "index.html"),
    `<!doctype html><meta charset="utf-8"><title>compat</title><script type="module" src="/bundle.js"></script>\n`,
  );
}

/**
 * Headless Chromium ($CHROMIUM, else /usr/bin/chromium) with fake media and CHROMIUM_ARGS: the one
 * way every test launches it. `autoplayPolicy`: Chromium's --autoplay-policy (a strict browser's
 * is "user-gesture-required").
 */
export async function launchChromium({ autoplayPolicy = "no-user-gesture-required" } = {}) {
  // Playwright puts the browser profile in the OS temp folder: keep it under test-output/ too.
  const tmp = join(OUT, "tmp");
  mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS.filter((a) => !a.startsWith("--autoplay-policy=")), `--autoplay-policy=${autoplayPolicy}`],
  });
}

/**
 * A new page of `browser` that collects its uncaught errors (a wasm trap is one) in `errors`;
 * `init`: page scripts (functions) that run before the page's own, in every document it loads.
 * Returns { page, errors }.
 */
export async function openPage(browser, { init = [] } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // E2E_CONSOLE=1: the page's console and uncaught errors printed, to find out why a test fails.
  if (process.env.E2E_CONSOLE) {
    page.on("console", (m) => console.log("page:", m.text()));
    page.on("pageerror", (e) => console.log("pageerror:", String(e), e.stack || ""));
  }
  for (const script of init) await page.addInitScript(script);
  return { page, errors };
}

/**
 * A page script: records the page's RTCPeerConnections (the SDK creates them through the global
 * constructor) in window.__pcs, with window.__openPcs() counting those not closed, and their data
 * channels in window.__channels.
 */
export const TRACK_PCS = () => {
  const Native = window.RTCPeerConnection;
  const all = (window.__pcs = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      all.push(this);
    }
  };
  window.__openPcs = () => all.filter((pc) => pc.connectionState !== "closed" && pc.signalingState !== "closed").length;
  const channels = (window.__channels = []);
  const createDataChannel = Native.prototype.createDataChannel;
  Native.prototype.createDataChannel = function (...args) {
    const c = createDataChannel.apply(this, args);
    channels.push(c);
    return c;
  };
};

/**
 * Waits for `what`: calls `fn` (it may be async) every 50 ms until it returns `{ ok: true, ... }`,
 * and returns that; fails the test with the last value if it still does not after `timeoutMs`.
 * The deadline only catches hangs. A test waits for something with this (or Playwright's own
 * waitFor…); a fixed wait only ever proves that something does NOT happen.
 */
export async function poll(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const last = await fn();
    if (last.ok) return last;
    if (Date.now() >= end) assert.fail(`still waiting for ${what} after ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function getJson(url) {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
};

/**
 * Serves the files under dir on a free 127.0.0.1 port (GET only, nothing outside dir);
 * `headers(path)` adds response headers (a Content-Security-Policy for some pages).
 * Returns { url, close() }.
 */
export async function serveStatic(dir, { headers = () => ({}) } = {}) {
  const http = await import("node:http");
  const { extname, normalize, sep } = await import("node:path");
  const { createReadStream, statSync } = await import("node:fs");
  const root = resolve(dir);
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = normalize(join(root, path));
    if (req.method !== "GET" || (file !== root && !file.startsWith(root + sep))) {
      res.writeHead(req.method === "GET" ? 403 : 405).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      statSync(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] || "application/octet-stream",
      "cache-control": "no-store",
      ...headers(path),
    });
    createReadStream(file).pipe(res);
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((done) => {
        server.close(done);
        server.closeAllConnections(); // a browser keeps its connections alive
      }),
  };
}

/**
 * A start endpoint that answers like a platform that made a Daily room (Butter's preview flow):
 * POST /start → { sessionId, dailyRoom: "<its own origin>/room", dailyToken }, or with `room: false`
 * an answer with neither a room nor anything else. GET /room is a small page standing in for the
 * room. Every request is recorded (method, path, query, body). CORS for loopback pages.
 * The widget scenarios use it only for the answer the local agent never gives (no room, no offer
 * path): the agent itself answers room requests with a stand-in room at /daily/{room}.
 */
export async function startFakeRoomServer({ token = `tok-${Math.random().toString(36).slice(2)}` } = {}) {
  const http = await import("node:http");
  const seen = [];
  let withRoom = true;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const cors = {
      "access-control-allow-origin": req.headers.origin || "*",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": req.headers["access-control-request-headers"] || "content-type",
    };
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), body });
      if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
      if (req.method === "POST" && (/\/start$/.test(url.pathname) || url.pathname.endsWith("/begin"))) {
        const origin = `http://127.0.0.1:${server.address().port}`;
        const answer = withRoom
          ? { sessionId: "call_fake1", dailyRoom: `${origin}/room`, dailyToken: token }
          : { sessionId: "call_fake2" };
        return res.writeHead(200, { ...cors, "content-type": "application/json" }).end(JSON.stringify(answer));
      }
      if (req.method === "GET" && url.pathname === "/room") {
        return res
          .writeHead(200, { "content-type": "text/html; charset=utf-8" })
          .end("<!doctype html><title>room</title><p>A stand-in for the Daily room.</p>");
      }
      res.writeHead(404, cors).end();
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    token,
    seen,
    answerWithRoom: (v) => (withRoom = v),
    close: () =>
      new Promise((done) => {
        server.close(done);
        server.closeAllConnections(); // a browser keeps its connections alive
      }),
  };
}

/** pkg/ as `make pkg` leaves it: re-runs scripts/package.sh when www/ or its own finishing is newer. */
export async function freshPkg() {
  const { execFileSync } = await import("node:child_process");
  const read = (p) => {
    try {
      return readFileSync(join(ROOT, p), "utf8");
    } catch {
      return null;
    }
  };
  const pj = read("pkg/package.json");
  if (pj === null) throw new Error("pkg/ is not built: run make pkg");
  const stale =
    !JSON.parse(pj).exports ||
    ["agent-preview.js", "agent-preview.d.ts", "agent-preview-react.d.ts", "agent-rtc-audio.js", "agent-rtc-ui.js", "agent-rtc-ui.d.ts"].some((f) => read(`pkg/${f}`) !== read(`www/${f}`));
  if (stale) execFileSync(join(ROOT, "scripts/package.sh"), { cwd: ROOT, stdio: "inherit" });
}

/**
 * A work dir named `name` with a copy of pkg/ under /pkg and `pages` ({file: text}) beside it,
 * served by serveStatic (`headers` as there). Returns { dir, url, close() } (close also removes it).
 */
export async function servePages(name, pages, { headers } = {}) {
  await freshPkg();
  const dir = workDir(name);
  cpSync(join(ROOT, "pkg"), join(dir, "pkg"), { recursive: true });
  for (const [file, text] of Object.entries(pages)) writeFileSync(join(dir, file), text);
  const server = await serveStatic(dir, { headers });
  return {
    dir,
    url: server.url,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort` whose path can die without closing: `freeze()` stops
 * carrying bytes either way but leaves both sockets open, as a link that went dark does (the
 * browser's socket stays open: TCP retries for minutes). `close()` then ends both sides.
 */
export async function tcpRelay(targetPort, targetHost = "127.0.0.1") {
  const net = await import("node:net");
  const pairs = [];
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    pairs.push([client, upstream]);
    for (const [from, to] of [[client, upstream], [upstream, client]]) {
      from.on("data", (d) => {
        if (!frozen) to.write(d);
      });
      from.on("error", () => to.destroy());
      from.on("close", () => to.destroy());
    }
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return {
    port: server.address().port,
    /** Connections made through the relay so far. */
    connections: () => pairs.length,
    freeze: () => {
      frozen = true;
    },
    close: () => {
      for (const pair of pairs) for (const s of pair) s.destroy();
      return new Promise((done) => server.close(done));
    },
  };
}
