// The shipped wasm's stack is small (the Makefile's -zstack-size: 64 KiB where Rust's default is
// 1 MiB, so a page holds ~200 KiB of wasm memory, not ~1.2 MiB). Nothing on the wasm path recurses
// without a bound (JSON is at most 100 levels deep), so this measures the deepest the stack gets
// with the package as shipped, in headless Chromium against the local agent: a connect, the
// deepest JSON the SDK takes sent and echoed back, the same too deep, and option errors. The
// stack grows down from its top towards address 0 in fresh (zeroed) memory, so its high-water
// mark is where the first non-zero byte is. It must stay under half the stack, and the first KiB
// must stay untouched (wasm-opt's --low-memory-unused relies on that).
//
// Run: make test-e2e, or (pkg/ and the agent built) AGENT_BIN=... node --test tests/e2e/stack.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { ROOT, launchChromium, openPage, startAgent } from "./harness.mjs";

const STACK = Number(readFileSync(join(ROOT, "Makefile"), "utf8").match(/-zstack-size=(\d+)/)?.[1]);

let agent;
let browser;

before(async () => {
  agent = await startAgent(["--www", "www", "--pkg", "pkg"]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await agent?.stop();
});

// Runs in the page.
async function exercise({ base, stack }) {
  const sdk = await import("/pkg/agent_rtc.js");
  const exports = await sdk.default();
  const highWater = () => {
    const bytes = new Uint8Array(exports.memory.buffer, 0, stack);
    const first = bytes.findIndex((b) => b !== 0);
    return { used: first < 0 ? 0 : stack - first, lowKiBTouched: bytes.subarray(0, 1024).some((b) => b !== 0) };
  };
  const nested = (levels) => {
    let v = "leaf";
    for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { v };
    return v;
  };
  const out = { afterInit: highWater(), echoed: [], refused: [] };
  const conn = await sdk.startAndConnect({ platform: "pipecat-runner", baseUrl: base });
  try {
    out.afterConnect = highWater();
    // From deep to shallow: the deepest value whose echo comes back (the answer's envelope adds
    // levels of its own), and the ones the SDK refuses on the way out.
    for (const levels of [120, 101, 100, 99, 98, 97, 96, 95, 50, 10]) {
      try {
        const back = await conn.sendClientRequest("echo", nested(levels), { timeoutMs: 1500 });
        if (JSON.stringify(back) === JSON.stringify(nested(levels))) out.echoed.push(levels);
      } catch (e) {
        out.refused.push([levels, e.code]);
      }
      try {
        conn.sendClientMessage("deep", nested(levels));
      } catch (e) {
        if (e.code !== "invalid_options") throw e;
      }
    }
    for (const options of [
      { platform: "pipecat-runner", baseUrl: base, body: nested(99) },
      { platform: "pipecat-runner", baseUrl: base, body: nested(300) },
      { platform: "pipecat-cloud", agent: "a", apiKey: "k", headers: nested(99) },
    ]) {
      try {
        await sdk.startSession({ ...options, timeoutMs: 1500 });
      } catch (e) {
        out.refused.push(["startSession", e.code]);
      }
    }
  } finally {
    await conn.disconnect();
  }
  out.end = highWater();
  return out;
}

test("the deepest the stack gets, JSON at the depth limit included, is under half of the shipped stack", async () => {
  assert.ok(STACK >= 16384, `no -zstack-size in the Makefile (got ${STACK})`);
  const { page } = await openPage(browser);
  try {
    await page.goto(`${agent.url}/health`);
    const out = await page.evaluate(exercise, { base: agent.url, stack: STACK });
    console.log(`stack ${STACK} B: used ${out.afterConnect.used} B after a connect, ${out.end.used} B at the end; echoed at levels ${out.echoed.join(", ")}; refused ${JSON.stringify(out.refused)}`);
    assert.ok(out.echoed.length >= 3 && Math.max(...out.echoed) >= 95, `the deep echoes did not come back: ${JSON.stringify(out)}`);
    assert.ok(out.refused.some(([levels]) => levels === 120), `120 levels were not refused: ${JSON.stringify(out.refused)}`);
    // Refused on the way out (invalid_options) or, when only the answer is too deep to read,
    // failed as soon as it arrives (bad_response): never left to wait out its timeout.
    const echoes = out.refused.filter(([levels]) => typeof levels === "number");
    assert.ok(echoes.every(([, code]) => code === "invalid_options" || code === "bad_response"), `echo refusals: ${JSON.stringify(echoes)}`);
    assert.ok(echoes.some(([, code]) => code === "bad_response"), `no answer was too deep to read: ${JSON.stringify(echoes)}`);
    assert.ok(out.afterConnect.used > 0, "the stack was never seen in use: the scan is wrong");
    assert.ok(out.end.used < STACK / 2, `the stack reached ${out.end.used} of ${STACK} B`);
    assert.equal(out.end.lowKiBTouched, false, "something wrote to the first KiB of memory");
  } finally {
    await page.close();
  }
});
