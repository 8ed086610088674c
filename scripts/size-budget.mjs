// The size budget: what a page pays for the SDK — the release wasm at gzip -9 plus the JS glue
// and the snippets it imports (pkg/snippets/), minified (as a bundler ships them) at gzip -9 —
// must stay within size-budget.json. Files loaded only when used (agent-rtc-audio.js on a
// WebSocket call, agent-rtc-ui.js when imported, the widget) are not in it. A change that
// adds bytes raises the budget in the same commit, where a reviewer sees it. Deterministic: the
// same toolchain gives the same bytes.
//
// Run: make size (after make pkg); part of make test.

import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { pageBytes } from "./page-bytes.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const budget = JSON.parse(readFileSync(join(ROOT, "size-budget.json"), "utf8"));
const sizes = await pageBytes(join(ROOT, "pkg"));
const snippets = sizes.snippetsMinifiedGzip;

const kb = (n) => (n / 1000).toFixed(1) + " KB";
console.log(
  `size: wasm ${kb(sizes.wasmRaw)} raw, ${kb(sizes.wasmGzip)} gzip; glue ${kb(sizes.glueRaw)} raw, ` +
    `${kb(sizes.glueMinified)} minified, ${kb(sizes.glueMinifiedGzip)} minified+gzip; snippets ${snippets} B minified+gzip; ` +
    `total ${sizes.totalGzip} B (budget ${budget.totalGzip} B)`,
);
if (sizes.totalGzip > budget.totalGzip) {
  console.error(
    `size budget exceeded by ${sizes.totalGzip - budget.totalGzip} B: make the change smaller, or raise ` +
      `totalGzip in size-budget.json in the same commit and say why`,
  );
  process.exit(1);
}
if (budget.totalGzip - sizes.totalGzip > 1024) {
  console.log(`(the budget is ${budget.totalGzip - sizes.totalGzip} B above the size: lower it to lock the gain in)`);
}
