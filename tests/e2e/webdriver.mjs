// A small W3C WebDriver client for Firefox and WebKit: playwright-core drives only its own patched
// builds, which cannot be installed here, so the stock firefox-esr is driven through geckodriver
// and WebKitGTK's MiniBrowser through WebKitWebDriver (on a virtual display: MiniBrowser has no
// headless mode). The drivers listen on 127.0.0.1 only; Firefox gets the prefs of
// webdriver-firefox.json (fake media, no network but loopback), the same file the wasm browser
// suites use; MiniBrowser its mock capture devices and an autoplay policy that allows audio.

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { OUT, ROOT, launchChromium, openPage } from "./harness.mjs";

export const GECKODRIVER = process.env.GECKODRIVER || join(process.env.HOME || "/root", ".cargo/bin/geckodriver");

/** The capabilities the wasm-bindgen runner gets too (`moz:firefoxOptions` with the prefs). */
export function firefoxCapabilities() {
  return JSON.parse(readFileSync(join(ROOT, "webdriver-firefox.json"), "utf8"));
}

/** Starts geckodriver on a free loopback port and opens one Firefox session. */
export async function launchFirefox({ timeoutMs = 60000 } = {}) {
  const profiles = join(OUT, "tmp");
  mkdirSync(profiles, { recursive: true });
  const proc = spawn(GECKODRIVER, ["--host", "127.0.0.1", "--port", "0", "--profile-root", profiles], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`geckodriver did not start: ${log}`)), 15000);
    proc.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${GECKODRIVER}: ${e.message} (make setup installs it)`));
    });
    createInterface({ input: proc.stdout }).on("line", (line) => {
      log += line + "\n";
      const m = /Listening on (127\.0\.0\.1:\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    });
  });
  const driver = new Driver(base, proc, () => log);
  try {
    await driver.newSession(firefoxCapabilities(), timeoutMs);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return driver;
}

export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER || "/usr/bin/WebKitWebDriver";
export const MINIBROWSER = process.env.MINIBROWSER || "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

/** Starts WebKitWebDriver (under xvfb-run) on a free loopback port and opens one MiniBrowser session. */
export async function launchWebKit({ timeoutMs = 60000, autoplay = "allow" } = {}) {
  const port = 30000 + Math.floor(Math.random() * 20000);
  const proc = spawn("xvfb-run", ["-a", WEBKIT_DRIVER, `--port=${port}`, "--host=127.0.0.1"], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited (make setup installs it): ${log}`);
    const up = await fetch(`${base}/status`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > end) {
      process.kill(-proc.pid, "SIGKILL");
      throw new Error(`WebKitWebDriver did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const driver = new Driver(base, proc, () => log, { group: true });
  const capabilities = {
    "webkitgtk:browserOptions": {
      binary: MINIBROWSER,
      args: ["--automation", "--enable-mock-capture-devices=true", "--enable-media-stream=true", `--autoplay-policy=${autoplay}`],
    },
  };
  try {
    await driver.newSession(capabilities, timeoutMs);
  } catch (e) {
    process.kill(-proc.pid, "SIGKILL");
    throw e;
  }
  return driver;
}

class Driver {
  /** `group`: the driver runs in its own process group (xvfb-run and its children), ended whole. */
  constructor(base, proc, log, { group = false } = {}) {
    this.base = base;
    this.proc = proc;
    this.log = log;
    this.group = group;
    this.id = null;
  }

  async cmd(method, path, body, timeoutMs = 120000) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      const r = await fetch(`${this.base}${path}`, {
        method,
        headers: body ? { "content-type": "application/json" } : undefined,
        body: body ? JSON.stringify(body) : undefined,
        signal: ac.signal,
      });
      const json = await r.json();
      if (!r.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
      return json.value;
    } finally {
      clearTimeout(timer);
    }
  }

  async newSession(alwaysMatch, timeoutMs) {
    const v = await this.cmd("POST", "/session", { capabilities: { alwaysMatch } }, timeoutMs);
    this.id = v.sessionId;
    this.capabilities = v.capabilities;
    await this.cmd("POST", `/session/${this.id}/timeouts`, { script: 90000, pageLoad: 30000 });
  }

  get version() {
    return this.capabilities?.browserVersion;
  }

  async goto(url) {
    await this.cmd("POST", `/session/${this.id}/url`, { url });
  }

  /**
   * Runs `fn(arg)` in the page (an async function, sent as source) and returns its JSON result;
   * a rejection in the page becomes an exception here, with the page's stack.
   */
  async run(fn, arg) {
    const script = `const [src, arg, done] = arguments;
      Promise.resolve().then(() => (0, eval)("(" + src + ")")(arg)).then(
        (value) => done({ ok: true, value }),
        (e) => done({ ok: false, error: String(e) + " at " + ((e && e.stack) || "") }));`;
    const r = await this.cmd("POST", `/session/${this.id}/execute/async`, { script, args: [fn.toString(), arg ?? null] });
    if (!r.ok) throw new Error(`in the page: ${r.error}`);
    return r.value;
  }

  /** A real (trusted) click, as a user's, on `selector` inside the shadow root of `#hostId`. */
  async click(hostId, selector) {
    const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
    const SHADOW = "shadow-6066-11e4-a52e-4f735466cecf";
    const host = await this.cmd("POST", `/session/${this.id}/element`, { using: "css selector", value: `#${hostId}` });
    const root = await this.cmd("GET", `/session/${this.id}/element/${host[ELEMENT]}/shadow`);
    const el = await this.cmd("POST", `/session/${this.id}/shadow/${root[SHADOW]}/element`, { using: "css selector", value: selector });
    await this.cmd("POST", `/session/${this.id}/element/${el[ELEMENT]}/click`, {});
  }

  /** Polls `fn(arg)` in the page until it returns something truthy. */
  async waitFor(fn, arg, { timeoutMs = 15000, what = "a condition" } = {}) {
    const end = Date.now() + timeoutMs;
    let last;
    while (Date.now() < end) {
      last = await this.run(fn, arg);
      if (last) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
  }

  async close() {
    try {
      if (this.id) await this.cmd("DELETE", `/session/${this.id}`, undefined, 30000);
    } finally {
      this.id = null;
      await new Promise((done) => {
        if (this.proc.exitCode !== null) return done();
        this.proc.on("exit", done);
        if (this.group) process.kill(-this.proc.pid, "SIGTERM");
        else this.proc.kill("SIGTERM");
      });
    }
  }
}

/**
 * Each browser engine as the same four operations, for suites that run one scenario in several:
 * goto(url), run(fn, arg) (a function evaluated in the page), errors() (the page's uncaught
 * errors: Chromium's; [] for the WebDriver engines, whose pages record their own), close().
 */
export const ENGINES = {
  Chromium: async () => {
    const browser = await launchChromium();
    const { page, errors } = await openPage(browser);
    return { goto: (url) => page.goto(url), run: (fn, arg) => page.evaluate(fn, arg), errors: () => errors, close: () => browser.close() };
  },
  Firefox: async () => {
    const ff = await launchFirefox();
    return { goto: (url) => ff.goto(url), run: (fn, arg) => ff.run(fn, arg), errors: () => [], close: () => ff.close() };
  },
  WebKitGTK: async () => {
    const wk = await launchWebKit();
    return { goto: (url) => wk.goto(url), run: (fn, arg) => wk.run(fn, arg), errors: () => [], close: () => wk.close() };
  },
};
