// The UI agent's snapshot builder and command executor (www/agent-rtc-ui.js) in headless Chromium
// and Firefox ESR, on a page with ARIA, `inert`, `aria-hidden`, hidden and display:none parts, an
// open shadow root (the <agent-preview> widget's own) and a list of 1,200 items, driven through a
// stand-in connection that records what the agent sends (the real-bot round trip is
// tests/interop/ui-agent.test.mjs). Plus, in Node, readUiCommand on the shapes a Pipecat server
// sends (payload fields absent or null). And the widget's "Let the agent see this page" switch with
// the local agent's bot, which finds an element by name in the snapshot and clicks it.
//
// Run: make test-e2e, or (pkg/ built) node --test tests/e2e/ui-agent.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { ROOT, launchChromium, openPage, poll, servePages, startAgent } from "./harness.mjs";
import { ENGINES } from "./webdriver.mjs";

const PAGE = `<!doctype html><meta charset="utf-8"><title>ui agent</title>
<style>.gone{display:none}</style>
<main id="app">
  <h1>Settings</h1>
  <h2 aria-level="3">Account</h2>
  <nav aria-label="Sections"><a href="#a">Alpha</a> <a href="#b">Beta</a></nav>
  <label for="name">Name</label> <input id="name" value="Ada">
  <label>Password <input id="pw" type="password" value="secret"></label>
  <input type="submit" value="Send">
  <button id="save">Save</button>
  <button id="off" disabled>Disabled one</button>
  <div role="button" tabindex="0" aria-label="Custom" aria-pressed="true" id="custom"></div>
  <span id="lbl">Notifications</span><input type="checkbox" aria-labelledby="lbl" checked id="notify">
  <div role="grid" aria-label="Table" aria-colcount="4" aria-rowcount="9"></div>
  <select id="color"><option>Red</option><option selected>Green</option></select>
  <details open><summary>More</summary><p>Inside details</p></details>
  <div inert><button>Inert button</button></div>
  <div aria-hidden="true"><button>Hidden by aria</button></div>
  <div hidden><button>Hidden attribute</button></div>
  <div class="gone"><button>Display none</button></div>
  <p id="para">Some <b>bold</b> prose.</p>
  <agent-preview id="w" platform="pipecat-runner"></agent-preview>
  <button id="far" style="position:absolute;top:5000px">Far below</button>
  <ul id="many"></ul>
</main>
<button id="outside">Outside</button>
<script type="module">
  import "/pkg/agent-preview.js";
  import { enableUiAgent } from "/pkg/agent-rtc-ui.js";
  const many = document.getElementById("many");
  for (let i = 0; i < 1200; i++) many.appendChild(document.createElement("li")).textContent = "Item " + i;
  // A stand-in for a Connection: what the agent sends, and the events it listens to.
  window.sent = [];
  window.handlers = {};
  window.fakeConn = {
    sendRtvi: (type, data) => {
      // As the SDK refuses a message larger than the data channel's maxMessageSize.
      if (window.fakeLimit && JSON.stringify(data).length > window.fakeLimit) throw Object.assign(new Error("too large"), { code: "invalid_options" });
      window.sent.push([type, JSON.parse(JSON.stringify(data))]);
      return "id";
    },
    on: (name, fn) => { (window.handlers[name] ||= new Set()).add(fn); return () => window.handlers[name].delete(fn); },
  };
  window.fire = async (name, data) => { for (const fn of window.handlers[name] || []) await fn(data); await new Promise((r) => setTimeout(r, 0)); };
  window.enable = (options) => {
    window.ui?.disable();
    window.sent = [];
    window.errors = [];
    window.commands = [];
    window.jobs = [];
    window.ui = enableUiAgent(window.fakeConn, { root: document.getElementById("app"), ...options });
    window.ui.on("error", (e) => window.errors.push(e.details.reason));
    window.ui.on("command", (c) => window.commands.push([c.command, c.ok, c.reason || null]));
    window.ui.on("job", (j) => window.jobs.push(j.kind));
  };
  window.flat = (node, out = []) => { out.push(node); for (const c of node.children || []) flat(c, out); return out; };
  window.find = (tree, role, name) => flat(tree.root).find((n) => n.role === role && n.name === name);
  window.pageReady = true;
</script>`;

// The widget on a page with a bell; the switch on, a call, and the bot asked to click "Ring".
const WIDGET_PAGE = `<!doctype html><meta charset="utf-8"><title>widget sees the page</title>
<agent-preview id="w" platform="pipecat-runner" transport="webrtc"></agent-preview>
<button id="bell" type="button">Ring</button> <output id="rung">0</output>
<script type="module">
  import "/pkg/agent-preview.js";
  document.getElementById("bell").onclick = () => (document.getElementById("rung").textContent = String(Number(document.getElementById("rung").textContent) + 1));
  const w = document.getElementById("w");
  w.setAttribute("base-url", location.origin);
  w.addEventListener("uiagent", (e) => (window.ui = e.detail));
  window.pageReady = true;
</script>`;

let server;
let agent;

before(async () => {
  server = await servePages("e2e-ui-agent", { "index.html": PAGE, "widget.html": WIDGET_PAGE });
  agent = await startAgent(["--www", server.dir, "--pkg", "pkg"]);
});

after(async () => {
  if (agent) await agent.stop();
  await server?.close();
});


async function open(engine) {
  const b = await ENGINES[engine]();
  await b.goto(`${server.url}/index.html`);
  const end = Date.now() + 20000;
  while (!(await b.run(() => window.pageReady === true && !!customElements.get("agent-preview")))) {
    if (Date.now() > end) throw new Error("the page did not load");
    await new Promise((r) => setTimeout(r, 50));
  }
  return b;
}

for (const engine of ["Chromium", "Firefox"]) {
  test(`${engine}: the snapshot: roles, names, values, states; inert, aria-hidden, hidden and display:none left out; the widget's shadow root walked; 1,200 items bounded`, { timeout: 120_000 }, async () => {
    const b = await open(engine);
    try {
      const r = await b.run(() => {
        window.enable({ maxNodes: 500 });
        const [[type, { tree }]] = window.sent;
        const all = flat(tree.root);
        const pick = (role, name) => {
          const n = find(tree, role, name);
          return n && { ...n, children: undefined };
        };
        return {
          type,
          capturedAt: typeof tree.captured_at === "number" && Number.isInteger(tree.captured_at),
          rootRole: tree.root.role,
          h1: pick("heading", "Settings"),
          h2: pick("heading", "Account"),
          nav: !!pick("navigation", "Sections"),
          links: all.filter((n) => n.role === "link").map((n) => n.name),
          name: pick("textbox", "Name"),
          password: pick("textbox", "Password"),
          submit: !!pick("button", "Send"),
          save: pick("button", "Save"),
          off: pick("button", "Disabled one"),
          custom: pick("button", "Custom"),
          notify: pick("checkbox", "Notifications"),
          grid: pick("grid", "Table"),
          combobox: (() => {
            const n = all.find((x) => x.role === "combobox");
            return n && { value: n.value, options: (n.children || []).map((o) => [o.name, (o.state || []).join()]) };
          })(),
          summary: all.some((n) => n.name === "More"),
          hiddenNames: all.map((n) => n.name).filter((s) => /Inert|Hidden by|Hidden attribute|Display none/.test(s || "")),
          prose: all.some((n) => n.role === "text" && /Some/.test(n.name)),
          widgetGo: !!all.find((n) => n.role === "button" && n.ref && /Start|Call|Talk/i.test(n.name || "")),
          far: pick("button", "Far below"),
          outside: all.some((n) => n.name === "Outside"),
          count: all.length,
          items: all.filter((n) => n.role === "listitem").length,
          last: all[all.length - 1],
        };
      });
      const w = JSON.stringify(r);
      assert.equal(r.type, "ui-snapshot");
      assert.ok(r.capturedAt, w);
      assert.equal(r.h1.level, 1, w);
      assert.equal(r.h2.level, 3, "aria-level wins");
      assert.ok(r.nav, w);
      assert.deepEqual(r.links, ["Alpha", "Beta"]);
      assert.equal(r.name.value, "Ada");
      assert.equal(r.password.value, undefined, "a password's value never leaves the page");
      assert.ok(r.password.state.includes("password"), w);
      assert.ok(r.submit, "an <input type=submit> is a button named by its value");
      assert.match(r.save.ref, /^e\d+$/);
      assert.ok(r.off.state.includes("disabled"), w);
      assert.ok(r.custom.state.includes("checked"), "aria-pressed");
      assert.ok(r.notify.state.includes("checked"), "aria-labelledby names it, .checked marks it");
      assert.deepEqual([r.grid.colcount, r.grid.rowcount], [4, 9]);
      assert.deepEqual(r.combobox, { value: "Green", options: [["Red", ""], ["Green", "selected"]] });
      assert.ok(r.summary, w);
      assert.deepEqual(r.hiddenNames, [], "inert, aria-hidden, hidden and display:none are left out");
      assert.ok(r.prose, w);
      assert.ok(r.widgetGo, "the widget's button, inside its shadow root");
      assert.ok(r.far.state.includes("offscreen"), w);
      assert.equal(r.outside, false, "nothing outside the root");
      assert.ok(r.count <= 502, `bounded by maxNodes: ${r.count}`);
      assert.equal(r.last.role, "ellipsis");
      assert.match(r.last.name, /more nodes not shown/);

      // All 1,200 with a larger bound; refs stay the same from one snapshot to the next.
      const big = await b.run(() => {
        window.enable({ maxNodes: 5000 });
        const t0 = performance.now();
        const one = window.ui.snapshot();
        const ms = performance.now() - t0;
        const two = window.ui.snapshot();
        const refs = (t) => flat(t.root).filter((n) => n.ref).map((n) => n.ref).join();
        return { items: flat(one.root).filter((n) => n.role === "listitem").length, same: refs(one) === refs(two), ms, bytes: JSON.stringify(one).length };
      });
      assert.equal(big.items, 1200);
      assert.ok(big.same, "refs are stable");

      // A tree larger than the channel takes is sent with fewer nodes.
      const fit = await b.run(() => {
        window.fakeLimit = 30000;
        window.enable({ maxNodes: 5000 });
        window.fakeLimit = 0;
        const snaps = window.sent.filter(([t]) => t === "ui-snapshot");
        const tree = snaps[0]?.[1].tree;
        return { sent: snaps.length, bytes: JSON.stringify({ tree }).length, last: tree && flat(tree.root).at(-1), errors: window.errors };
      });
      assert.equal(fit.sent, 1, JSON.stringify(fit));
      assert.ok(fit.bytes <= 30000, `${fit.bytes} B`);
      assert.equal(fit.last.role, "ellipsis");
      assert.deepEqual(fit.errors, []);
    } finally {
      await b.close();
    }
  });

  test(`${engine}: snapshots on change, never closer than debounceMs; commands carried out or refused with a reason; job events; disable() stops it all`, { timeout: 120_000 }, async () => {
    const b = await open(engine);
    try {
      const r = await b.run(async () => {
        window.enable({ debounceMs: 300, maxNodes: 200 });
        const t0 = performance.now();
        const snapAt = [];
        const orig = window.fakeConn.sendRtvi;
        window.fakeConn.sendRtvi = (type, data) => {
          if (type === "ui-snapshot") snapAt.push(performance.now() - t0);
          return orig(type, data);
        };
        // Three changes in a row: one snapshot, not before 300 ms after the first one.
        document.getElementById("save").textContent = "Save now";
        document.getElementById("name").setAttribute("aria-label", "Full name");
        document.getElementById("para").textContent = "Changed";
        await new Promise((res) => setTimeout(res, 700));
        window.fakeConn.sendRtvi = orig;
        const tree = window.sent.filter(([t]) => t === "ui-snapshot").at(-1)[1].tree;
        const ref = (role, name) => find(tree, role, name)?.ref;
        const save = ref("button", "Save now");
        const clicked = [];
        document.getElementById("save").onclick = () => clicked.push("save");
        document.getElementById("off").onclick = () => clicked.push("off");
        document.getElementById("outside").onclick = () => clicked.push("outside");
        const inputs = [];
        document.getElementById("name").oninput = () => inputs.push(document.getElementById("name").value);
        const cmd = (command, payload) => window.fire("uicommand", { command, payload });
        await cmd("highlight", { ref: save, target_id: null, duration_ms: null });
        const highlighted = document.getElementById("save").classList.contains("agent-rtc-highlight");
        await cmd("click", { ref: save });
        await cmd("click", { ref: ref("button", "Disabled one") });
        await cmd("click", { target_id: "outside" });
        await cmd("click", { ref: "e999999" });
        await cmd("set_input_value", { ref: ref("textbox", "Full name"), value: "Grace" });
        await cmd("set_input_value", { ref: ref("textbox", "Password"), value: "x" });
        await cmd("set_input_value", { target_id: "color", value: "Red" });
        await cmd("focus", { target_id: "name" });
        const focused = document.activeElement?.id;
        await cmd("select_text", { target_id: "name", start_offset: 1, end_offset: 3 });
        const selected = [document.getElementById("name").selectionStart, document.getElementById("name").selectionEnd];
        await cmd("scroll_to", { target_id: "far", behavior: "instant" });
        await cmd("toast", { title: "Hi" });
        const toasts = [];
        window.ui.registerUiCommandHandler("toast", (p) => toasts.push(p.title));
        await cmd("toast", { title: "Hello" });
        await cmd("", {});
        await window.fire("uijob", { kind: "group_started", job_id: "j1", at: 1 });
        await window.fire("uijob", { kind: "group_completed", job_id: "j1", at: 2 });
        window.ui.cancelUiJobGroup("j1", "user");
        window.ui.sendUiEvent("opened", { view: "x" });
        const errorEvents = window.sent.filter(([t, d]) => t === "ui-event" && d.event === "ui-command-error").map(([, d]) => [d.payload.command, d.payload.reason]);
        const other = window.sent.filter(([t, d]) => t === "ui-cancel-job-group" || (t === "ui-event" && d.event === "opened"));
        // disable(): a change sends nothing more, a command is not carried out.
        // A long highlight still showing: disable() takes it down with everything else.
        await cmd("highlight", { ref: save, duration_ms: 60000 });
        window.ui.disable();
        const highlightsLeft = document.querySelectorAll(".agent-rtc-highlight").length;
        const before = window.sent.length;
        document.getElementById("para").textContent = "After disable";
        await cmd("click", { ref: save });
        await new Promise((res) => setTimeout(res, 400));
        return {
          snapAt, highlighted, clicked, inputs, password: document.getElementById("pw").value, color: document.getElementById("color").value,
          focused, selected, toasts, commands: window.commands, errors: window.errors, errorEvents, other, jobs: window.jobs,
          sentAfterDisable: window.sent.length - before, enabled: window.ui.enabled, highlightsLeft,
        };
      });
      const w = JSON.stringify(r);
      assert.equal(r.snapAt.length, 1, `three changes, one snapshot: ${w}`);
      assert.ok(r.snapAt[0] >= 290, `not within debounceMs of the first: ${w}`);
      assert.equal(r.highlighted, true);
      assert.deepEqual(r.clicked, ["save"], w);
      assert.deepEqual(r.inputs, ["Grace"], w);
      assert.equal(r.password, "secret");
      assert.equal(r.color, "Red");
      assert.equal(r.focused, "name");
      assert.deepEqual(r.selected, [1, 3]);
      assert.deepEqual(r.toasts, ["Hello"]);
      assert.deepEqual(r.errorEvents, [
        ["click", "disabled"],
        ["click", "outside-root"],
        ["click", "unknown-target"],
        ["set_input_value", "password"],
        ["toast", "no-handler"],
      ]);
      assert.deepEqual(r.errors, ["disabled", "outside-root", "unknown-target", "password", "no-handler", "bad-command"]);
      assert.deepEqual(r.commands.map((c) => c.slice(0, 2)), [
        ["highlight", true], ["click", true], ["click", false], ["click", false], ["click", false], ["set_input_value", true],
        ["set_input_value", false], ["set_input_value", true], ["focus", true], ["select_text", true], ["scroll_to", true],
        ["toast", false], ["toast", true], ["highlight", true],
      ]);
      assert.deepEqual(r.jobs, ["group_started", "group_completed"]);
      assert.deepEqual(r.other, [["ui-cancel-job-group", { job_id: "j1", reason: "user" }], ["ui-event", { event: "opened", payload: { view: "x" } }]]);
      assert.equal(r.sentAfterDisable, 0);
      assert.equal(r.highlightsLeft, 0);
      assert.equal(r.enabled, false);
      assert.deepEqual(b.errors(), []);
    } finally {
      await b.close();
    }
  });
}

test("Node: readUiCommand reads what a Pipecat server sends (fields absent or null) and refuses what is not a command", async () => {
  const { readUiCommand, STANDARD_UI_ACTIONS } = await import(pathToFileURL(join(ROOT, "pkg/agent-rtc-ui.js")).href);
  assert.deepEqual([...STANDARD_UI_ACTIONS], ["scroll_to", "highlight", "focus", "click", "set_input_value", "select_text"]);
  // UIWorker's path: the payload model dumped with its nulls.
  const a = readUiCommand({ command: "highlight", payload: { ref: "e5", target_id: null, duration_ms: null } });
  assert.deepEqual([a.ok, a.ref, a.targetId, a.durationMs, a.payload], [true, "e5", undefined, undefined, { ref: "e5" }]);
  const b = readUiCommand({ command: "set_input_value", payload: { value: "hi", target_id: "email", replace: false } });
  assert.deepEqual([b.value, b.targetId, b.replace], ["hi", "email", false]);
  const c = readUiCommand({ command: "select_text", payload: { ref: "e9", start_offset: 4, end_offset: 12 } });
  assert.deepEqual([c.startOffset, c.endOffset, c.replace, c.behavior], [4, 12, true, "smooth"]);
  assert.equal(readUiCommand({ command: "scroll_to", payload: { ref: "e1", behavior: "instant" } }).behavior, "instant");
  assert.equal(readUiCommand({ command: "highlight", payload: { duration_ms: -5 } }).durationMs, undefined);
  assert.equal(readUiCommand({ command: "click" }).ok, true, "no payload at all");
  assert.deepEqual(readUiCommand({ command: "click", payload: [1, 2] }).payload, {});
  for (const bad of [null, undefined, 7, "click", [], {}, { command: "" }, { command: 3 }]) {
    assert.equal(readUiCommand(bad).ok, false, JSON.stringify(bad));
  }
});

test("Chromium: the widget's switch lets the local agent's bot see the page: it clicks an element named in a request; the widget itself is not seen", { timeout: 120_000 }, async () => {
  const browser = await launchChromium();
  try {
    const { page, errors } = await openPage(browser);
    await page.goto(`${agent.url}/widget.html`);
    await page.waitForFunction(() => window.pageReady === true && !!customElements.get("agent-preview"));
    const root = (sel) => `document.getElementById("w").shadowRoot.querySelector("${sel}")`;
    assert.equal(await page.evaluate(`${root("#see")}.getAttribute("aria-pressed")`), "false", "off by default");
    await page.evaluate(`${root("#see")}.click()`);
    await page.evaluate(`${root("#go")}.click()`);
    await poll("the call and the UI agent", async () => ({ ok: await page.evaluate(() => document.getElementById("w").state === "connected" && !!window.ui) }));
    const ask = (name) =>
      page.evaluate(
        (n) => document.getElementById("w").connection.sendClientRequest("ui-demo", { name: n, click: true }).then((r) => ({ ok: true, ref: r.ref }), (e) => ({ ok: false, code: e.code, message: e.message })),
        name,
      );
    // The first snapshot was sent when the agent started; the bot answers from it.
    await poll("the bot to have a snapshot", async () => {
      const r = await ask("Ring");
      return { ok: r.ok, r };
    });
    await poll("the bell to ring", async () => ({ ok: (await page.evaluate(() => document.getElementById("rung").textContent)) === "1" }));
    const stop = await ask("Stop");
    assert.equal(stop.ok, false, "the widget's own Stop button is not in what the bot sees");
    assert.equal(stop.code, "bot_error");
    // Turned off: the agent stops; the bot's commands are no longer carried out.
    await page.evaluate(`${root("#see")}.click()`);
    assert.equal(await page.evaluate(() => window.ui.enabled), false);
    await ask("Ring");
    await new Promise((r) => setTimeout(r, 300)); // proving that nothing happens
    assert.equal(await page.evaluate(() => document.getElementById("rung").textContent), "1");
    await page.evaluate(() => document.getElementById("w").stop());
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
