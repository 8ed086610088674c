#!/usr/bin/env bash
# Finishes pkg/ after wasm-pack, so that what `npm pack pkg/` makes installs and builds in an app:
# the <agent-preview> widget and its types beside the SDK, the license files, an `exports` map,
# `sideEffects` that keeps the widget's registration in production bundles, and declarations that
# type-check with a plain `lib: ["ES2022", "DOM"]`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/package.json ] || { echo "package.sh: run wasm-pack build first (make pkg)" >&2; exit 1; }

# Short names between the glue and the wasm (see the script): −6.5 KB gzip for every page.
node scripts/minify-names.mjs pkg

cp www/agent-preview.js www/agent-preview.d.ts pkg/
# The JSX type of <agent-preview> for React 19 (`import type {} from "agent-rtc/react"`): types only.
cp www/agent-preview-react.d.ts pkg/
# The WebSocket transport's audio worklet, loaded by URL from beside agent_rtc.js (no blob: URL).
cp www/agent-rtc-audio.js pkg/
# The UI agent (RTVI 2.2), a module of its own: a page that does not import it pays nothing.
cp www/agent-rtc-ui.js www/agent-rtc-ui.d.ts pkg/
cp LICENSE-MIT LICENSE-APACHE pkg/

node - <<'JS'
const fs = require("fs");

// wasm-bindgen types `[Symbol.dispose]()` on its classes; `Symbol.dispose` is only declared by
// lib "esnext.disposable" (or @types/node). Declared here the way those do, it merges with theirs.
const dts = "pkg/agent_rtc.d.ts";
let d = fs.readFileSync(dts, "utf8");
const marker = "// agent-rtc: Symbol.dispose for libs before esnext.disposable";
if (d.includes("[Symbol.dispose]") && !d.includes(marker)) {
  d = d.replace(/^(\/\* tslint:disable \*\/\n\/\* eslint-disable \*\/\n)?/, (head) =>
    `${head}${marker}\ndeclare global {\n  interface SymbolConstructor {\n    readonly dispose: unique symbol;\n  }\n}\n\n`);
  fs.writeFileSync(dts, d);
}

const p = "pkg/package.json";
const j = JSON.parse(fs.readFileSync(p, "utf8"));
const widget = { types: "./agent-preview.d.ts", default: "./agent-preview.js" };
const files = ["agent_rtc.js", "agent_rtc.d.ts", "agent_rtc_bg.wasm", "agent_rtc_bg.wasm.d.ts",
  "agent-preview.js", "agent-preview.d.ts", "agent-preview-react.d.ts", "agent-rtc-audio.js", "agent-rtc-ui.js", "agent-rtc-ui.d.ts", "LICENSE-MIT", "LICENSE-APACHE", "README.md"];
if (fs.existsSync("pkg/snippets")) files.push("snippets/");
for (const f of files) if (!fs.existsSync(`pkg/${f.replace(/\/$/, "")}`)) throw new Error(`package.sh: pkg/${f} is missing`);
const out = {
  name: j.name,
  version: j.version,
  description: j.description,
  license: j.license,
  keywords: ["webrtc", "voice-agent", "pipecat", "rtvi", "wasm", "web-component"],
  type: "module",
  files,
  main: "./agent_rtc.js",
  module: "./agent_rtc.js",
  types: "./agent_rtc.d.ts",
  exports: {
    ".": { types: "./agent_rtc.d.ts", default: "./agent_rtc.js" },
    "./agent-preview": widget,
    "./agent-preview.js": widget,
    // The UI agent: enableUiAgent(conn, options).
    "./ui-agent": { types: "./agent-rtc-ui.d.ts", default: "./agent-rtc-ui.js" },
    // Types only: declares <agent-preview> among React's JSX intrinsic elements.
    "./react": { types: "./agent-preview-react.d.ts" },
    // For bundlers that do not follow `new URL("…wasm", import.meta.url)` (esbuild): import its URL
    // and pass it to init().
    "./agent_rtc_bg.wasm": "./agent_rtc_bg.wasm",
    // The audio worklet of the WebSocket transport, for bundlers that need to copy it by name.
    "./agent-rtc-audio.js": "./agent-rtc-audio.js",
    "./package.json": "./package.json",
  },
  // Importing the widget registers <agent-preview>, importing the UI agent adds
  // Connection.prototype.enableUiAgent: a bundler must keep those imports.
  sideEffects: ["./agent-preview.js", "./agent-rtc-ui.js", "./snippets/*"],
};
// A placeholder repository (a reserved example domain) is worse than none.
const repo = j.repository && j.repository.url;
if (repo && !/^https?:\/\/([^/]+\.)?(example(\.(com|org|net))?|[^/]+\.(invalid|example|test))(\/|$)/.test(repo)) {
  out.repository = j.repository;
  out.homepage = repo.replace(/\.git$/, "");
}
fs.writeFileSync(p, JSON.stringify(out, null, 2) + "\n");
JS

# Subresource Integrity: the sha384 of each file a page loads by URL, for an import map's
# `integrity` (the modules) and for init({ module_or_path: fetch(url, { integrity }) }) (the .wasm).
# The same hashes are written to pkg/integrity.json. See README.md, "Security headers".
node - pkg <<'JS'
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const dir = process.argv[2];
const out = {};
// The JS modules a page imports (the SDK's snippet modules too: agent_rtc.js imports them), the
// worklet and the .wasm.
const files = ["agent_rtc.js", "agent_rtc_bg.wasm", "agent-preview.js", "agent-rtc-audio.js", "agent-rtc-ui.js"];
const walk = (d) => {
  for (const e of fs.readdirSync(path.join(dir, d), { withFileTypes: true })) {
    const f = `${d}/${e.name}`;
    if (e.isDirectory()) walk(f);
    else if (f.endsWith(".js")) files.push(f);
  }
};
if (fs.existsSync(path.join(dir, "snippets"))) walk("snippets");
for (const f of files) {
  out[f] = "sha384-" + crypto.createHash("sha384").update(fs.readFileSync(path.join(dir, f))).digest("base64");
  console.log(`integrity ${f}: ${out[f]}`);
}
fs.writeFileSync(path.join(dir, "integrity.json"), JSON.stringify(out, null, 2) + "\n");
JS
