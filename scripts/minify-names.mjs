// Shortens the names by which the JS glue and the wasm know each other, in both files at once.
//
// wasm-bindgen names each import `__wbg_<method>_<16 hex digits>` under the module
// "./agent_rtc_bg.js", and some exports carry a hash too. Those names are not API: only the glue
// (pkg/agent_rtc.js) uses them, as the keys of the imports object it hands to the instance and as
// `wasm.<export>` calls. A bundler's minifier cannot shorten object keys and property names, and
// hex digits do not compress, so every page paid for ~165 random names twice (wasm and glue).
// This renames every import to a short identifier under the module "a" and every export but
// `memory` likewise, and rewrites the glue and pkg/agent_rtc_bg.wasm.d.ts to match.
//
// It refuses (exit 1, files untouched) when the glue does not hold each name exactly where it
// expects it: a wasm-bindgen upgrade that changes the glue's shape must be looked at, not guessed.
//
// Run by scripts/package.sh after wasm-pack; `node scripts/minify-names.mjs [pkg-dir]`.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2] || "pkg";
const WASM = join(dir, "agent_rtc_bg.wasm");
const GLUE = join(dir, "agent_rtc.js");
const DTS = join(dir, "agent_rtc_bg.wasm.d.ts");
const MODULE = "./agent_rtc_bg.js";
const fail = (msg) => {
  console.error(`minify-names: ${msg}`);
  process.exit(1);
};

// ---- wasm binary reading and writing (only what the import and export sections need)
const bytes = readFileSync(WASM);
let pos = 0;
const uleb = () => {
  let result = 0;
  let shift = 0;
  let byte;
  do {
    if (pos >= bytes.length) fail("truncated wasm");
    byte = bytes[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return result;
};
const name = () => {
  const len = uleb();
  const s = bytes.subarray(pos, pos + len).toString("utf8");
  pos += len;
  return s;
};
const encUleb = (n) => {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const encName = (s) => {
  const b = Buffer.from(s, "utf8");
  return Buffer.concat([encUleb(b.length), b]);
};
const limits = () => {
  const flags = bytes[pos++];
  uleb();
  if (flags & 1) uleb();
};

// Short identifiers: a letter, then bijective base 62 (a..z A..Z 0..9), so every index has its own
// name. Reserved words are skipped: agent_rtc_bg.wasm.d.ts declares each export as a `const`.
const FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const REST = FIRST + "0123456789";
const shortName = (i) => {
  let s = FIRST[i % FIRST.length];
  for (let q = Math.floor(i / FIRST.length); q > 0; q = Math.floor((q - 1) / REST.length)) s += REST[(q - 1) % REST.length];
  return s;
};

const RESERVED = new Set(["do", "if", "in", "for", "let", "new", "try", "var", "case", "else", "enum", "eval", "null", "this", "true", "void", "with"]);
const namer = () => {
  let next = 0;
  return () => {
    let s;
    do s = shortName(next++);
    while (RESERVED.has(s));
    return s;
  };
};
const nextImport = namer();
const nextExport = namer();

if (bytes.readUInt32LE(0) !== 0x6d736100) fail(`${WASM} is not a wasm module`);
pos = 8;
const parts = [bytes.subarray(0, 8)];
const imports = new Map(); // old → new
const exports = new Map();
while (pos < bytes.length) {
  const start = pos;
  const id = bytes[pos++];
  const len = uleb();
  const body = pos;
  const end = body + len;
  if (id === 2) {
    const entries = [];
    const count = uleb();
    for (let i = 0; i < count; i++) {
      const module = name();
      const field = name();
      const descStart = pos;
      const kind = bytes[pos++];
      if (kind === 0) uleb();
      else if (kind === 1) (pos++, limits());
      else if (kind === 2) limits();
      else if (kind === 3) pos += 2;
      else fail(`import kind ${kind}`);
      if (module === "a" && i === 0) {
        console.log("minify-names: already done");
        process.exit(0);
      }
      if (module !== MODULE) fail(`import ${module}.${field}: only "${MODULE}" is expected`);
      if (imports.has(field)) fail(`import ${field} twice`);
      imports.set(field, nextImport());
      entries.push(Buffer.concat([encName("a"), encName(imports.get(field)), bytes.subarray(descStart, pos)]));
    }
    if (pos !== end) fail("import section size");
    const content = Buffer.concat([encUleb(count), ...entries]);
    parts.push(Buffer.from([id]), encUleb(content.length), content);
  } else if (id === 7) {
    const entries = [];
    const count = uleb();
    for (let i = 0; i < count; i++) {
      const field = name();
      const descStart = pos;
      pos++;
      uleb();
      const renamed = field === "memory" ? field : nextExport();
      if (field !== "memory") exports.set(field, renamed);
      entries.push(Buffer.concat([encName(renamed), bytes.subarray(descStart, pos)]));
    }
    if (pos !== end) fail("export section size");
    const content = Buffer.concat([encUleb(count), ...entries]);
    parts.push(Buffer.from([id]), encUleb(content.length), content);
  } else {
    parts.push(bytes.subarray(start, end));
  }
  pos = end;
}
if (!imports.size) fail("no imports found: already minified?");

// ---- the glue: import keys inside __wbg_get_imports, exports as `wasm.<name>`
let glue = readFileSync(GLUE, "utf8");
const begin = glue.indexOf("function __wbg_get_imports()");
const close = glue.indexOf("\n}\n", begin);
if (begin < 0 || close < 0) fail("no __wbg_get_imports() in the glue");
let table = glue.slice(begin, close);
for (const [old, renamed] of imports) {
  const key = new RegExp(`(^|\\n)(\\s+)${old}:`, "g");
  const hits = table.match(key)?.length ?? 0;
  if (hits !== 1) fail(`import ${old} is a key ${hits} times in __wbg_get_imports (expected 1)`);
  table = table.replace(key, `$1$2${renamed}:`);
}
const moduleKey = `"${MODULE}": import0`;
if (table.split(moduleKey).length !== 2) fail(`no ${moduleKey} in __wbg_get_imports`);
table = table.replace(moduleKey, `"a": import0`);
glue = glue.slice(0, begin) + table + glue.slice(close);

const used = new Set([...glue.matchAll(/\bwasm\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]));
for (const u of used) if (u !== "memory" && !exports.has(u)) fail(`the glue calls wasm.${u}, which the module does not export`);
glue = glue.replace(/\bwasm\.([A-Za-z_$][\w$]*)/g, (m, n) => (exports.has(n) ? `wasm.${exports.get(n)}` : m));
if (glue.includes(MODULE)) fail(`the glue still names ${MODULE}`);

let dts = readFileSync(DTS, "utf8");
dts = dts.replace(/^export const ([\w$]+):/gm, (m, n) => (exports.has(n) ? `export const ${exports.get(n)}:` : m));

writeFileSync(WASM, Buffer.concat(parts));
writeFileSync(GLUE, glue);
writeFileSync(DTS, dts);
console.log(`minify-names: ${imports.size} imports, ${exports.size} exports renamed`);
