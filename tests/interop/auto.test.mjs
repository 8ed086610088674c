// `transport: "auto"` on a network that blocks UDP (tests/bench/udp-blocked.mjs: the browser, the
// local agent and the real Pipecat runner in a private network namespace, nftables dropping every
// UDP packet, TCP left open): in Chromium and Firefox, against both servers, the call is carried by
// a WebSocket after one `fallback` event with reason `ice-timeout`, and the echo of the microphone
// is heard, with no peer connection of the WebRTC try left open, the microphone asked for once and
// no track of it live after the call. The same namespace without the
// rule: the call stays on WebRTC, with no fallback.
//
// Run: make test-interop (or PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { OUT, ROOT } from "../e2e/harness.mjs";

const PYTHON = resolve(ROOT, process.env.PIPECAT_PYTHON || ".venv-pipecat/bin/python");

function auto(browser, block) {
  assert.ok(existsSync(PYTHON), `no Pipecat virtualenv at ${PYTHON}: run make setup`);
  const out = `auto-${browser}-${block ? "blocked" : "open"}.json`;
  const run = spawnSync(process.execPath, [join(ROOT, "tests/bench/udp-blocked.mjs")], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      AGENT_BIN: process.env.AGENT_BIN || "target/debug/agent-rtc-agent",
      AUTO_RUNNER: PYTHON,
      AUTO_BROWSER: browser,
      AUTO_BLOCK: block ? "1" : "0",
      AUTO_OUT: out,
    },
    timeout: 5 * 60_000,
  });
  assert.equal(run.status, 0, "the run failed");
  const report = JSON.parse(readFileSync(join(OUT, out), "utf8"));
  assert.ok(!report.skipped, `skipped: ${report.skipped}`);
  assert.deepEqual(Object.keys(report.results), ["agent", "runner"]);
  return report.results;
}

for (const browser of ["chromium", "firefox"]) {
  test(`${browser}: with UDP blocked, auto falls back to a WebSocket (ice-timeout) and the echo is heard, local agent and real runner`, { timeout: 6 * 60_000 }, () => {
    for (const [server, r] of Object.entries(auto(browser, true))) {
      const what = `${server}: ${JSON.stringify(r)}`;
      assert.ok(r.ok, what);
      assert.equal(r.transport, "websocket", what);
      assert.deepEqual(r.fallbacks, [{ from: "webrtc", to: "websocket", reason: "ice-timeout" }], what);
      assert.ok(r.peak > 0.02, `the echo was not heard: ${what}`);
      assert.equal(r.openPcsDuringCall, 0, `the WebRTC try left a peer connection open: ${what}`);
      assert.equal(r.micRequests, 1, `the microphone is asked for once: ${what}`);
      assert.equal(r.liveTracksAfter, 0, `a microphone track outlived the call: ${what}`);
    }
  });

  test(`${browser}: with UDP open, auto stays on WebRTC with no fallback`, { timeout: 6 * 60_000 }, () => {
    for (const [server, r] of Object.entries(auto(browser, false))) {
      const what = `${server}: ${JSON.stringify(r)}`;
      assert.ok(r.ok, what);
      assert.equal(r.transport, "webrtc", what);
      assert.deepEqual(r.fallbacks, [], what);
      assert.ok(r.peak > 0.02, `the echo was not heard: ${what}`);
    }
  });
}
