// What every interop suite sets up: test pages served beside a copy of pkg/, and the real Pipecat
// development runner (the virtualenv `make setup` creates; tests/interop/bot.py) with token auth
// on `localhost`, as a deployment would run it. Both started before the file's tests and stopped
// after them.

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { ROOT, servePages } from "../e2e/harness.mjs";
import { startRunner } from "../bench/runner.mjs";

export const PYTHON = resolve(ROOT, process.env.PIPECAT_PYTHON || ".venv-pipecat/bin/python");

/**
 * `servePages(name, pages, options)` and the runner, for the file's tests: returns an object
 * whose `server` and `runner` are set once they are up.
 */
export function runnerWithPages(name, pages, options) {
  const live = { server: null, runner: null };
  before(async () => {
    assert.ok(existsSync(PYTHON), `no Pipecat virtualenv at ${PYTHON}: run make setup`);
    live.server = await servePages(name, pages, options);
    live.runner = await startRunner(PYTHON, { host: "localhost", args: ["--ws-auth", "token"] });
  });
  after(async () => {
    await live.runner?.stop();
    await live.server?.close();
  });
  return live;
}
