// The npm package in a Next.js (App Router) app: `npm pack` of pkg/, installed from the tarball into
// a copy of examples/next (its lock file pins next, react and typescript; npm's cache has them from
// `make setup`, and the copy's node_modules is kept under test-output/ for the next run), built with `next build` (type check included: the SDK's types, and <agent-preview>
// in JSX through agent-rtc/react), served by `next start`, and driven in headless Chromium against a
// fresh local agent: the SDK page starts and stops a call, the widget page connects and stops.
// Then `next dev`, where React StrictMode mounts the call component twice (effect, cleanup,
// effect): ?autostart=1 must end with exactly one peer connection and one live microphone track.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/next.test.mjs

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

import { OUT, ROOT, TRACK_PCS, freshPkg, launchChromium, openPage, poll, rmSync, startAgent, workDir } from "./harness.mjs";

const BUILD_TIMEOUT = 300000; // an install or a build on 2 cores
const WAIT = 20000;
// The app's node_modules between runs (next alone is 370 MB to unpack): moved into the copy before
// `npm install`, which then only swaps in the new tarball, and moved back afterwards.
const MODULES_CACHE = join(OUT, "next-example-node_modules");
const ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", npm_config_update_notifier: "false" };

let dir;
let app;
let buildOutput = "";
let server; // next start
let agent;
let browser;
let page;
let pageErrors;
let consoleLines;
const timings = {};

/**
 * A page script: counts the microphone (and camera) tracks that getUserMedia handed out and are
 * still live, in window.__liveTracks(); window.__gumCalls is how many times it was called.
 */
const TRACK_MEDIA = () => {
  const tracks = (window.__tracks = []);
  window.__gumCalls = 0;
  const gum = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (...args) {
    window.__gumCalls++;
    const stream = await gum.apply(this, args);
    tracks.push(...stream.getTracks());
    return stream;
  };
  window.__liveTracks = () => tracks.filter((t) => t.readyState === "live").length;
};

function sh(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: ENV, timeout: BUILD_TIMEOUT });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${e.stdout || ""}${e.stderr || ""}`);
  }
}

async function timed(name, fn) {
  const t0 = performance.now();
  const r = await fn();
  timings[name] = Math.round(performance.now() - t0);
  return r;
}

function freePort() {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/**
 * `next <args>` in the app on a free loopback port, in its own process group (next dev has a child
 * process); resolves once `path` answers 200, polled with a deadline. Returns { url, output, stop() }.
 */
async function startNext(args, { path = "/", timeoutMs = 120000 } = {}) {
  const port = await freePort();
  const proc = spawn(join(app, "node_modules/.bin/next"), [...args, "-p", String(port), "-H", "127.0.0.1"], {
    cwd: app,
    env: ENV,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  proc.stdout.on("data", (d) => (output += d));
  proc.stderr.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise((done) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return done();
      proc.on("exit", () => done());
      try {
        process.kill(-proc.pid, "SIGTERM"); // the group this spawn made, nothing else
      } catch {
        done();
      }
    });
  try {
    await poll(
      `next ${args[0]} to answer ${path}`,
      async () => {
        if (proc.exitCode !== null) assert.fail(`next ${args[0]} exited with ${proc.exitCode}:\n${output}`);
        try {
          const r = await fetch(url + path);
          await r.arrayBuffer();
          return { ok: r.status === 200, status: r.status };
        } catch (e) {
          return { ok: false, error: e.cause?.code || e.message };
        }
      },
      timeoutMs,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, output: () => output, stop };
}

before(async () => {
  await freshPkg();
  dir = workDir("e2e-next");
  const [packed] = JSON.parse(sh("npm", ["pack", join(ROOT, "pkg"), "--pack-destination", dir, "--json", "--loglevel=error"], dir));
  app = join(dir, "next");
  cpSync(join(ROOT, "examples/next"), app, {
    recursive: true,
    filter: (src) => !/node_modules|\.next|next-env\.d\.ts|tsbuildinfo/.test(src.slice(ROOT.length)),
  });
  if (existsSync(MODULES_CACHE)) renameSync(MODULES_CACHE, join(app, "node_modules"));
  await timed("install", () =>
    sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", join(dir, packed.filename)], app),
  );
  buildOutput = await timed("build", () => sh(join(app, "node_modules/.bin/next"), ["build"], app));
  server = await timed("start", () => startNext(["start"]));
  agent = await startAgent();
  browser = await launchChromium();
}, { timeout: 2 * BUILD_TIMEOUT });

beforeEach(async () => {
  ({ page, errors: pageErrors } = await openPage(browser, { init: [TRACK_PCS, TRACK_MEDIA] }));
  consoleLines = [];
  page.on("console", (m) => consoleLines.push(m.text()));
});

afterEach(async () => {
  await page?.close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (agent) await agent.stop();
  if (Object.keys(timings).length) console.log(`# next example timings (ms): ${JSON.stringify(timings)}`);
  if (dir && !process.env.KEEP) {
    const modules = join(app, "node_modules");
    if (existsSync(modules) && !existsSync(MODULES_CACHE)) renameSync(modules, MODULES_CACHE);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Waits until the SDK page shows the call's state as `state`. */
const shown = (state) =>
  poll(`the page showing ${state}`, async () => {
    const now = await page.locator("#state").textContent();
    return { ok: now === state, now };
  }, WAIT);
const counts = () => page.evaluate(() => ({ pcs: window.__openPcs(), tracks: window.__liveTracks() }));

test("next build type-checks the app and prerenders both pages as static; the .wasm is an asset", (t) => {
  t.diagnostic(`install ${timings.install} ms, build ${timings.build} ms, next start ready ${timings.start} ms`);
  assert.match(buildOutput, /Running TypeScript/, buildOutput);
  for (const route of ["/", "/widget"]) {
    assert.match(buildOutput, new RegExp(`○ ${route.replace("/", "\\/")}\\n`), `${route} static in:\n${buildOutput}`);
  }
  assert.match(buildOutput, /○\s+\(Static\)\s+prerendered as static content/, buildOutput);
  const media = join(app, ".next/static/media");
  const files = existsSync(media) ? readdirSync(media) : [];
  assert.ok(files.some((f) => /^agent_rtc_bg\..*\.wasm$/.test(f)), `the .wasm emitted by the bundler: ${files}`);
});

test("the type check fails on a wrong attribute of <agent-preview> and a wrong platform", () => {
  // agent-rtc/react really types the element: a wrong value is an error, not an untyped prop.
  const wrong = join(app, "app/wrong.tsx");
  writeFileSync(
    wrong,
    'import type {} from "agent-rtc/react";\nimport { startSession } from "agent-rtc";\n' +
      'export const A = () => <agent-preview transport="carrier-pigeon" />;\nexport const b = () => startSession({ platform: "nope" });\n',
  );
  try {
    const tsc = join(app, "node_modules/.bin/tsc");
    assert.throws(() => sh(tsc, ["-p", ".", "--noEmit", "--incremental", "false"], app), /wrong\.tsx.*carrier-pigeon.*wrong\.tsx.*nope/s);
  } finally {
    rmSync(wrong);
  }
  // The package's React declaration itself, with skipLibCheck off (Next's own .d.ts need it on):
  // a consumer of agent-rtc/react with React alone.
  cpSync(join(ROOT, "tests/e2e/fixtures/react-types.tsx"), join(app, "react-types.tsx"));
  writeFileSync(
    join(app, "tsconfig.agent-rtc.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, skipLibCheck: false, jsx: "react-jsx", module: "ESNext", moduleResolution: "bundler",
        target: "ES2022", lib: ["ES2022", "DOM"], types: [], typeRoots: ["./node_modules/@types"],
      },
      files: ["react-types.tsx"],
    }),
  );
  sh(join(app, "node_modules/.bin/tsc"), ["-p", "tsconfig.agent-rtc.json"], app);
});

test("next start, the SDK page: Start connects one call, Stop ends it with nothing left open", { timeout: 90000 }, async () => {
  await page.goto(`${server.url}/?baseUrl=${encodeURIComponent(agent.url)}`);
  const toggle = page.locator("#toggle");
  await toggle.waitFor({ timeout: WAIT });
  assert.equal(await page.locator("#agent").textContent(), agent.url);
  assert.equal(await page.locator("#state").textContent(), "disconnected");

  await toggle.click();
  await shown("connected");
  assert.deepEqual(await counts(), { pcs: 1, tracks: 1 });
  assert.equal(await toggle.textContent(), "Stop");

  await toggle.click();
  await shown("disconnected");
  // "disconnected" is shown once disconnect() resolved: everything is released by then.
  assert.deepEqual(await counts(), { pcs: 0, tracks: 0 });
  assert.equal(await toggle.textContent(), "Start");
  assert.deepEqual(pageErrors, []);
});

test("next start, ?transport=websocket: the call goes over a WebSocket (the audio module the SDK imports at run time is served by the build) and ends", { timeout: 90000 }, async () => {
  await page.goto(`${server.url}/?transport=websocket&baseUrl=${encodeURIComponent(agent.url)}`);
  const toggle = page.locator("#toggle");
  await toggle.waitFor({ timeout: WAIT });
  await toggle.click();
  await shown("connected");
  assert.deepEqual(await counts(), { pcs: 0, tracks: 1 }, "no peer connection: a WebSocket call with the microphone");
  await toggle.click();
  await shown("disconnected");
  assert.deepEqual(await counts(), { pcs: 0, tracks: 0 });
  assert.deepEqual(pageErrors, []);
});

test("next start, ?autostart=1 (production: one mount): one call from the effect, stopped by the button", { timeout: 90000 }, async () => {
  await page.goto(`${server.url}/?autostart=1&baseUrl=${encodeURIComponent(agent.url)}`);
  await poll("the call connected", async () => {
    const state = await page.locator("#state").textContent().catch(() => null);
    return { ok: state === "connected", state };
  }, WAIT);
  assert.deepEqual(await counts(), { pcs: 1, tracks: 1 });
  await page.locator("#toggle").click();
  await poll("the call ended", async () => ({ ok: (await page.locator("#state").textContent()) === "disconnected" }), WAIT);
  assert.deepEqual(await counts(), { pcs: 0, tracks: 0 });
  assert.deepEqual(pageErrors, []);
});

test("next start, the widget page: <agent-preview> connects from its Start button and stops", { timeout: 90000 }, async () => {
  await page.goto(`${server.url}/widget?baseUrl=${encodeURIComponent(agent.url)}`);
  await page.waitForFunction(() => customElements.get("agent-preview") !== undefined && document.querySelector("agent-preview"), null, { timeout: WAIT });
  const attrs = await page.evaluate(() => {
    const el = document.querySelector("agent-preview");
    return { platform: el.getAttribute("platform"), baseUrl: el.getAttribute("base-url"), transport: el.getAttribute("transport") };
  });
  assert.deepEqual(attrs, { platform: "pipecat-runner", baseUrl: agent.url, transport: "webrtc" });

  const go = page.locator("agent-preview #go"); // Playwright's CSS pierces the open shadow root
  await go.click();
  await poll("the widget connected", async () => {
    const state = await page.evaluate(() => document.querySelector("agent-preview").state);
    return { ok: state === "connected", state };
  }, WAIT);
  // The typed onstatechange prop is a real listener.
  assert.equal(await page.locator("#widget-state").textContent(), "connected");
  assert.deepEqual(await counts(), { pcs: 1, tracks: 1 });

  await go.click();
  await poll("the widget stopped", async () => {
    const state = await page.evaluate(() => document.querySelector("agent-preview").state);
    const c = await counts();
    return { ok: state === "disconnected" && c.pcs === 0 && c.tracks === 0, state, ...c };
  }, WAIT);
  assert.equal(await page.locator("#widget-state").textContent(), "disconnected");
  assert.deepEqual(pageErrors, []);
});

test("next dev, StrictMode's double mount with ?autostart=1: exactly one call and one live mic track", { timeout: 240000 }, async (t) => {
  await server.stop(); // one Next server at a time on 2 cores
  server = null;
  const t0 = performance.now();
  const dev = await startNext(["dev"], { timeoutMs: 180000 });
  try {
    timings.devReady = Math.round(performance.now() - t0);
    await page.goto(`${dev.url}/?autostart=1&baseUrl=${encodeURIComponent(agent.url)}`, { timeout: 180000 });
    await poll("the call connected", async () => {
      const state = await page.locator("#state").textContent().catch(() => null);
      return { ok: state === "connected", state };
    }, 180000);
    timings.devPage = Math.round(performance.now() - t0);
    t.diagnostic(`next dev ready ${timings.devReady} ms, page compiled and connected ${timings.devPage} ms`);
    // StrictMode did mount twice: the first effect run was cleaned up before the second.
    const runs = consoleLines.filter((l) => l.startsWith("agent-rtc example: call effect"));
    assert.deepEqual(runs, ["agent-rtc example: call effect run 1", "agent-rtc example: call effect cleanup 1", "agent-rtc example: call effect run 2"]);
    assert.deepEqual(await counts(), { pcs: 1, tracks: 1 });
    // And nothing more arrives later from the aborted first run.
    const total = await page.evaluate(() => ({ created: window.__pcs.length, gum: window.__gumCalls }));
    t.diagnostic(`peer connections created ${total.created}, getUserMedia calls ${total.gum}`);
    assert.deepEqual(await counts(), { pcs: 1, tracks: 1 });

    await page.locator("#toggle").click();
    await poll("the call ended", async () => ({ ok: (await page.locator("#state").textContent()) === "disconnected" }), WAIT);
    assert.deepEqual(await counts(), { pcs: 0, tracks: 0 });
    assert.deepEqual(pageErrors, []);
  } finally {
    await dev.stop();
  }
});
