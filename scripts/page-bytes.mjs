// What a page pays for a build of the SDK in `dir` (pkg/ or a variant): the wasm at gzip -9, the
// JS glue and the snippets it imports minified by esbuild (as a bundler ships them) at gzip -9,
// each file on its own. Used by size-budget.mjs (the budget) and size-websocket.mjs (a build
// without the WebSocket transport, for what that transport costs).

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export const gz = (buf) => gzipSync(buf, { level: 9 }).length;

export async function pageBytes(dir) {
  const esbuild = await import("esbuild");
  const minify = async (code) => (await esbuild.transform(code, { minify: true, format: "esm", target: "es2020" })).code;
  const wasm = readFileSync(join(dir, "agent_rtc_bg.wasm"));
  const glue = readFileSync(join(dir, "agent_rtc.js"), "utf8");
  const minified = await minify(glue);
  let snippets = 0;
  const snippetDir = join(dir, "snippets");
  if (existsSync(snippetDir)) {
    for (const f of readdirSync(snippetDir, { recursive: true })) {
      if (String(f).endsWith(".js")) snippets += gz(Buffer.from(await minify(readFileSync(join(snippetDir, String(f)), "utf8"))));
    }
  }
  const sizes = {
    wasmRaw: wasm.length,
    wasmGzip: gz(wasm),
    glueRaw: Buffer.byteLength(glue),
    glueMinified: Buffer.byteLength(minified),
    glueMinifiedGzip: gz(Buffer.from(minified)),
    snippetsMinifiedGzip: snippets,
  };
  sizes.totalGzip = sizes.wasmGzip + sizes.glueMinifiedGzip + snippets;
  return sizes;
}
