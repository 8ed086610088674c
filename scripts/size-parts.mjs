// Where the wasm's bytes are, by feature: the release build again with function names kept
// (wasm-bindgen --keep-debug, then wasm-opt with the package's own flags plus -g), each function
// body given to the part of the SDK its name points at, and for each part what the wasm would
// lose at gzip -9 without its code (the gzip of all function bodies, minus the gzip of all bodies
// but that part's). Those marginal figures do not add up to the total: gzip shares its dictionary
// across parts. Strings and other data are one row of their own.
//
// Run: node scripts/size-parts.mjs [--json FILE]   (after make pkg; make bench runs it)

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const gz = (buf) => gzipSync(buf, { level: 9 }).length;

// ---------------------------------------------------------------------------------------------
// The named build

function wasmOptFlags() {
  const toml = readFileSync(join(ROOT, "Cargo.toml"), "utf8");
  const m = toml.match(/\[package\.metadata\.wasm-pack\.profile\.release\][^[]*?wasm-opt\s*=\s*\[([^\]]*)\]/);
  if (!m) throw new Error("size-parts: no wasm-opt flags under [package.metadata.wasm-pack.profile.release]");
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

function namedBuild(dir) {
  const input = join(ROOT, "target/wasm32-unknown-unknown/release/agent_rtc.wasm");
  execFileSync("wasm-bindgen", ["--target", "web", "--keep-debug", "--out-dir", dir, input], { stdio: "inherit" });
  const out = join(dir, "named.wasm");
  execFileSync("wasm-opt", [join(dir, "agent_rtc_bg.wasm"), ...wasmOptFlags(), "-g", "--strip-dwarf", "-o", out], {
    stdio: "inherit",
  });
  return readFileSync(out);
}

// ---------------------------------------------------------------------------------------------
// Reading the module: function bodies and their names

function reader(buf) {
  let pos = 0;
  const r = {
    get pos() {
      return pos;
    },
    set pos(p) {
      pos = p;
    },
    byte: () => buf[pos++],
    leb() {
      let result = 0;
      let shift = 0;
      for (;;) {
        const b = buf[pos++];
        result += (b & 0x7f) * 2 ** shift;
        if (!(b & 0x80)) return result;
        shift += 7;
      }
    },
    name() {
      const n = r.leb();
      const s = buf.subarray(pos, pos + n).toString("utf8");
      pos += n;
      return s;
    },
  };
  return r;
}

function parse(buf) {
  if (buf.readUInt32LE(0) !== 0x6d736100) throw new Error("size-parts: not a wasm module");
  const r = reader(buf);
  r.pos = 8;
  let importedFns = 0;
  const bodies = [];
  const names = new Map();
  const sections = {};
  while (r.pos < buf.length) {
    const id = r.byte();
    const size = r.leb();
    const start = r.pos;
    const end = start + size;
    if (id === 2) {
      const count = r.leb();
      for (let i = 0; i < count; i++) {
        r.name();
        r.name();
        const kind = r.byte();
        if (kind === 0) {
          r.leb();
          importedFns++;
        } else if (kind === 1) {
          r.byte();
          const flags = r.leb();
          r.leb();
          if (flags & 1) r.leb();
        } else if (kind === 2) {
          const flags = r.leb();
          r.leb();
          if (flags & 1) r.leb();
        } else if (kind === 3) {
          r.byte();
          r.byte();
        } else throw new Error(`size-parts: import kind ${kind}`);
      }
    } else if (id === 10) {
      const count = r.leb();
      for (let i = 0; i < count; i++) {
        const n = r.leb();
        bodies.push(buf.subarray(r.pos, r.pos + n));
        r.pos += n;
      }
    } else if (id === 0) {
      const custom = r.name();
      if (custom === "name") {
        while (r.pos < end) {
          const sub = r.byte();
          const subSize = r.leb();
          const subEnd = r.pos + subSize;
          if (sub === 1) {
            const count = r.leb();
            for (let i = 0; i < count; i++) {
              const idx = r.leb();
              names.set(idx, r.name());
            }
          }
          r.pos = subEnd;
        }
      }
    }
    const key = id === 0 ? "custom" : { 1: "type", 2: "import", 7: "export", 9: "elem", 10: "code", 11: "data" }[id] || `s${id}`;
    sections[key] = (sections[key] || 0) + size;
    r.pos = end;
  }
  const functions = bodies.map((body, i) => ({ name: names.get(importedFns + i) || `func${importedFns + i}`, body }));
  return { functions, sections };
}

// ---------------------------------------------------------------------------------------------
// Which part of the SDK a function belongs to

// Modules of the crate (agent_rtc::<first>::<second>), first match wins.
const FEATURES = [
  ["exported async functions' bodies (startSession, connectWebRtc, ... in their promise)", /^web::(export_promise|boxed_export_promise)\b/],
  ["WebSocket transport (socket, protobuf frames, audio worklet nodes, transport auto)", /^(web::websocket|websocket|frames|web::auto)\b/],
  ["conversation API (RTVI 2.x requests, function calls, typed events)", /^(web::conversation|conversation|rtvi)\b/],
  ["reconnect after a drop (policy, attempts, swap)", /^(web::recovery|recovery|machine::reconnect)\b/],
  ["devices and playback (mic switch, audio element, levels)", /^(web::media|web::audio)\b/],
  ["getStats", /^stats\b/],
  ["errors (codes, details, redaction)", /^(web::error|error)\b/],
  ["start (options, URLs, platforms, credentials)", /^(options|url|platform|session|web::start|web::session)\b/],
  ["connect (peer, offer/answer, trickle ICE, state machine)", /^(web::connect|web::peer|web::call|web::connection|signalling|trickle|machine)\b/],
  ["HTTP (fetch, deadlines)", /^(web::http|web::deadline|web::wait)\b/],
  ["JSON (in-crate value, JS walk)", /^(json|web::json|substring)\b/],
  ["events to JS (listeners, replay)", /^(web::events|web)\b/],
];
const CRATES = [
  ["async runtime (wasm-bindgen-futures: promises, task queue)", /^wasm_bindgen_futures\b/],
  ["bindings (wasm-bindgen, js-sys, web-sys, glue shims)", /^(wasm_bindgen|js_sys|web_sys|__wbg|__wbindgen|__externref|externref)/],
  ["gloo-net, gloo-timers, gloo-events", /^gloo_/],
  ["serde, serde-wasm-bindgen", /^serde/],
  ["allocator (lol_alloc)", /^(lol_alloc|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|__rg_)/],
  ["Rust core/alloc/std (formatting, panics, collections, strings)", /^(core|alloc|std|<core|<alloc|<std|__rust|rust_)/],
];

// wasm-bindgen's export shims (`connection_sendText externref shim`) carry the method's body.
const EXPORTS = [
  ["WebSocket transport (socket, protobuf frames, audio worklet nodes, transport auto)", /^connectWebSocket\b/],
  ["conversation API (RTVI 2.x requests, function calls, typed events)", /^connection_(send|registerFunction|disconnectBot)/],
  ["events to JS (listeners, replay)", /^connection_(on|off)\b/],
  ["devices and playback (mic switch, audio element, levels)", /^(connection_(setMic|setCamera|setSpeaker|attachAudio|resumeAudio)|listDevices)/],
  ["getStats", /^connection_(getStats|timings)\b/],
  ["errors (codes, details, redaction)", /^isAgentRtcError\b/],
  ["start (options, URLs, platforms, credentials)", /^(session_|startSession\b)/],
  ["connect (peer, offer/answer, trickle ICE, state machine)", /^(connection_|connectWebRtc\b|startAndConnect\b)/],
];

function partOf(name) {
  // An exported async function's body is inlined into the closure its promise polls.
  if (/^js_sys::futures::future_to_promise::\{\{closure\}\}::\{\{closure\}\}/.test(name)) {
    return "exported async functions' bodies (startSession, connectWebRtc, ... in their promise)";
  }
  for (const [feature, re] of EXPORTS) if (re.test(name)) return feature;
  if (/(^|[<\s])(core|alloc|std)\[[0-9a-f]+\]::|^<(str|char|\[u8\]|&str)|^(memcmp|memcpy|memset|memmove|fmax|fmin|round)$/.test(name)) {
    return "Rust core/alloc/std (formatting, panics, collections, strings)";
  }
  // The first path inside the crate decides: `agent_rtc::web::call::start::{{closure}}`, or a
  // generic of std or wasm-bindgen instantiated for one of the crate's types.
  const m = name.match(/agent_rtc::((?:[a-z_]+::)*)/);
  if (m) {
    const path = m[1].replace(/::$/, "");
    for (const [feature, re] of FEATURES) if (re.test(path)) return feature;
    return "the crate's root (exports, lib.rs)";
  }
  const plain = name.replace(/^(<|impl |dyn |&|\*(const|mut) )+/, "");
  for (const [crate, re] of CRATES) if (re.test(plain)) return crate;
  return "other (unnamed or unmatched)";
}

// ---------------------------------------------------------------------------------------------

const args = process.argv.slice(2);
const jsonOut = args[0] === "--json" ? args[1] : undefined;
const dir = mkdtempSync(join(tmpdir(), "agent-rtc-size-parts-"));
try {
  const wasm = namedBuild(dir);
  const shipped = readFileSync(join(ROOT, "pkg/agent_rtc_bg.wasm"));
  const { functions, sections } = parse(wasm);
  const allCode = Buffer.concat(functions.map((f) => f.body));
  const codeGz = gz(allCode);
  const parts = new Map();
  for (const f of functions) {
    const p = partOf(f.name);
    if (!parts.has(p)) parts.set(p, { part: p, functions: 0, raw: 0, biggest: [] });
    const e = parts.get(p);
    e.functions++;
    e.raw += f.body.length;
    e.biggest.push([f.body.length, f.name]);
  }
  const rows = [...parts.values()].map((e) => {
    const without = Buffer.concat(functions.filter((f) => partOf(f.name) !== e.part).map((f) => f.body));
    e.gzipSaved = codeGz - gz(without);
    e.biggest = e.biggest
      .sort((a, b) => b[0] - a[0])
      .slice(0, 3)
      .map(([n, name]) => `${name.replace(/::h[0-9a-f]{16}$/, "")} ${n}`);
    return e;
  });
  rows.sort((a, b) => b.gzipSaved - a.gzipSaved);
  const result = {
    shippedWasmRaw: shipped.length,
    shippedWasmGzip: gz(shipped),
    namedCodeRaw: allCode.length,
    namedCodeGzip: codeGz,
    dataRaw: sections.data || 0,
    rows,
  };
  const pad = (s, n) => String(s).padStart(n);
  console.log(`Where the wasm's bytes are (function bodies by the part of the SDK they serve; release build with names kept):`);
  console.log(`   ${"part".padEnd(66)} ${pad("fns", 5)} ${pad("raw B", 8)} ${pad("gzip B if gone", 15)}`);
  for (const e of rows) console.log(`   ${e.part.padEnd(66)} ${pad(e.functions, 5)} ${pad(e.raw, 8)} ${pad(e.gzipSaved, 15)}`);
  console.log(`   all function bodies: ${allCode.length} B raw, ${codeGz} B gzip; data (strings, tables): ${result.dataRaw} B raw`);
  console.log(`   the shipped wasm: ${shipped.length} B raw, ${result.shippedWasmGzip} B gzip`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2) + "\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
