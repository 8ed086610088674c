// The npm package as a frontend consumes it: `npm pack` of pkg/, installed from the tarball into a
// copy of examples/vite (its own lock file pins vite and typescript), type-checked with
// `tsc --strict` on lib ES2022 + DOM (and ESNext + DOM), built for production by Vite, webpack 5
// and esbuild (the .wasm copied beside the bundle, or its URL imported), and each build run in headless Chromium against a fresh local agent: the SDK
// connects and disconnects, and the widget is registered and connects. examples/plain (no build
// step, pkg/ imported as it is) the same. Records each bundler's output size in
// test-output/bundle-sizes.json.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/package.test.mjs

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { OUT, ROOT, TRACK_PCS, freshPkg, launchChromium, openPage, rmSync, serveStatic, startAgent, workDir } from "./harness.mjs";

const WAIT = { timeout: 20000 };
const BUILD_TIMEOUT = 180000;

let dir; // the work dir: tarball, the example's copy and the three builds
let app; // the example's copy
let tarball;
let packed; // npm pack --json: files in the tarball
let agent;
let browser;
let page;
let pageErrors;
const builds = {}; // name → { dir, page }
const sizes = {};

function sh(cmd, args, cwd, env = {}) {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, npm_config_update_notifier: "false", ...env },
      timeout: BUILD_TIMEOUT,
    });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${e.stdout || ""}${e.stderr || ""}`);
  }
}

/** Files under d (recursively) with their raw and gzip -9 sizes, grouped as js / wasm. */
function measure(d) {
  const out = { js: 0, jsGzip: 0, wasm: 0, wasmGzip: 0, files: [] };
  const walk = (p) => {
    for (const name of readdirSync(p)) {
      const f = join(p, name);
      if (statSync(f).isDirectory()) walk(f);
      else if (/\.(m?js|wasm)$/.test(name)) {
        const buf = readFileSync(f);
        const kind = name.endsWith(".wasm") ? "wasm" : "js";
        out[kind] += buf.length;
        out[`${kind}Gzip`] += gzipSync(buf, { level: 9 }).length;
        out.files.push(f.slice(d.length + 1));
      }
    }
  };
  walk(d);
  return out;
}

/** The example's index.html with its entry replaced by a bundle. */
function htmlWith(script) {
  return readFileSync(join(app, "index.html"), "utf8").replace(
    /<script type="module" src="\/src\/main\.ts"><\/script>/,
    script,
  );
}

before(async () => {
  await freshPkg();
  dir = workDir("e2e-package");

  // 1. npm pack, as a publisher would.
  [packed] = JSON.parse(sh("npm", ["pack", join(ROOT, "pkg"), "--pack-destination", dir, "--json", "--loglevel=error"], dir));
  tarball = join(dir, packed.filename);

  // 2. The example app, installed from the tarball. vite and typescript come from the example's
  // lock file (npm's cache has them from `make setup`, so this is offline when it can be).
  app = join(dir, "vite");
  cpSync(join(ROOT, "examples/vite"), app, { recursive: true, filter: (src) => !/node_modules|dist/.test(src.slice(ROOT.length)) });
  sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], app);
  cpSync(join(ROOT, "tests/e2e/fixtures/consumer-types.ts"), join(app, "src/consumer-types.ts"));

  // 3. Three production builds of the same src/main.ts.
  sh(join(app, "node_modules/.bin/vite"), ["build", "--logLevel", "error"], app);
  builds.vite = { dir: join(app, "dist") };

  const esbuild = await import("esbuild");
  const esOut = join(dir, "esbuild");
  await esbuild.build({
    entryPoints: [join(app, "src/main.ts")],
    absWorkingDir: app,
    bundle: true,
    format: "esm", // the SDK finds its .wasm with import.meta.url
    minify: true,
    target: "es2022",
    outfile: join(esOut, "main.js"),
    logLevel: "error",
  });
  // esbuild keeps `new URL("agent_rtc_bg.wasm", import.meta.url)` as it is: the .wasm goes beside the bundle.
  cpSync(join(app, "node_modules/agent-rtc/agent_rtc_bg.wasm"), join(esOut, "agent_rtc_bg.wasm"));
  // ...and so does the SDK's audio file (a WebSocket call's), given to it as `workletUrl`.
  cpSync(join(app, "node_modules/agent-rtc/agent-rtc-audio.js"), join(esOut, "agent-rtc-audio.js"));
  writeFileSync(join(esOut, "index.html"), htmlWith('<script type="module" src="./main.js"></script>'));
  builds.esbuild = { dir: esOut };

  // esbuild the other way: the .wasm's URL imported (file loader) and handed to init() first.
  const esUrlOut = join(dir, "esbuild-url");
  writeFileSync(
    join(app, "esbuild-url-entry.js"),
    'import wasmUrl from "agent-rtc/agent_rtc_bg.wasm";\nimport init from "agent-rtc";\nawait init({ module_or_path: wasmUrl });\nawait import("./src/main.ts");\n',
  );
  await esbuild.build({
    entryPoints: [join(app, "esbuild-url-entry.js")],
    absWorkingDir: app,
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2022",
    loader: { ".wasm": "file" },
    outdir: esUrlOut,
    logLevel: "error",
  });
  writeFileSync(join(esUrlOut, "index.html"), htmlWith('<script type="module" src="./esbuild-url-entry.js"></script>'));
  cpSync(join(app, "node_modules/agent-rtc/agent-rtc-audio.js"), join(esUrlOut, "agent-rtc-audio.js"));
  builds["esbuild-url"] = { dir: esUrlOut };

  // webpack takes JavaScript: the same main.ts with its types stripped (no bundling) by esbuild.
  const wpSrc = join(app, "webpack-entry.js");
  const { code } = await esbuild.transform(readFileSync(join(app, "src/main.ts"), "utf8"), { loader: "ts", format: "esm", target: "es2022" });
  writeFileSync(wpSrc, code);
  const { default: webpack } = await import("webpack");
  const wpOut = join(dir, "webpack");
  const stats = await new Promise((done, fail) =>
    webpack(
      {
        mode: "production",
        context: app,
        entry: wpSrc,
        output: { path: wpOut, filename: "main.js", clean: true },
        performance: { hints: false },
        infrastructureLogging: { level: "error" },
      },
      (err, s) => (err ? fail(err) : done(s)),
    ),
  );
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  writeFileSync(join(wpOut, "index.html"), htmlWith('<script defer src="./main.js"></script>'));
  builds.webpack = { dir: wpOut };

  for (const [name, b] of Object.entries(builds)) sizes[name] = measure(b.dir);
  const pkgJs = readFileSync(join(ROOT, "pkg/agent_rtc.js"));
  const pkgWasm = readFileSync(join(ROOT, "pkg/agent_rtc_bg.wasm"));
  const widget = readFileSync(join(ROOT, "pkg/agent-preview.js"));
  sizes["plain (pkg/ as is)"] = {
    js: pkgJs.length + widget.length,
    jsGzip: gzipSync(pkgJs, { level: 9 }).length + gzipSync(widget, { level: 9 }).length,
    wasm: pkgWasm.length,
    wasmGzip: gzipSync(pkgWasm, { level: 9 }).length,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "bundle-sizes.json"), JSON.stringify(sizes, null, 2) + "\n");

  // 4. Where they run: each build on its own static server, and the plain example served from the
  // repository root (it imports ../../pkg/); a fresh agent on another port (cross-origin, as a
  // real app talks to its platform).
  for (const b of Object.values(builds)) b.server = await serveStatic(b.dir);
  builds.plain = { server: await serveStatic(ROOT), path: "/examples/plain/" };
  agent = await startAgent();
  browser = await launchChromium();
});

beforeEach(async () => {
  ({ page, errors: pageErrors } = await openPage(browser, { init: [TRACK_PCS] }));
});

afterEach(async () => {
  await page?.close();
});

after(async () => {
  await browser?.close();
  for (const b of Object.values(builds)) await b.server?.close();
  if (agent) await agent.stop();
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

test("the tarball ships the SDK, the widget with its types, the licenses, and an exports map to them", () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ["LICENSE-APACHE", "LICENSE-MIT", "README.md", "agent-preview-react.d.ts", "agent-preview.d.ts", "agent-preview.js", "agent-rtc-audio.js", "agent-rtc-ui.js", "agent-rtc-ui.d.ts", "agent_rtc.d.ts", "agent_rtc.js", "agent_rtc_bg.wasm", "package.json"]) {
    assert.ok(files.includes(f), `${f} in the tarball: ${files}`);
  }
  const pj = JSON.parse(readFileSync(join(app, "node_modules/agent-rtc/package.json"), "utf8"));
  // Every target of the exports map exists in what was installed.
  const targets = Object.values(pj.exports).flatMap((v) => (typeof v === "string" ? [v] : Object.values(v)));
  for (const t of targets) assert.ok(existsSync(join(app, "node_modules/agent-rtc", t)), `exports target ${t} installed`);
  assert.ok(!JSON.stringify(pj).includes(".invalid"), "no placeholder URL in the metadata");
  assert.match(readFileSync(join(app, "node_modules/agent-rtc/LICENSE-APACHE"), "utf8"), /Apache License\s+Version 2\.0/);
});

test("both entry points import in Node, with no DOM (a server build): nothing touches the DOM at import time", () => {
  const modules = join(app, "node_modules");
  const script = `const sdk = await import("agent-rtc");
const w = await import("agent-rtc/agent-preview.js");
const ui = await import("agent-rtc/ui-agent");
console.log(JSON.stringify({ sdk: typeof sdk.startAndConnect, widget: typeof w.AgentPreview, describe: typeof w.describeError, ui: typeof ui.enableUiAgent }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: app, encoding: "utf8", env: { ...process.env, NODE_PATH: modules } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { sdk: "function", widget: "function", describe: "function", ui: "function" });
});

test("tsc --strict passes for a consumer on lib ES2022 + DOM and on ESNext + DOM, skipLibCheck off", () => {
  const tsc = join(app, "node_modules/.bin/tsc");
  const tsconfig = JSON.parse(readFileSync(join(app, "tsconfig.json"), "utf8")).compilerOptions;
  assert.deepEqual([tsconfig.strict, tsconfig.skipLibCheck, tsconfig.lib], [true, false, ["ES2022", "DOM"]]);
  sh(tsc, ["-p", "."], app); // src/main.ts and the type fixture
  sh(tsc, ["-p", ".", "--lib", "ESNext,DOM"], app); // where Symbol.dispose is declared by TypeScript too
  // The check can fail: a wrong option is an error.
  writeFileSync(join(app, "src/wrong.ts"), 'import { startSession } from "agent-rtc";\nstartSession({ platform: "nope" });\n');
  try {
    assert.throws(() => sh(tsc, ["-p", "."], app), /wrong\.ts.*Platform/s);
  } finally {
    rmSync(join(app, "src/wrong.ts"));
  }
});

for (const name of ["vite", "webpack", "esbuild", "esbuild-url", "plain"]) {
  test(`${name}: the SDK connects and disconnects, the widget is registered and connects`, { timeout: 90000 }, async (t) => {
    const b = builds[name];
    if (sizes[name]) t.diagnostic(`${name} output: ${JSON.stringify(sizes[name])}`);
    await page.goto(`${b.server.url}${b.path || "/"}?agent=${encodeURIComponent(agent.url)}`);
    // A production bundle that dropped `import "agent-rtc/agent-preview"` leaves an empty element.
    await page.waitForFunction(() => customElements.get("agent-preview") !== undefined, null, WAIT);

    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("state").value !== "connecting", null, WAIT);
    assert.equal(await page.locator("#state").textContent(), "connected");
    assert.equal(await page.evaluate(() => window.__openPcs()), 1);
    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("state").value === "disconnected", null, WAIT);
    assert.equal(await page.evaluate(() => window.__openPcs()), 0, "the SDK's connection is closed");

    // Over a WebSocket: the SDK imports its audio module at run time, by the URL the build gave
    // the file (bundlers are told to leave that import alone).
    const worklet = name.startsWith("esbuild") ? `&worklet=${encodeURIComponent(`${b.server.url}/agent-rtc-audio.js`)}` : "";
    await page.goto(`${b.server.url}${b.path || "/"}?transport=websocket${worklet}&agent=${encodeURIComponent(agent.url)}`);
    await page.waitForFunction(() => customElements.get("agent-preview") !== undefined, null, WAIT);
    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("state").value !== "connecting", null, WAIT);
    assert.equal(await page.locator("#state").textContent(), "connected", "a WebSocket call");
    assert.equal(await page.evaluate(() => window.__openPcs()), 0, "no peer connection over a WebSocket");
    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("state").value === "disconnected", null, WAIT);

    await page.locator("agent-preview").getByRole("button", { name: "Start" }).click();
    await page.waitForFunction(() => document.getElementById("widget-state").value !== "connecting", null, WAIT);
    assert.equal(await page.locator("#widget-state").textContent(), "connected");
    assert.equal(await page.evaluate(() => document.querySelector("agent-preview").connection.state), "connected");
    await page.locator("agent-preview").getByRole("button", { name: "Stop" }).click();
    await page.waitForFunction(() => document.getElementById("widget-state").value === "disconnected", null, WAIT);
    assert.equal(await page.evaluate(() => window.__openPcs()), 0, "the widget's connection is closed");
    assert.deepEqual(pageErrors, []);
  });
}
