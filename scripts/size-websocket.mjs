// What the WebSocket transport costs a page: pkg/ (as `make pkg` built it) against the same
// release build without the transport (the crate's `websocket` feature off; a measuring build,
// not shipped: its connectWebSocket is gone and transport "websocket"/"auto" fall to
// `unsupported`). Prints both totals (page-bytes.mjs) and the difference; with --json FILE
// writes them. The issue that added the transport allows it 8 KB.
//
// Run: node scripts/size-websocket.mjs [--json FILE]   (after make pkg; make bench runs it)

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gz, pageBytes } from "./page-bytes.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(ROOT, "test-output/pkg-no-websocket");
// The same flags as the Makefile's `pkg` target (PKG_ENV).
// Its own target directory: target/…/release/agent_rtc.wasm stays the package's (size-parts.mjs).
const env = {
  ...process.env,
  CARGO_TARGET_DIR: join(ROOT, "target/no-websocket"),
  RUSTC_BOOTSTRAP: "1",
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:
    "-Zlocation-detail=none -Zunstable-options -Csymbol-mangling-version=legacy -Clink-arg=-zstack-size=65536",
};
execFileSync(
  "wasm-pack",
  ["--log-level", "warn", "build", "--target", "web", "--release", "--mode", "no-install", "--out-dir", out, "--", "--no-default-features"],
  { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] },
);
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
