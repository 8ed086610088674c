// Interop with the real Pipecat development runner (pipecat-ai 1.14, in the virtualenv that
// `make setup` creates): an agent-rtc call to tests/interop/bot.py with the network cut for real
// (tests/bench/blackout.mjs in its runner mode, in a private network namespace):
//   - Chromium, `lo` down for 3, 12 and 20 s;
//   - Firefox ESR (geckodriver), UDP and the runner's TCP port dropped by nftables for 3, 12, 20 s
//     (its driver talks over `lo`, which must stay up);
//   - Chromium, the runner restarted during a 5 s cut: the session is gone when the path returns.
// Every call must come back with the echo on the same bot (the runner started one bot for the
// session) and with no more restart offers than the one that restored it; the call whose session
// is gone must end, typed. Timings are printed (and kept in test-output/interop-*.json), not
// asserted: those belong to `make bench`.
//
// Run: make test-interop (or PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { OUT, ROOT } from "../e2e/harness.mjs";

const PYTHON = resolve(ROOT, process.env.PIPECAT_PYTHON || ".venv-pipecat/bin/python");
const CUTS = process.env.INTEROP_CUTS || "3,12,20";

/** One blackout run against the runner; its report. */
function blackout(out, env) {
  assert.ok(existsSync(PYTHON), `no Pipecat virtualenv at ${PYTHON}: run make setup`);
  const run = spawnSync(process.execPath, [join(ROOT, "tests/bench/blackout.mjs")], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      AGENT_BIN: process.env.AGENT_BIN || "target/debug/agent-rtc-agent",
      BLACKOUT_RUNNER: PYTHON,
      BLACKOUT_CLIENTS: "agent-rtc",
      BLACKOUT_OUT: out,
      // Each call on its own cut: a 20 s cut past the runner's limits for one call must not
      // decide another's.
      BLACKOUT_SERIAL: "1",
      ...env,
    },
    timeout: 14 * 60_000,
  });
  assert.equal(run.status, 0, "the blackout run failed");
  const report = JSON.parse(readFileSync(join(OUT, out), "utf8"));
  assert.ok(!report.skipped, `skipped: ${report.skipped}`);
  assert.match(report.server, /pipecat runner/);
  return report;
}

function assertRecovered(report) {
  const cuts = CUTS.split(",").map(Number);
  assert.deepEqual(report.scenarios.map((s) => s.secs), cuts);
  for (const s of report.scenarios) {
    const r = s.results["agent-rtc"];
    const what = `${report.browser}, ${s.secs} s cut: ${JSON.stringify({ events: r.events, requests: r.requests, runner: r.runner })}`;
    assert.ok(r.recovered, `not recovered: ${what}`);
    assert.ok(!r.ended, `the call ended: ${what}`);
    assert.ok(r.toldMs !== null, `the app was never told: ${what}`);
    assert.equal(r.runner.botsStarted, 1, `one bot for the session: ${what}`);
    const restarts = r.requests.filter((q) => q.method === "POST" && q.path.endsWith("/api/offer") && q.restart_pc);
    // A cut that heals by itself needs no restart (Chromium's 12 s ones may still heal: ICE is
    // only `disconnected` then); one past ICE `failed` exactly one, posted once the path works,
    // so nothing late can replace the restored connection.
    assert.ok(restarts.length <= 1, `restart offers: ${restarts.length}: ${what}`);
    if (s.secs >= 16) {
      assert.equal(restarts.length, 1, `a long cut is restored by a restart: ${what}`);
      assert.equal(r.via, "new peer connection", what);
    }
    if (restarts.length) {
      assert.equal(restarts[0].status, 200, what);
      assert.ok(restarts[0].t >= s.restore.at - s.cut.at - 50, `the restart left before the path was back: ${what}`);
    }
  }
}

test("Chromium: calls to the real Pipecat runner recover from 3, 12 and 20 s network cuts on the same bot", { timeout: 15 * 60_000 }, () => {
  assertRecovered(blackout("interop-recovery.json", { BLACKOUT_CUTS: CUTS }));
});

test("Firefox: calls to the real Pipecat runner recover from 3, 12 and 20 s cuts (nftables) on the same bot", { timeout: 15 * 60_000 }, () => {
  const report = blackout("interop-recovery-firefox.json", { BLACKOUT_CUTS: CUTS, BLACKOUT_BROWSER: "firefox" });
  assert.equal(report.browser, "firefox");
  assert.match(report.cut, /nftables/);
  assertRecovered(report);
});

test("a call whose runner restarted during the cut ends typed: signalling, session-gone", { timeout: 5 * 60_000 }, () => {
  const report = blackout("interop-session-gone.json", { BLACKOUT_CUTS: "5", BLACKOUT_RESTART_RUNNER: "1" });
  const r = report.scenarios[0].results["agent-rtc"];
  const what = JSON.stringify({ events: r.events, requests: r.requests });
  assert.ok(!r.recovered, `recovered on a runner that lost the session: ${what}`);
  const error = r.events.find((e) => e.name === "error");
  assert.ok(error, `no error event: ${what}`);
  assert.equal(error.data.code, "signalling", what);
  assert.equal(error.data.reason, "session-gone", what);
  const ended = r.events.filter((e) => e.name === "disconnected");
  assert.deepEqual(ended.map((e) => e.data), ["peer-left"], what);
  // One restart offer found the session gone (404); nothing was tried after it.
  const offers = r.requests.filter((q) => q.method === "POST" && q.path.endsWith("/api/offer"));
  assert.deepEqual(offers.map((q) => [q.restart_pc, q.status]), [[true, 404]], what);
});
