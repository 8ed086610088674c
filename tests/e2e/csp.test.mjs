// The SDK and the widget on a page served with a strict Content-Security-Policy (issue 26), in
// headless Chromium and Firefox ESR, against the local agent on another loopback origin:
//
//   default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self';
//   connect-src 'self' http://127.0.0.1:<agent> ws://127.0.0.1:<agent>;
//   require-trusted-types-for 'script'
//
// A call over WebRTC and one over a WebSocket (its audio worklet loaded by URL: no blob:, no eval)
// with the SDK, the same two with <agent-preview> (its styles applied: a constructed stylesheet,
// which `style-src 'self'` allows), and not one `securitypolicyviolation` event; a probe page under
// the same policy shows it is in force (its inline script refused). Trusted Types are
// enforced in Chromium (Firefox ESR has none): the test proves the policy is in force by a refused
// inline script and, in Chromium, a refused innerHTML. Subresource Integrity: the hashes `make pkg`
// writes (pkg/integrity.json), in an import map's `integrity` and in the .wasm's fetch, load the
// SDK; a wrong module hash stops every import of it (the page's module fails), a wrong .wasm hash
// makes init() reject with the browser's own TypeError.
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/csp.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";

import { ROOT, freshPkg, launchChromium, openPage, rmSync, serveStatic, startAgent, workDir } from "./harness.mjs";
import { launchFirefox } from "./webdriver.mjs";

let dir;
let agent;
let server;
let integrity;
const sriHashes = {}; // page path → sha256 of its inline import map

// First on every page (a classic script from 'self'): every violation, and every resource that
// failed to load (an `error` event in the capture phase).
const WATCH = `window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || "")));
window.loadErrors = [];
document.addEventListener("error", (e) => { if (e.target && e.target.src) window.loadErrors.push(e.target.src); }, true);
`;

// What the one deliberate violation (the inline script of every page) reports.
const INLINE = "script-src-elem inline ";

// The calls the test makes, by name (no eval in the page: the policy would refuse it).
const CALLS = `import init, * as sdk from "/pkg/agent_rtc.js";
import "/pkg/agent-preview.js";
const wasmIntegrity = document.documentElement.dataset.wasmIntegrity;
try {
  await init(wasmIntegrity ? { module_or_path: fetch("/pkg/agent_rtc_bg.wasm", { integrity: wasmIntegrity }) } : undefined);
  window.initResult = { ok: true };
} catch (e) {
  window.initResult = { ok: false, name: e && e.name, agentRtc: !!e && e.name === "AgentRtcError", message: String(e && e.message) };
}
async function played(conn) {
  for (let i = 0; i < 300; i++) {
    if ((await conn.getStats()).playedMs > 0) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
window.sdkCall = async ({ transport, baseUrl }) => {
  try {
    const conn = await sdk.startAndConnect({ platform: "pipecat-runner", baseUrl, transport, timeoutMs: 30000 });
    const r = { ok: true, transport: conn.transport, state: conn.state };
    if (transport === "websocket") r.played = await played(conn);
    await conn.disconnect();
    return r;
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
};
window.widgetCall = async ({ transport, baseUrl }) => {
  const el = document.createElement("agent-preview");
  el.setAttribute("platform", "pipecat-runner");
  el.setAttribute("base-url", baseUrl);
  el.setAttribute("transport", transport);
  document.body.appendChild(el);
  try {
    await el.start();
    const log = el.shadowRoot.querySelector("ol");
    const r = { ok: true, state: el.state, transport: el.transport, listStyle: log && getComputedStyle(log).listStyleType };
    await el.stop();
    r.after = el.state;
    return r;
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  } finally {
    el.remove();
  }
};
// Is Trusted Types in force? An HTML string assigned to innerHTML must be refused.
window.trustedTypesEnforced = async () => {
  if (!window.trustedTypes) return "absent";
  try {
    document.createElement("div").innerHTML = "<b>x</b>";
    return "not enforced";
  } catch {
    return "enforced";
  }
};
window.pageReady = true;
`;

const page = (extra = "", wasm = "") => `<!doctype html><html${wasm ? ` data-wasm-integrity="${wasm}"` : ""}><meta charset="utf-8"><title>strict CSP</title>
<script src="/watch.js"></script>
${extra}<script type="module" src="/calls.js"></script></html>`;

// A page with nothing but an inline script, served with the same policy: its one violation shows
// that the policy is in force (the test pages themselves must have none).
const PROBE = `<!doctype html><meta charset="utf-8"><title>probe</title>
<script src="/watch.js"></script>
<script>window.inlineRan = true;</script>
<script src="/probe.js"></script>`;

before(async () => {
  await freshPkg();
  integrity = JSON.parse(readFileSync(join(ROOT, "pkg/integrity.json"), "utf8"));
  dir = workDir("e2e-csp");
  cpSync(join(ROOT, "pkg"), join(dir, "pkg"), { recursive: true });
  writeFileSync(join(dir, "watch.js"), WATCH);
  writeFileSync(join(dir, "calls.js"), CALLS);
  writeFileSync(join(dir, "index.html"), page());
  writeFileSync(join(dir, "probe.html"), PROBE);
  writeFileSync(join(dir, "probe.js"), "window.pageReady = true;\n");
  // SRI: an import map's `integrity` checks every import of the SDK's modules (an integrity
  // attribute on one <script> would check that fetch only); its inline text is allowed by its
  // hash in script-src. The .wasm is fetched with its hash by calls.js.
  const importMap = (hashes) => JSON.stringify({ integrity: Object.fromEntries(Object.entries(hashes).filter(([f]) => f.endsWith(".js") && f !== "agent-rtc-audio.js").map(([f, h]) => [`/pkg/${f}`, h])) });
  const wrong = (hash) => hash.slice(0, 10) + (hash[10] === "A" ? "B" : "A") + hash.slice(11);
  const sriPage = (name, hashes) => {
    const map = importMap(hashes);
    sriHashes[`/${name}`] = createHash("sha256").update(map).digest("base64");
    writeFileSync(join(dir, name), page(`<script type="importmap">${map}</script>\n`, hashes["agent_rtc_bg.wasm"]));
  };
  sriPage("sri.html", integrity);
  sriPage("sri-bad-js.html", { ...integrity, "agent_rtc.js": wrong(integrity["agent_rtc.js"]) });
  sriPage("sri-bad-wasm.html", { ...integrity, "agent_rtc_bg.wasm": wrong(integrity["agent_rtc_bg.wasm"]) });
  // Imports both entry points and calls nothing: what does the page fetch?
  writeFileSync(join(dir, "import-only.js"), `import "/pkg/agent_rtc.js";\nimport "/pkg/agent-preview.js";\nwindow.resources = () => performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname);\nwindow.widgetDefined = () => !!customElements.get("agent-preview") && !!document.querySelector("agent-preview").shadowRoot;\nwindow.pageReady = true;\n`);
  writeFileSync(join(dir, "import-only.html"), `<!doctype html><meta charset="utf-8"><title>import only</title>\n<script src="/watch.js"></script>\n<script type="module" src="/import-only.js"></script>\n<agent-preview platform="pipecat-runner"></agent-preview>`);
  agent = await startAgent();
  const port = new URL(agent.url).port;
  const csp = (path) => [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval'${sriHashes[path] ? ` 'sha256-${sriHashes[path]}'` : ""}`,
    "style-src 'self'",
    `connect-src 'self' http://127.0.0.1:${port} ws://127.0.0.1:${port}`,
    "require-trusted-types-for 'script'",
  ].join("; ");
  server = await serveStatic(dir, { headers: (path) => (path.endsWith(".html") ? { "content-security-policy": csp(path) } : {}) });
});

after(async () => {
  await server?.close();
  if (agent) await agent.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Each engine as: open a page and wait for it, call a page function by name, close.
const ENGINES = {
  Chromium: async () => {
    const browser = await launchChromium();
    const { page: p, errors } = await openPage(browser);
    const call = (name, arg) => p.evaluate(([n, a]) => window[n](a), [name, arg ?? null]);
    const read = (name) => p.evaluate((n) => (window[n] === undefined ? null : window[n]), name);
    return { goto: (url) => p.goto(url), call, read, errors: () => errors, close: () => browser.close() };
  },
  Firefox: async () => {
    const ff = await launchFirefox();
    // The WebDriver script names the page function: nothing is compiled in the page.
    const exec = async (script, args) => {
      const r = await ff.cmd("POST", `/session/${ff.id}/execute/async`, { script, args });
      if (!r.ok) throw new Error(`in the page: ${r.error}`);
      return r.value;
    };
    const call = (name, arg) =>
      exec(
        `const [n, a, done] = arguments; Promise.resolve(window[n](a)).then((value) => done({ ok: true, value }), (e) => done({ ok: false, error: String(e) }));`,
        [name, arg ?? null],
      );
    const read = (name) => exec(`const [n, done] = arguments; done({ ok: true, value: window[n] === undefined ? null : window[n] });`, [name]);
    return { goto: (url) => ff.goto(url), call, read, errors: () => [], close: () => ff.close() };
  },
};

/** Opens `path` and waits (with a deadline) until its module ran or a load failed. */
async function open(b, path) {
  await b.goto(`${server.url}${path}`);
  const end = Date.now() + 30000;
  for (;;) {
    if ((await b.read("pageReady")) === true || (await b.read("loadErrors"))?.length) return;
    if (Date.now() > end) assert.fail(`${path} did not load in 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const engine of Object.keys(ENGINES)) {
  test(`${engine}: under the strict CSP the SDK and the widget connect over WebRTC and over a WebSocket, with no securitypolicyviolation`, { timeout: 240_000 }, async () => {
    const b = await ENGINES[engine]();
    try {
      await open(b, "/index.html");
      assert.deepEqual(await b.read("initResult"), { ok: true });
      for (const transport of ["webrtc", "websocket"]) {
        const r = await b.call("sdkCall", { transport, baseUrl: agent.url });
        assert.ok(r.ok, `${transport}: ${JSON.stringify(r)}`);
        assert.equal(r.transport, transport);
        assert.equal(r.state, "connected");
        if (transport === "websocket") assert.equal(r.played, true, "the bot's audio played through the worklet");
        const w = await b.call("widgetCall", { transport, baseUrl: agent.url });
        assert.ok(w.ok, `widget over ${transport}: ${JSON.stringify(w)}`);
        assert.equal(w.state, "connected");
        assert.equal(w.transport, transport);
        assert.equal(w.listStyle, "none", "the widget's stylesheet applies under style-src 'self'");
        assert.equal(w.after, "disconnected");
      }
      assert.deepEqual(await b.read("violations"), [], "not one securitypolicyviolation");
      // Trusted Types in force (this provokes a violation of its own, after the count above).
      const tt = await b.call("trustedTypesEnforced");
      if (engine === "Chromium") assert.equal(tt, "enforced");
      assert.deepEqual(b.errors(), []);
      // The policy is in force: the probe page's inline script is refused.
      await open(b, "/probe.html");
      assert.deepEqual(await b.read("violations"), [INLINE]);
      assert.equal(await b.read("inlineRan"), null);
    } finally {
      await b.close();
    }
  });
}

test("Chromium: SRI — the hashes make pkg writes load the module and the .wasm; a wrong one is refused", { timeout: 120_000 }, async () => {
  const b = await ENGINES.Chromium();
  try {
    await open(b, "/sri.html");
    assert.deepEqual(await b.read("initResult"), { ok: true });
    const r = await b.call("sdkCall", { transport: "webrtc", baseUrl: agent.url });
    assert.ok(r.ok, JSON.stringify(r));

    await open(b, "/sri-bad-js.html");
    assert.equal(await b.read("pageReady"), null, "nothing ran");
    assert.ok((await b.read("loadErrors")).some((src) => src.endsWith("/calls.js")), "the page's module failed: its import of the SDK was refused");

    await open(b, "/sri-bad-wasm.html");
    const bad = await b.read("initResult");
    assert.equal(bad.ok, false);
    assert.equal(bad.name, "TypeError", `the browser's own error: ${JSON.stringify(bad)}`);
    assert.equal(bad.agentRtc, false);
    assert.deepEqual(await b.read("violations"), []);
  } finally {
    await b.close();
  }
});

test("Chromium: a page that imports the SDK and shows the widget but starts no call fetches nothing more (no .wasm, no worklet)", { timeout: 60_000 }, async () => {
  const b = await ENGINES.Chromium();
  try {
    await open(b, "/import-only.html");
    assert.equal(await b.call("widgetDefined"), true);
    // A fixed wait, to show that nothing is fetched later either.
    await new Promise((r) => setTimeout(r, 1000));
    // The module graph (the page's scripts, the SDK, the widget, the SDK's snippet modules) and
    // the browser's own favicon: no .wasm, no worklet, no request to a server.
    const fetched = (await b.call("resources")).filter((p) => p !== "/favicon.ico").sort();
    const graph = fetched.filter((p) => ["/import-only.js", "/watch.js", "/pkg/agent_rtc.js", "/pkg/agent-preview.js"].includes(p) || /^\/pkg\/snippets\/[^/]+\/inline\d+\.js$/.test(p));
    assert.deepEqual(fetched, graph);
    assert.ok(fetched.includes("/pkg/agent_rtc.js") && fetched.includes("/pkg/agent-preview.js"), JSON.stringify(fetched));
  } finally {
    await b.close();
  }
});
