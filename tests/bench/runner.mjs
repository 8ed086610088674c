// The real Pipecat development runner (pipecat-ai 1.14 in .venv-pipecat, made by `make setup`)
// with the interop echo bot, for the benchmarks and the interop tests: one process on a free
// port of 127.0.0.1, serving every transport the runner has. Its output is kept: every bot
// prints a line when it starts, so `bots(sessionId)` counts the bots a call made.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../e2e/harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `host`: 127.0.0.1, or `localhost` for WebSocket calls (the runner's `wsUrl` is `ws://` only for
 * that host name; it still listens on loopback only). `args`: more runner flags (`--ws-auth token`).
 */
export async function startRunner(python, { timeoutMs = 60000, host = "127.0.0.1", args = [] } = {}) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const url = `http://${host}:${port}`;
  let log = "";
  const launch = () => {
    const p = spawn(python, [join(ROOT, "tests/interop/bot.py"), "--host", host, "--port", String(port), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    p.stdout.on("data", (d) => (log += d));
    p.stderr.on("data", (d) => (log += d));
    return p;
  };
  const stop = (p) =>
    new Promise((done) => {
      if (p.exitCode !== null || p.signalCode !== null) return done();
      p.on("exit", () => done());
      p.kill("SIGTERM");
      setTimeout(() => p.kill("SIGKILL"), 3000).unref();
    });
  let proc = launch();
  const t0 = performance.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the Pipecat runner exited: ${log.slice(-2000)}`);
    const up = await fetch(`${url}/start`, { method: "OPTIONS", signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (performance.now() - t0 > timeoutMs) {
      proc.kill("SIGKILL");
      throw new Error(`the Pipecat runner did not answer within ${timeoutMs / 1000} s: ${log.slice(-2000)}`);
    }
    await sleep(200);
  }
  return {
    url,
    log: () => log,
    bots: (sessionId) => (log.match(new RegExp(`agent-rtc-interop: bot started ${sessionId}`, "g")) || []).length,
    /**
     * Stops the runner and starts a new one on the same port, without waiting for it to answer
     * (the network may be cut): every session of the old one is gone, as after a deploy.
     */
    restart: async () => {
      await stop(proc);
      log += "agent-rtc-interop: runner restarted\n";
      proc = launch();
    },
    stop: () => stop(proc),
  };
}
