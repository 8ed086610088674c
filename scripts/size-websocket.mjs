// What the WebSocket transport costs a page: pkg/ (as `make pkg` built it) against the same
// release build without the transport, which `make bench` writes to test-output/pkg-no-websocket
// (the crate's `websocket` feature off; a measuring build, not shipped: its connectWebSocket is
// gone and transport "websocket"/"auto" fall to `unsupported`). Prints both totals
// (page-bytes.mjs) and the difference; with --json FILE writes them. The issue that added the
// transport allows it 8 KB.
//
// Run: make bench (it builds both first).

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gz, pageBytes } from "./page-bytes.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(ROOT, "test-output/pkg-no-websocket");
// The same short names between glue and wasm as pkg/ has (package.sh).
execFileSync("node", [join(ROOT, "scripts/minify-names.mjs"), out], { stdio: "ignore" });
const full = await pageBytes(join(ROOT, "pkg"));
const without = await pageBytes(out);
const cost = full.totalGzip - without.totalGzip;
// The audio file a WebSocket call fetches (worklet and graph), minified as a bundler would.
const esbuild = await import("esbuild");
const audioJs = (await esbuild.transform(readFileSync(join(ROOT, "pkg/agent-rtc-audio.js"), "utf8"), { minify: true, format: "esm" })).code;
const audioFile = gz(Buffer.from(audioJs));
console.log("What the WebSocket transport costs a page (wasm gzip + glue and snippets minified+gzip):");
console.log(`   with it     ${full.totalGzip} B (wasm ${full.wasmGzip}, glue ${full.glueMinifiedGzip}, snippets ${full.snippetsMinifiedGzip})`);
console.log(`   without it  ${without.totalGzip} B (wasm ${without.wasmGzip}, glue ${without.glueMinifiedGzip}, snippets ${without.snippetsMinifiedGzip})`);
console.log(`   the transport: ${cost} B (allowed: 8,000 B)`);
console.log(`   and on a WebSocket call's start only: agent-rtc-audio.js, ${audioFile} B minified+gzip`);
const json = process.argv.indexOf("--json");
if (json > 0) writeFileSync(process.argv[json + 1], JSON.stringify({ with: full, without, cost, audioFile }, null, 2));
