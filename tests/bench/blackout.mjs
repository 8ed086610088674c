// Blackout benchmark: what a real network cut does to a live call, for agent-rtc and for the
// official @pipecat-ai/client-js + small-webrtc-transport, both on a call to the same local agent,
// cut at the same moment. Prints measured numbers, never pass/fail; writes them to
// test-output/blackout.json and under the `blackout` key of test-output/bench.json.
//
// The cut is real: the script re-executes itself in a private network namespace (`unshare --net`)
// where it brings up `lo` and a veth pair carrying 192.0.2.1/24 (TEST-NET-1: the address Chromium
// gathers as its host candidate; the agent binds 127.0.0.1 and answers with a 127.0.0.1
// candidate). The local agent and headless Chromium run in there; playwright-core drives Chromium
// through a pipe, not a socket, so cutting the network does not cut the control. Traffic between
// two local addresses goes over `lo`, so `ip link set lo down` for N seconds then `up` cuts HTTP and
// media alike, both ways, like a dropped link. IPv6 is off in the namespace so that taking `lo` down
// changes no address the browser could see (`::1` would go and come back): the cut looks to the
// browser like a drop somewhere on the path, not like a local interface change. Nothing leaves the
// namespace, which disappears with the process.
//
// For each cut (3, 8, 12, 20 s), per client:
//   - recovered: the bot's audio (inbound RTP on the client's current peer connection, ~50
//     packets/s) flows again at the end of the observation, and the echo carries energy again;
//   - audio back: ms from the path coming back (`lo` up) to the start of that flow (sampled every
//     ~20 ms; the first packet seen, if it differs, is kept too);
//   - told: ms from the cut to the first thing the client tells the app (agent-rtc: `statechange`
//     to "reconnecting", `reconnecting`, `error`, `disconnected`; official: any transport state
//     change, a track stopped, an error, a disconnect);
//   - events: everything the client emitted, ICE states of every peer connection, and what the
//     agent saw (its peers for the session, restarts, why each closed).
//
// Run: make bench (after connect.mjs), or AGENT_BIN=target/agent/agent-rtc-agent node
// tests/bench/blackout.mjs. Needs root or unprivileged user namespaces (for unshare), `ip`
// (iproute2). Knobs: BLACKOUT_CUTS (seconds, default "3,8,12,20"), BLACKOUT_AFTER_MS (longest
// observation after the path returns, default 15000), BLACKOUT_SERIAL=1 (the clients one after
// the other instead of on the same cut), BLACKOUT_AGENT_ARGS (extra agent flags, space-separated),
// BLACKOUT_RUNNER=<python> (the calls go to the real Pipecat development runner, started in the
// namespace with that interpreter and tests/interop/bot.py; the local agent then only serves
// the pages; agent-rtc only, as the official client's page starts through the agent), and
// BLACKOUT_OUT (the report's file name under test-output/, default blackout.json), and
// BLACKOUT_BROWSER=firefox (Firefox ESR through geckodriver instead of Chromium; agent-rtc only),
// BLACKOUT_RESTART_RUNNER=1 (the runner restarted during every cut: the session is gone).
//
// Firefox is driven over WebDriver, a TCP connection of its own on `lo`, which `lo` down would cut
// too. With Firefox the cut is therefore made by nftables in the namespace (BLACKOUT_CUT=nft, the
// default there; Chromium uses `lo` unless told): every UDP packet (all media) and every TCP packet
// to or from the server's port are dropped, both ways, while the driver's port stays open. No
// interface changes, so the browser sees no `offline`: it has only ICE to go by, as behind a
// router that lost its uplink.

import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inNamespace } from "./netns.mjs";
import { startRunner } from "./runner.mjs";

const NS_FLAG = "AGENT_RTC_BLACKOUT_NETNS";
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Outside the namespace: re-execute this script inside a new one.

await inNamespace(SELF, NS_FLAG, async (reason) => {
  console.log(`blackout benchmark skipped: ${reason}`);
  const { OUT } = await import("../e2e/harness.mjs");
  writeFileSync(join(OUT, "blackout.json"), JSON.stringify({ skipped: reason }, null, 1) + "\n");
});

// ---------------------------------------------------------------------------------------------
// Inside the namespace.

const { OUT, ROOT, launchChromium, rmSync, startAgent, workDir } = await import("../e2e/harness.mjs");

const CUTS = (process.env.BLACKOUT_CUTS || "3,8,12,20").split(",").map(Number).filter((x) => x > 0);
const AFTER_MS = Number(process.env.BLACKOUT_AFTER_MS || 15000);
const SERIAL = process.env.BLACKOUT_SERIAL === "1";
const PAGES = join(ROOT, "tests/bench/pages");
const PKG = join(ROOT, "pkg");
const HOST_ADDR = "192.0.2.1/24";
// Audio counts as flowing while samples showing new packets are at most this far apart.
const GAP_MS = 300;
// A flow that has lasted this long ends the observation for that client.
const STABLE_MS = 3000;
// Before the cut: the call must have carried audio (and echo energy) for this long.
const STEADY_MS = 1500;
const RUNNER_PY = process.env.BLACKOUT_RUNNER || "";
const CLIENTS = (process.env.BLACKOUT_CLIENTS || (RUNNER_PY ? "agent-rtc" : "agent-rtc,official")).split(",");
const OUT_FILE = process.env.BLACKOUT_OUT || "blackout.json";
const BROWSER = process.env.BLACKOUT_BROWSER || "chromium";
const CUT = process.env.BLACKOUT_CUT || (BROWSER === "firefox" ? "nft" : "lo");
// With a runner: restart it during each cut, so the call's session is gone when the path returns.
const RESTART_RUNNER = process.env.BLACKOUT_RESTART_RUNNER === "1";

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ip = (...args) => execFileSync("ip", args, { encoding: "utf8" });

function setUpNetwork() {
  // No IPv6 anywhere in here: `lo` down/up then changes no address (see the header).
  for (const k of ["all", "default", "lo"]) {
    const f = `/proc/sys/net/ipv6/conf/${k}/disable_ipv6`;
    if (existsSync(f)) writeFileSync(f, "1");
  }
  ip("link", "set", "lo", "up");
  ip("link", "add", "bench0", "type", "veth", "peer", "name", "bench1");
  ip("addr", "add", HOST_ADDR, "dev", "bench0");
  ip("link", "set", "bench1", "up");
  ip("link", "set", "bench0", "up");
  // Firefox gathers no candidate at all in a namespace without a default route (seen: none, not
  // even loopback); one that leads nowhere (no such neighbour) is enough.
  if (BROWSER === "firefox") ip("route", "add", "default", "via", "192.0.2.254", "dev", "bench0");
  return { addresses: ip("-brief", "addr").trim().split("\n"), routes: ip("route", "show", "table", "all").trim().split("\n") };
}

/**
 * A long-lived `ip -batch` (no process start on the clock): each command is followed by `link show
 * lo`, whose output says it was applied. The cut's time is taken when that output arrives, about
 * a millisecond after the kernel applied it.
 */
function ipShell() {
  const proc = spawn("stdbuf", ["-oL", "ip", "-force", "-batch", "-"], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  let waiter = null;
  proc.stdout.on("data", (d) => {
    out += d;
    if (waiter && /link\/loopback[^\n]*\n/.test(out)) {
      const w = waiter;
      waiter = null;
      w(out);
      out = "";
    }
  });
  return {
    run: (cmd) =>
      new Promise((done) => {
        waiter = done;
        proc.stdin.write(`${cmd}\nlink show lo\n`);
      }),
    close: () => proc.stdin.end(),
  };
}

/**
 * The nftables cut: all UDP and the server's TCP port dropped on output (every packet in here
 * leaves through output, on `lo`), applied by one `nft -f` run; its end is the cut's time.
 */
function nftCut(port) {
  const before = now();
  const rules = `table inet blackout {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto udp drop
    tcp dport ${port} drop
    tcp sport ${port} drop
  }
}
`;
  execFileSync("nft", ["-f", "-"], { input: rules });
  const at = now();
  return { at, commandMs: at - before, method: `nft: udp and tcp port ${port} dropped` };
}

function nftRestore() {
  const before = now();
  execFileSync("nft", ["delete", "table", "inet", "blackout"]);
  const at = now();
  return { at, commandMs: at - before };
}

/** `lo` down; the cut's time (when `ip` said it was done). */
async function cutNetwork(sh) {
  const before = now();
  const shown = await sh.run("link set lo down");
  const at = now();
  if (!/state DOWN/.test(shown)) throw new Error(`lo did not go down: ${shown}`);
  return { at, commandMs: at - before };
}

/** `lo` up again, and 127.0.0.1 still routed (re-added if the kernel dropped it). */
async function restoreNetwork(sh) {
  const before = now();
  const shown = await sh.run("link set lo up");
  const at = now();
  let readded = false;
  if (!/\b127\.0\.0\.1\b/.test(ip("-4", "route", "show", "table", "local"))) {
    ip("addr", "add", "127.0.0.1/8", "dev", "lo");
    readded = true;
  }
  return { at, commandMs: at - before, readded, up: /<[^>]*\bUP\b/.test(shown) };
}

async function preparePages(dir) {
  for (const f of ["blackout-probe.js", "blackout-ours.html", "blackout-official.html"]) copyFileSync(join(PAGES, f), join(dir, f));
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [join(PAGES, "blackout-official.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    outfile: join(dir, "blackout-official.bundle.js"),
    logLevel: "error",
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the samples: [t, peer connection number, packets received, energy, packets sent] from the
// page's sampler.

/** Per sample: new packets and new energy since the previous sample of the same peer connection. */
function deltas(samples) {
  const last = new Map();
  return samples.map(([t, pc, packets, energy]) => {
    const prev = last.get(pc) || { packets: 0, energy: 0 };
    last.set(pc, { packets, energy });
    return { t, pc, packets: packets - prev.packets, energy: energy - prev.energy };
  });
}

/** Runs of flowing audio (samples with new packets no more than GAP_MS apart) after `from`. */
function flowRuns(d, from) {
  const runs = [];
  let run = null;
  for (const s of d) {
    if (s.t < from || s.packets <= 0) continue;
    if (run && s.t - run.end <= GAP_MS) {
      run.end = s.t;
      run.energy += s.energy;
      run.pcs.add(s.pc);
    } else {
      run = { start: s.t, end: s.t, energy: s.energy, pcs: new Set([s.pc]) };
      runs.push(run);
    }
  }
  return runs;
}

/** Where a call stands after `from`: the flow going on at `at` (if any), and the first packet. */
function flowState(samples, from, at) {
  const d = deltas(samples);
  const runs = flowRuns(d, from);
  const last = runs[runs.length - 1];
  const current = last && at - last.end <= GAP_MS + 100 ? last : null;
  return { runs, current, first: runs[0]?.start };
}

const ENDED = {
  "agent-rtc": (e) => e.name === "disconnected" || (e.name === "statechange" && (e.data === "failed" || e.data === "disconnected")),
  official: (e) => e.name === "onDisconnected" || (e.name === "onTransportStateChanged" && ["disconnected", "error"].includes(e.data)),
};
const TOLD = {
  "agent-rtc": (e) => ["reconnecting", "error", "disconnected"].includes(e.name) || (e.name === "statechange" && e.data !== "connected"),
  official: (e) =>
    ["onTransportStateChanged", "onTrackStopped", "onError", "onDisconnected", "onBotDisconnected", "onParticipantLeft"].includes(e.name),
};

// ---------------------------------------------------------------------------------------------
// One scenario: calls up, cut for `secs`, path back, watch until every call is settled.

async function openCall(context, base, client, tag, server) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const path = client === "agent-rtc" ? "blackout-ours.html" : "blackout-official.html";
  await page.goto(`${base}/${path}`);
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 15000 }).catch((e) => {
    throw new Error(`${path} did not get ready: ${errors.join("; ") || e.message}`);
  });
  const target = server || base;
  const args = client === "agent-rtc" ? { baseUrl: target, tag } : { endpoint: `${target}/start`, tag };
  const started = await page.evaluate((a) => window.startCall(a), args);
  let sessionId = started.sessionId;
  if (!sessionId && !server) {
    const offer = (await offersReceived(base, tag))[0];
    sessionId = offer?.path.split("/")[2];
  }
  return { client, page, errors, sessionId, tag };
}

/** The offer POSTs the agent received from one call (its x-test-tag), in arrival order. */
async function offersReceived(base, tag) {
  const log = await (await fetch(`${base}/debug/requests?tag=${tag}`)).json();
  return log.filter((e) => e.method === "POST" && /\/api\/offer$/.test(e.path));
}

/** Waits until every call has carried audio with echo energy for STEADY_MS. */
async function untilSteady(calls) {
  const t0 = now();
  for (;;) {
    let ready = true;
    for (const c of calls) {
      const samples = await c.page.evaluate(() => window.__blackout.samples());
      const { current } = flowState(samples, 0, now());
      if (!current || current.end - current.start < STEADY_MS || current.energy <= 0) ready = false;
    }
    if (ready) return;
    if (now() - t0 > 20000) throw new Error(`calls not carrying audio 20 s after connecting: ${calls.map((c) => c.client).join(", ")}`);
    await sleep(250);
  }
}

async function scenario(sh, browser, base, secs, clients, runner) {
  const context = await browser.newContext();
  const tag = `blackout-${secs}-${Date.now()}`;
  try {
    const calls = await Promise.all(clients.map((c) => openCall(context, base, c, `${tag}-${c}`, runner?.url)));
    await untilSteady(calls);

    const serverPort = Number(new URL(runner?.url || base).port);
    const cut = CUT === "nft" ? nftCut(serverPort) : await cutNetwork(sh);
    let restore;
    try {
      if (runner && RESTART_RUNNER) await runner.restart();
      await sleep(secs * 1000 - (now() - cut.at));
    } finally {
      restore = CUT === "nft" ? nftRestore() : await restoreNetwork(sh);
    }
    const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.ok,
      () => false,
    );

    // Watch until each call has flowed for STABLE_MS or ended, at most AFTER_MS.
    const settled = new Set();
    while (settled.size < calls.length && now() - restore.at < AFTER_MS) {
      await sleep(250);
      for (const c of calls) {
        if (settled.has(c)) continue;
        const snap = await c.page.evaluate((t) => ({ samples: window.__blackout.samples(t), events: window.__blackout.snapshot().events }), cut.at);
        const { current } = flowState(snap.samples, restore.at, now());
        const ended = snap.events.some((e) => e.t >= cut.at && ENDED[c.client](e));
        if ((current && current.end - current.start >= STABLE_MS) || ended) settled.add(c);
      }
    }
    const end = now();

    const results = {};
    for (const c of calls) {
      const snap = await c.page.evaluate(() => window.__blackout.snapshot());
      await c.page.evaluate(() => window.hangUp()).catch(() => {});
      const agentView = c.sessionId && !runner ? await (await fetch(`${base}/debug/sessions/${c.sessionId}`)).json().catch(() => null) : null;
      if (agentView) agentView.offers = (await offersReceived(base, c.tag)).map((e) => ({ restart_pc: e.body?.restart_pc ?? null, ufrag: /a=ice-ufrag:(\S+)/.exec(e.body?.sdp || "")?.[1] ?? null }));
      results[c.client] = analyse(c.client, snap, cut.at, restore.at, end, agentView, c.errors);
      if (runner) results[c.client].runner = { sessionId: c.sessionId, botsStarted: runner.bots(c.sessionId) };
    }
    return { secs, cut, restore, pathBackHealthy: health, observedMs: end - restore.at, results };
  } finally {
    await context.close();
  }
}

function analyse(client, snap, cutAt, restoreAt, end, agentView, pageErrors) {
  const { runs, current, first } = flowState(snap.samples, restoreAt, end);
  // Recovered: audio flowing when the observation ended, with the echo's energy in it, on a call
  // the client has not ended (audio can still be in flight for a moment after it did).
  const ended = snap.events.some((e) => e.t >= cutAt && ENDED[client](e));
  const recovered = Boolean(current && current.energy > 0) && !ended;
  const d = deltas(snap.samples);
  const energyBack = d.find((s) => s.t >= restoreAt && s.energy > 0)?.t;
  const before = d.filter((s) => s.t < cutAt && s.packets > 0);
  const lastPacketBeforeCut = before[before.length - 1]?.t;
  const rel = (t) => (t === undefined ? null : Math.round(t - cutAt));
  // The microphone going out after the path came back, per peer connection sampled: the echo bot
  // can only send back what it receives.
  const micSent = {};
  for (const [t, pc, , , sent] of snap.samples) {
    const m = (micSent[pc] ??= { atPathBack: null, last: 0 });
    if (t < restoreAt) m.atPathBack = sent;
    m.last = sent;
  }
  const events = snap.events.filter((e) => e.t >= cutAt - 50).map((e) => ({ at: rel(e.t), name: e.name, data: e.data }));
  const told = snap.events.find((e) => e.t >= cutAt && TOLD[client](e));
  // A peer connection made after the cut (a restart) that got connected.
  const restartPc = snap.pcs.find((p) => p.created >= cutAt && p.states.some((s) => s.conn === "connected"));
  const restartConnected = restartPc?.states.find((s) => s.conn === "connected").t;
  return {
    recovered,
    audioBackMs: recovered ? Math.round(current.start - restoreAt) : null,
    firstPacketAfterPathBackMs: first === undefined ? null : Math.round(first - restoreAt),
    energyBackMs: energyBack === undefined ? null : Math.round(energyBack - restoreAt),
    flowsAfterPathBack: runs.map((r) => ({ from: Math.round(r.start - restoreAt), to: Math.round(r.end - restoreAt), pcs: [...r.pcs] })),
    toldMs: told ? Math.round(told.t - cutAt) : null,
    toldBy: told ? `${told.name}${typeof told.data === "string" ? ` ${told.data}` : ""}` : null,
    ended,
    via: recovered ? ([...current.pcs].some((id) => snap.pcs.find((p) => p.id === id)?.created >= cutAt) ? "new peer connection" : "same peer connection") : null,
    restartPcConnectedMs: rel(restartConnected),
    restartPcId: restartPc?.id ?? null,
    lastPacketBeforeCutMs: rel(lastPacketBeforeCut),
    micPacketsSentAfterPathBack: Object.fromEntries(Object.entries(micSent).map(([pc, m]) => [`pc${pc}`, m.last - (m.atPathBack ?? 0)])),
    events,
    peerConnections: snap.pcs.map((p) => ({
      id: p.id,
      createdAt: rel(p.created),
      transceivers: p.transceivers,
      states: p.states.filter((s) => s.t >= cutAt - 50).map((s) => ({ at: rel(s.t), ice: s.ice, conn: s.conn })),
    })),
    agent: agentView && {
      ended: agentView.ended,
      offersReceived: agentView.offers.length,
      restartOffersReceived: agentView.offers.filter((o) => o.restart_pc).length,
      restartOfferUfrags: agentView.offers.filter((o) => o.restart_pc).map((o) => o.ufrag),
      peers: (agentView.peers || []).map((p) => ({
        pcId: p.pcId,
        state: p.state,
        iceState: p.iceState,
        restarted: p.restarted,
        closedReason: p.closedReason,
        audioPacketsReceived: p.audioPacketsReceived,
        audioPacketsSent: p.audioPacketsSent,
        pingsSeen: p.pingsSeen,
        pingTimedOut: p.pingTimedOut,
        trackStatus: p.trackStatus,
        messagesDropped: p.messagesDropped,
      })),
    },
    requests: snap.requests
      .filter((q) => q.t >= cutAt - 50 || (q.done ?? Infinity) >= cutAt)
      .map((q) => ({ ...q, t: rel(q.t), done: q.done === undefined ? null : rel(q.done) })),
    pageVisibility: snap.visibility,
    pageErrors,
  };
}

// ---------------------------------------------------------------------------------------------
// Printing

const secsText = (ms) => (ms === null || ms === undefined ? "-" : `${(ms / 1000).toFixed(1)} s`);
const msText = (ms) => (ms === null || ms === undefined ? "-" : `${ms} ms`);

function eventText(e) {
  let d = "";
  if (typeof e.data === "string") d = ` ${e.data}`;
  else if (e.data && typeof e.data === "object" && e.name !== "onBotReady") {
    const j = JSON.stringify(e.data);
    d = ` ${j.length > 60 ? `${j.slice(0, 57)}...` : j}`;
  }
  return `${e.name}${d} @${secsText(e.at)}`;
}

function iceText(pcs) {
  return pcs
    .map((p) => {
      const changes = [];
      let last = null;
      for (const s of p.states) {
        if (s.ice === last) continue;
        last = s.ice;
        changes.push(`${s.ice} @${secsText(s.at)}`);
      }
      return changes.length ? `pc${p.id}${p.createdAt >= 0 ? ` (new @${secsText(p.createdAt)})` : ""}: ${changes.join(", ")}` : null;
    })
    .filter(Boolean)
    .join("; ");
}

// ---------------------------------------------------------------------------------------------
// Firefox (geckodriver, tests/e2e/webdriver.mjs) behind the few calls this script makes of a
// playwright browser: a context is one Firefox session with one page.

function firefoxBrowser() {
  return {
    newContext: async () => {
      const { launchFirefox } = await import("../e2e/webdriver.mjs");
      const driver = await launchFirefox();
      report.browserVersion = driver.version;
      return {
        newPage: async () => ({
          // WebDriver reports no page errors: a failing evaluate carries the page's error instead.
          on: () => {},
          goto: (url) => driver.goto(url),
          waitForFunction: (fn, arg, { timeout }) => driver.waitFor(fn, arg, { timeoutMs: timeout, what: "the page" }),
          evaluate: (fn, arg) => driver.run(fn, arg),
        }),
        close: () => driver.close(),
      };
    },
    close: async () => {},
  };
}

// ---------------------------------------------------------------------------------------------

const startedAt = performance.now();
const network = setUpNetwork();
const sh = ipShell();
const dir = workDir("blackout");
await preparePages(dir);
const AGENT_ARGS = (process.env.BLACKOUT_AGENT_ARGS || "").split(/\s+/).filter(Boolean);
const agent = await startAgent(["--www", dir, "--pkg", PKG, ...AGENT_ARGS]);
const runner = RUNNER_PY ? await startRunner(RUNNER_PY) : null;
const browser = BROWSER === "firefox" ? firefoxBrowser() : await launchChromium();
const report = {
  date: new Date().toISOString(),
  browser: BROWSER,
  browserVersion: BROWSER === "firefox" ? null : browser.version(),
  cut: CUT === "nft" ? "nftables: udp and the server's tcp port dropped" : "lo down",
  server: runner ? "pipecat runner (pipecat-ai 1.14, tests/interop/bot.py)" : "local agent",
  config: { CUTS, AFTER_MS, SERIAL, AGENT_ARGS, GAP_MS, STABLE_MS, STEADY_MS, HOST_ADDR, BROWSER, CUT },
  network,
  scenarios: [],
};
let failed = false;
try {
  for (const secs of CUTS) {
    if (SERIAL) {
      const parts = [];
      for (const c of CLIENTS) parts.push(await scenario(sh, browser, agent.url, secs, [c], runner));
      report.scenarios.push({ ...parts[0], perClientCuts: parts.map((p) => ({ cut: p.cut, restore: p.restore })), results: Object.assign({}, ...parts.map((p) => p.results)) });
    } else {
      report.scenarios.push(await scenario(sh, browser, agent.url, secs, CLIENTS, runner));
    }
    await sleep(500);
  }

  const lines = [];
  const say = (s = "") => {
    lines.push(s);
    console.log(s);
  };
  say();
  say(`Blackout: the network cut for real (${CUT === "nft" ? "nftables" : "lo down"} in a private network namespace) for N s during a call,`);
  say(`server: ${report.server}; ${SERIAL ? "each client on its own cut" : "the clients on calls to the same server, cut at the same moment"}; headless ${BROWSER === "firefox" ? "Firefox" : "Chromium"} ${report.browserVersion || ""}; cut: ${report.cut}.`);
  say(`recovered = the bot's audio flows again (inbound RTP, echo energy) at the end of the watch (≤ ${AFTER_MS / 1000} s after the path returns);`);
  say(`audio back = from lo up to the start of that flow; told = from the cut to the first thing the client tells the app.`);
  const cmdMs = report.scenarios.flatMap((s) => [s.cut.commandMs, s.restore.commandMs]);
  say(`(cut and return timed to ${Math.max(...cmdMs).toFixed(1)} ms, by ${CUT === "nft" ? "\`nft -f\`" : "a running \`ip -batch\`"}; audio sampled every ~20 ms)`);
  if (RESTART_RUNNER) say("(the runner was restarted during every cut: no call can come back to its session)");
  say(`   ${"cut".padEnd(5)}${"client".padEnd(11)}${"recovered".padEnd(11)}${"audio back".padStart(11)}${"told".padStart(8)}  by; notes`);
  for (const s of report.scenarios) {
    for (const c of CLIENTS) {
      const r = s.results[c];
      if (!r) continue;
      const notes = [];
      if (r.via) notes.push(r.via);
      if (r.recovered && r.firstPacketAfterPathBackMs !== r.audioBackMs) notes.push(`first packet ${msText(r.firstPacketAfterPathBackMs)}`);
      const reconnected = r.events.find((e) => e.name === "reconnected");
      const end = r.events.find((e) => e.name === "disconnected" || e.name === "onDisconnected") || r.events.find((e) => ENDED[c](e));
      if (!r.recovered && reconnected) notes.push(`reconnected @${secsText(reconnected.at)}`);
      if (end) notes.push(`ended @${secsText(end.at)}${typeof end.data === "string" ? ` (${end.data})` : ""}`);
      if (!r.recovered && !reconnected && r.restartPcConnectedMs !== null) {
        const sent = r.micPacketsSentAfterPathBack[`pc${r.restartPcId}`];
        notes.push(`a new peer connection connected @${secsText(r.restartPcConnectedMs)}, mic packets sent on it: ${sent ?? "?"}`);
      }
      const extra = notes.length ? `; ${notes.join("; ")}` : "";
      say(
        `   ${`${s.secs} s`.padEnd(5)}${c.padEnd(11)}${(r.recovered ? "yes" : r.ended ? "no, ended" : "no").padEnd(11)}${msText(r.audioBackMs).padStart(11)}${secsText(r.toldMs).padStart(8)}  ${r.toldBy || "nothing"}${extra}`,
      );
    }
  }
  say();
  say("Events after the cut (@ = seconds from the cut; the path came back at @N s):");
  for (const s of report.scenarios) {
    for (const c of CLIENTS) {
      const r = s.results[c];
      if (!r) continue;
      say(`   ${s.secs} s ${c}:`);
      const ev = r.events.filter((e) => !(c === "official" && e.name === "onServerMessage" && e.data?.connection === 1));
      say(`     events: ${ev.length ? ev.map(eventText).join(", ") : "none"}`);
      say(`     ICE: ${iceText(r.peerConnections) || "no change"}`);
      const offers = r.requests.filter((q) => q.method === "POST" && q.path.endsWith("/api/offer"));
      if (offers.length || r.agent?.restartOffersReceived) {
        say(
          `     offers posted by the page after the cut: ${offers.map((q, i) => `#${i + 1} @${secsText(q.t)}${q.restart_pc ? " restart_pc" : ""} → ${q.status ?? q.error ?? "pending"}${q.done !== null ? ` @${secsText(q.done)}` : ""}`).join(", ") || "none"}`,
        );
        // Matched by ICE ufrag: which of them reached the agent, in its order of arrival.
        const order = (r.agent?.restartOfferUfrags || []).map((u) => {
          const i = offers.findIndex((q) => q.ufrag && q.ufrag === u);
          return i < 0 ? "?" : `#${i + 1}`;
        });
        if (!r.runner) say(`     restart_pc offers the agent received, in order: ${order.join(", ") || "none"}`);
      }
      if (r.runner) say(`     runner: bots started for the session: ${r.runner.botsStarted}`);
      if (r.agent) {
        say(
          `     agent: ${r.agent.peers
            .map((p) => `${p.restarted ? "restarted " : ""}peer ${p.state}${p.closedReason ? ` (${p.closedReason})` : ""} audio in/out ${p.audioPacketsReceived}/${p.audioPacketsSent}`)
            .join(", ")}${r.agent.ended ? "; session ended" : ""}`,
        );
      }
      if (r.pageErrors.length) say(`     page errors: ${r.pageErrors.join("; ")}`);
    }
  }
  say();
  say(`blackout benchmark took ${((performance.now() - startedAt) / 1000).toFixed(0)} s; every number above is in test-output/${OUT_FILE}`);
  report.seconds = (performance.now() - startedAt) / 1000;
  report.printed = lines;

  writeFileSync(join(OUT, OUT_FILE), JSON.stringify(report, null, 1) + "\n");
  // bench.json is connect.mjs's; the blackout numbers join it under their own key.
  const benchFile = join(OUT, "bench.json");
  let bench = {};
  try {
    bench = JSON.parse(readFileSync(benchFile, "utf8"));
  } catch {
    // no connect run before this one: bench.json holds the blackout only
  }
  bench[runner ? "blackoutRunner" : "blackout"] = report;
  writeFileSync(benchFile, JSON.stringify(bench, null, 1) + "\n");
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  // Whatever happened, the path is up again before anything is torn down.
  try {
    sh.close();
    ip("link", "set", "lo", "up");
    if (CUT === "nft") execFileSync("nft", ["flush", "ruleset"]);
  } catch {
    // the namespace goes away with the process anyway
  }
  await browser.close();
  if (runner) {
    writeFileSync(join(OUT, `${OUT_FILE.replace(/\.json$/, "")}-runner.log`), runner.log());
    await runner.stop();
  }
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
}
if (failed) process.exit(1);
