// Two or more builds of the package side by side, in one run, against the floor: for judging a
// change to the connect path. The full benchmark's C/B moves by up to 0.1 between runs on this
// machine; builds compared in the same run, round by round, show a few per cent.
//
//   node tests/bench/ab.mjs base=/tmp/pkg-before new=pkg        (RUNS=100 by default)
//
// Each NAME=DIR is a `pkg/` as `make pkg` writes it (copy it away before building the other).
// Per build: the medians of the connect steps (ms from the call, as in connect.mjs), the page's
// main-thread task time per connect (CDP Performance.getMetrics TaskDuration: CPU the connect
// costs the page), bot-ready per round over the floor's and over the first build's, and the
// wasm<->JS calls one connect makes (counted on a copy whose import table is wrapped, in rounds
// of their own so the wrapping costs the timed rounds nothing).
import { copyFileSync, cpSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT, launchChromium, startAgent, workDir } from "../e2e/harness.mjs";

const RUNS = Number(process.env.RUNS || 100);
const WARMUP = 3;
const COUNT_RUNS = 5;
const builds = process.argv.slice(2).map((a) => {
  const [name, dir] = a.split("=");
  if (!name || !dir || !/^[a-z0-9-]+$/i.test(name)) throw new Error(`usage: ab.mjs NAME=PKG_DIR ... (got ${a})`);
  return [name, resolve(dir)];
});
if (builds.length < 2) throw new Error("usage: ab.mjs NAME=PKG_DIR NAME=PKG_DIR ...");

const PAGES = join(ROOT, "tests/bench/pages");
const dir = workDir("ab");
for (const f of readdirSync(PAGES)) copyFileSync(join(PAGES, f), join(dir, f));
// The pages keep the connection until after the clock and the metrics: teardown is not measured.
const later = (page, close) => {
  const text = readFileSync(join(PAGES, page), "utf8");
  const out = text.replace(close, `window.__teardown = async () => { ${close} track.stop(); }; return run;`);
  if (out === text) throw new Error(`${page} changed: no "${close}" to move out of the clock`);
  return out;
};
const ours = later("ours.html", "if (conn) await conn.disconnect();");
writeFileSync(join(dir, "ab-floor.html"), later("floor.html", "if (conn) conn.close();"));
const COUNTING = `const imports = __wbg_get_imports();
    globalThis.__calls = 0;
    for (const mod of Object.values(imports)) for (const [k, f] of Object.entries(mod)) if (typeof f === "function") {
        mod[k] = function (...a) { if (globalThis.__counting) globalThis.__calls++; return f.apply(this, a); };
    }`;
for (const [name, path] of builds) {
  cpSync(path, join(dir, name), { recursive: true });
  cpSync(path, join(dir, `${name}-counted`), { recursive: true });
  const glue = join(dir, `${name}-counted`, "agent_rtc.js");
  const text = readFileSync(glue, "utf8");
  if (!text.includes("const imports = __wbg_get_imports();")) throw new Error(`${path}: glue without __wbg_get_imports()`);
  writeFileSync(glue, text.replaceAll("const imports = __wbg_get_imports();", COUNTING));
  writeFileSync(join(dir, `ab-${name}.html`), ours.replace("/pkg/agent_rtc.js", `/${name}/agent_rtc.js`));
  writeFileSync(join(dir, `ab-${name}-counted.html`), ours.replace("/pkg/agent_rtc.js", `/${name}-counted/agent_rtc.js`));
}

const STEPS = [
  "startSent", "startAnswered", "pcCreated", "localOfferSet", "offerSent", "offerAnswered", "remoteAnswerCalled",
  "remoteAnswerSet", "iceConnected", "pcConnected", "channelOpen", "botReadyMessage", "ready",
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (values) => {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

const agent = await startAgent(["--www", dir, "--pkg", join(ROOT, "pkg"), "--max-sessions", "4000"]);
const browser = await launchChromium();
try {
  const base = agent.url;
  const context = await browser.newContext();
  const open = async (path) => {
    const p = await context.newPage();
    await p.goto(`${base}/${path}`);
    await p.waitForFunction(() => window.pageReady === true, null, { timeout: 15000 });
    return p;
  };
  const clients = { B: { page: await open("ab-floor.html"), args: { startUrl: `${base}/start`, origin: base } } };
  for (const [name] of builds) clients[name] = { page: await open(`ab-${name}.html`), args: { baseUrl: base, mode: "together" } };
  for (const c of Object.values(clients)) {
    c.cdp = await context.newCDPSession(c.page);
    await c.cdp.send("Performance.enable");
  }
  const taskSeconds = async (c) =>
    (await c.cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration").value;
  const names = Object.keys(clients);
  const rounds = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < WARMUP + RUNS; i++) {
    // Every client once per round, in an order that rotates and reverses.
    const order = names.map((_, k) => names[(i + k) % names.length]);
    if (Math.floor(i / names.length) % 2) order.reverse();
    for (const n of order) {
      const c = clients[n];
      await sleep(300);
      const before = await taskSeconds(c);
      const r = await c.page.evaluate((a) => window.runClient(a), c.args);
      r.task = ((await taskSeconds(c)) - before) * 1000;
      await c.page.evaluate(() => window.__teardown());
      if (i >= WARMUP) rounds[n].push(r);
    }
  }
  const calls = {};
  for (const [name] of builds) {
    const p = await open(`ab-${name}-counted.html`);
    const counts = [];
    for (let i = 0; i < WARMUP + COUNT_RUNS; i++) {
      await sleep(300);
      await p.evaluate(() => { globalThis.__calls = 0; globalThis.__counting = true; });
      await p.evaluate((a) => window.runClient(a), { baseUrl: base, mode: "together" });
      counts.push(await p.evaluate(() => { globalThis.__counting = false; return globalThis.__calls; }));
      await p.evaluate(() => window.__teardown());
    }
    calls[name] = median(counts.slice(WARMUP));
    await p.close();
  }

  const col = (x, w = 10) => (Number.isFinite(x) ? x.toFixed(1) : "-").padStart(w);
  console.log(`${RUNS} rounds (+${WARMUP} warm-up), medians, ms from the call; B = the floor`);
  console.log(`${"step".padEnd(24)}${names.map((n) => n.padStart(10)).join("")}`);
  for (const s of [...STEPS, "task"]) {
    const label = s === "task" ? "main-thread task time" : s;
    console.log(`${label.padEnd(24)}${names.map((n) => col(median(rounds[n].map((r) => r[s])))).join("")}`);
  }
  console.log(`${"wasm<->JS calls".padEnd(24)}${"-".padStart(10)}${builds.map(([n]) => col(calls[n])).join("")}`);
  const [first] = builds[0];
  for (const [name] of builds) {
    const overB = median(rounds[name].map((r, i) => r.ready / rounds.B[i].ready));
    let line = `${name}: bot-ready per round / B ${overB.toFixed(3)}`;
    if (name !== first) {
      const overFirst = median(rounds[name].map((r, i) => r.ready / rounds[first][i].ready));
      const task = median(rounds[name].map((r, i) => r.task - rounds[first][i].task));
      line += `, / ${first} ${overFirst.toFixed(3)}, task time − ${first}'s ${task.toFixed(2)} ms`;
    }
    console.log(line);
  }
} finally {
  await browser.close();
  await agent.stop();
}
