// What the UI agent's snapshot costs (issue 25): time to build it (`ui.snapshot()`, the same walk
// that every sent snapshot makes) on pages of 1,000 and 3,000 nodes of a form-like mix (headings,
// paragraphs, inputs with labels, buttons, links, list items, a table), and its size on the wire
// (the `ui-snapshot` message's JSON, raw and gzip -9), in headless Chromium and Firefox ESR.
// Median and p90 over UI_RUNS builds (default 30) after 5 discarded. Written to
// test-output/bench-ui-snapshot.json.
//
// Run: make bench, or (pkg/ built) node tests/bench/ui-snapshot.mjs

import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { OUT, ROOT, launchChromium, rmSync, serveStatic, workDir } from "../e2e/harness.mjs";
import { launchFirefox } from "../e2e/webdriver.mjs";

const RUNS = Number(process.env.UI_RUNS || 30);

const PAGE = `<!doctype html><meta charset="utf-8"><title>snapshot bench</title><main id="app"></main>
<script type="module">
  import { enableUiAgent } from "/pkg/agent-rtc-ui.js";
  // A form-like page of about n element nodes.
  window.build = (n) => {
    const app = document.getElementById("app");
    app.textContent = "";
    let made = 0;
    const add = (parent, tag, text, attrs = {}) => {
      const el = parent.appendChild(document.createElement(tag));
      if (text) el.textContent = text;
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      made++;
      return el;
    };
    for (let s = 0; made < n; s++) {
      const section = add(app, "section", "", { "aria-label": "Section " + s });
      add(section, "h2", "Heading " + s);
      add(section, "p", "Some prose about item " + s + " that a user reads.");
      const label = add(section, "label", "Field " + s);
      add(label, "input", "", { value: "value " + s });
      add(section, "button", "Action " + s);
      add(section, "a", "Link " + s, { href: "#" + s });
      const ul = add(section, "ul");
      for (let i = 0; i < 4; i++) add(ul, "li", "Entry " + s + "." + i);
      if (s % 5 === 0) {
        const t = add(section, "table");
        for (let r = 0; r < 2; r++) {
          const tr = add(t, "tr");
          for (let c = 0; c < 3; c++) add(tr, "td", "c" + r + c);
        }
      }
    }
    return document.getElementById("app").querySelectorAll("*").length;
  };
  const conn = { sendRtvi: () => "id", on: () => () => {} };
  window.measure = (runs) => {
    const ui = enableUiAgent(conn, { root: document.getElementById("app"), maxNodes: 100000 });
    for (let i = 0; i < 5; i++) ui.snapshot();
    const ms = [];
    let tree;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      tree = ui.snapshot();
      ms.push(performance.now() - t0);
    }
    ui.disable();
    const json = JSON.stringify({ label: "rtvi-ai", type: "ui-snapshot", id: "00000000", data: { tree } });
    const count = (n) => 1 + (n.children || []).reduce((a, c) => a + count(c), 0);
    return { ms, json, nodes: count(tree.root) };
  };
  window.pageReady = true;
</script>`;

const stats = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p90: at(0.9) };
};

const dir = workDir("bench-ui-snapshot");
mkdirSync(join(dir, "pkg"), { recursive: true });
cpSync(join(ROOT, "pkg"), join(dir, "pkg"), { recursive: true });
writeFileSync(join(dir, "index.html"), PAGE);
const server = await serveStatic(dir);
const report = { runs: RUNS, results: {} };
try {
  for (const engine of ["Chromium", "Firefox"]) {
    let run;
    let close;
    if (engine === "Chromium") {
      const browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => window.pageReady === true);
      run = (fn, arg) => page.evaluate(fn, arg);
      close = () => browser.close();
    } else {
      const ff = await launchFirefox();
      await ff.goto(`${server.url}/index.html`);
      await ff.waitFor(() => window.pageReady === true, null, { timeoutMs: 30000, what: "the page" });
      run = (fn, arg) => ff.run(fn, arg);
      close = () => ff.close();
    }
    try {
      for (const n of [1000, 3000]) {
        const elements = await run((k) => window.build(k), n);
        const m = await run((r) => window.measure(r), RUNS);
        const r = { elements, nodes: m.nodes, ms: stats(m.ms), bytes: m.json.length, gzip: gzipSync(Buffer.from(m.json), { level: 9 }).length };
        report.results[`${engine} ${n}`] = r;
        console.log(
          `ui snapshot, ${engine}, ${elements} elements -> ${r.nodes} nodes: build ${r.ms.median.toFixed(1)} ms (p90 ${r.ms.p90.toFixed(1)}), ` +
            `${(r.bytes / 1024).toFixed(1)} KB on the wire (${(r.gzip / 1024).toFixed(1)} KB gzip)`,
        );
      }
    } finally {
      await close();
    }
  }
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, "bench-ui-snapshot.json"), JSON.stringify(report, null, 2));
