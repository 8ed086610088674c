// The UI agent of RTVI 2.2: a bot that sees the page and acts on it. Optional, and its own module:
// a page that never imports it pays nothing for it (no wasm bytes, no script).
//
//   import "agent-rtc/ui-agent";     // adds conn.enableUiAgent(options)
//   const ui = conn.enableUiAgent({ root: document.querySelector("main") });
//   // (or: import { enableUiAgent } from "agent-rtc/ui-agent"; enableUiAgent(conn, options))
//   ui.registerUiCommandHandler("toast", ({ title }) => showToast(title));
//   ui.on("error", (e) => console.warn(e.message)); // a command refused or failed
//   ...
//   ui.disable(); // also at the call's end
//
// What it does, on the connection `conn` (a WebRTC or WebSocket call of the SDK):
// - Snapshots: an accessibility tree of `root` (roles and names as the browser computes them where
//   it exposes them, ARIA and HTML otherwise; a ref per element, stable for the call; aria-hidden
//   and inert subtrees, hidden and display:none elements left out; offscreen marked; open shadow
//   roots walked; at most maxNodes nodes), sent as RTVI `ui-snapshot` when enabled, when the page
//   changes (never twice within debounceMs; a tree larger than the data channel's messages is sent
//   with fewer nodes) and when the bot sends a `server-message`
//   `{type: "ui-snapshot-request"}` (a convention of ours: Pipecat's protocol has no request).
// - Commands (`ui-command`): scroll_to, highlight, focus, click, set_input_value, select_text are
//   carried out here, only inside `root` and only those in `actions`; never set_input_value on a
//   password field, never click a disabled element. toast, navigate and the app's own commands go
//   to handlers the app registers. A command refused or failed is answered with a `ui-event`
//   `ui-command-error` {command, ref?, target_id?, reason} (the bot's UIWorker puts ui-events in
//   its LLM's context) and an `error` event here.
// - Job groups (`ui-job-group`) become `job` events; cancelUiJobGroup(jobId) asks the bot to stop one.

import { Connection } from "./agent_rtc.js";

/** The commands this module carries out itself. */
export const STANDARD_UI_ACTIONS = Object.freeze(["scroll_to", "highlight", "focus", "click", "set_input_value", "select_text"]);

const SKIP_TAGS = new Set(["SCRIPT", "STYLE", "LINK", "META", "NOSCRIPT", "TEMPLATE", "HEAD", "TITLE"]);
// Roles whose content is their name: their children are not walked.
const LEAF_ROLES = new Set(["button", "link", "checkbox", "radio", "textbox", "searchbox", "combobox", "switch", "menuitem", "menuitemcheckbox", "menuitemradio", "tab", "heading", "img", "option", "slider", "spinbutton", "progressbar", "meter"]);
// Roles that carry nothing for the bot by themselves: their children join the parent.
const WRAPPERS = new Set(["generic", "none", "presentation", "group", "paragraph", "", "text", "StaticText", "LineBreak", "section"]);
const NAME_MAX = 100;
const HIGHLIGHT_CLASS = "agent-rtc-highlight";
const HIGHLIGHT_CSS = `.${HIGHLIGHT_CLASS}{outline:3px solid var(--agent-rtc-highlight,#f5a623)!important;outline-offset:2px!important;transition:outline-color .2s}`;

const IMPLICIT = {
  A: (el) => (el.hasAttribute("href") ? "link" : ""),
  AREA: (el) => (el.hasAttribute("href") ? "link" : ""),
  ARTICLE: () => "article",
  ASIDE: () => "complementary",
  BUTTON: () => "button",
  DIALOG: () => "dialog",
  DETAILS: () => "group",
  SUMMARY: () => "button",
  FIELDSET: () => "group",
  FIGURE: () => "figure",
  FOOTER: () => "contentinfo",
  FORM: () => "form",
  H1: () => "heading",
  H2: () => "heading",
  H3: () => "heading",
  H4: () => "heading",
  H5: () => "heading",
  H6: () => "heading",
  HEADER: () => "banner",
  HR: () => "separator",
  IMG: (el) => (el.getAttribute("alt") === "" ? "" : "img"),
  INPUT: (el) => INPUT_ROLES[(el.getAttribute("type") || "text").toLowerCase()] ?? "textbox",
  LI: () => "listitem",
  MAIN: () => "main",
  MENU: () => "list",
  METER: () => "meter",
  NAV: () => "navigation",
  OL: () => "list",
  OPTION: () => "option",
  OUTPUT: () => "status",
  P: () => "paragraph",
  PROGRESS: () => "progressbar",
  SECTION: (el) => (el.hasAttribute("aria-label") || el.hasAttribute("aria-labelledby") ? "region" : ""),
  SELECT: (el) => (el.multiple || el.size > 1 ? "listbox" : "combobox"),
  TABLE: () => "table",
  TD: () => "cell",
  TEXTAREA: () => "textbox",
  TH: () => "columnheader",
  TR: () => "row",
  UL: () => "list",
};
const INPUT_ROLES = {
  button: "button", submit: "button", reset: "button", image: "button", checkbox: "checkbox", radio: "radio",
  range: "slider", number: "spinbutton", search: "searchbox", hidden: null, file: "button", color: "button",
};

const collapse = (s) => {
  const t = String(s ?? "").replace(/\s+/g, " ").trim();
  return t.length > NAME_MAX ? `${t.slice(0, NAME_MAX - 1)}…` : t;
};

/** The element's parent in the flat tree: across a shadow root to its host. */
const parentOf = (el) => el.parentElement || el.getRootNode()?.host || null;

/** Is `el` inside `root` (shadow roots crossed)? */
export function isInside(root, el) {
  for (let n = el; n; n = parentOf(n)) if (n === root) return true;
  return false;
}

/**
 * Reads a `ui-command`'s data: `{command, payload}` with the target (`ref`, else `target_id`) and
 * the payload's fields; absent and null fields are the same. Returns `{ok: false, reason}` when it
 * is not a command.
 */
export function readUiCommand(data) {
  if (!data || typeof data !== "object" || typeof data.command !== "string" || !data.command) {
    return { ok: false, reason: "not a ui-command: no `command`" };
  }
  const raw = data.payload && typeof data.payload === "object" && !Array.isArray(data.payload) ? data.payload : {};
  const payload = {};
  for (const [k, v] of Object.entries(raw)) if (v !== null && v !== undefined) payload[k] = v;
  const str = (k) => (typeof payload[k] === "string" && payload[k] ? payload[k] : undefined);
  const int = (k) => (Number.isInteger(payload[k]) && payload[k] >= 0 ? payload[k] : undefined);
  return {
    ok: true,
    command: data.command,
    payload,
    ref: str("ref"),
    targetId: str("target_id"),
    value: typeof payload.value === "string" ? payload.value : payload.value === undefined ? "" : String(payload.value),
    replace: payload.replace !== false,
    durationMs: int("duration_ms"),
    behavior: payload.behavior === "instant" ? "instant" : "smooth",
    startOffset: int("start_offset"),
    endOffset: int("end_offset"),
  };
}

/** An error of the kind the SDK rejects with (`isAgentRtcError` is true for it). */
function uiError(message, details) {
  const e = new Error(message);
  e.name = "AgentRtcError";
  e.code = "bot_error";
  e.retryable = false;
  e.details = { phase: "call", ...details };
  return e;
}

/**
 * Builds snapshots of `root`. `refs` keeps each element's ref for the agent's life (a WeakMap: an
 * element that leaves the page leaves it), `byRef` the way back.
 */
class Snapshotter {
  constructor(root, maxNodes, exclude) {
    this.root = root;
    this.maxNodes = maxNodes;
    this.exclude = exclude;
    this.refs = new WeakMap();
    this.byRef = new Map();
    this.next = 1;
    this.onShadowRoot = () => {}; // each open shadow root met (the agent watches it for changes)
  }

  refOf(el) {
    let ref = this.refs.get(el);
    if (!ref) {
      ref = `e${this.next++}`;
      this.refs.set(el, ref);
      this.byRef.set(ref, new WeakRef(el));
    }
    return ref;
  }

  element(ref) {
    const el = this.byRef.get(ref)?.deref();
    if (!el || !el.isConnected) {
      this.byRef.delete(ref);
      return null;
    }
    return el;
  }

  /** `{root, captured_at, selection?}`: the shape of Pipecat's A11ySnapshot. */
  take() {
    // Refs of elements gone from the page are forgotten now and then (a long call on a page
    // that keeps replacing its elements must not grow the map without end).
    if (this.byRef.size > 4 * this.maxNodes) {
      for (const [ref, weak] of this.byRef) if (!weak.deref()?.isConnected) this.byRef.delete(ref);
    }
    this.count = 0;
    this.truncated = 0;
    this.viewport = { w: innerWidth, h: innerHeight };
    this.active = deepActive();
    const children = this.children(this.root);
    const root = { ref: this.refOf(this.root), role: this.roleOf(this.root) || "generic" };
    const name = this.nameOf(this.root, root.role);
    if (name && this.root !== document.body) root.name = name;
    if (this.truncated) children.push({ ref: "", role: "ellipsis", name: `${this.truncated} more nodes not shown (maxNodes ${this.maxNodes})` });
    if (children.length) root.children = children;
    const out = { root, captured_at: Date.now() };
    const selection = this.selection();
    if (selection) out.selection = selection;
    return out;
  }

  /** Is the element (and so its subtree) left out of the tree? */
  hidden(el) {
    if (SKIP_TAGS.has(el.tagName)) return true;
    if (el.getAttribute("aria-hidden") === "true" || el.hasAttribute("inert") || el.hidden) return true;
    if (el.hasAttribute("data-a11y-exclude") || this.exclude.has(el)) return true;
    if (el.tagName === "INPUT" && el.type === "hidden") return true;
    if (typeof el.checkVisibility === "function") {
      // display:none (or inside it), content-visibility:hidden; visibility:hidden too.
      return !el.checkVisibility({ visibilityProperty: true });
    }
    const cs = getComputedStyle(el);
    return cs.display === "none" || cs.visibility === "hidden";
  }

  roleOf(el) {
    const explicit = (el.getAttribute("role") || "").trim().split(/\s+/)[0];
    if (explicit) return explicit;
    // What the browser computed, where it says (Chromium with the AOM, WebKit).
    const computed = el.computedRole;
    if (typeof computed === "string" && computed) return computed;
    const f = IMPLICIT[el.tagName];
    return f ? f(el) ?? "" : "";
  }

  nameOf(el, role) {
    const computed = el.computedName;
    if (typeof computed === "string" && computed.trim()) return collapse(computed);
    const label = el.getAttribute("aria-label");
    if (label && label.trim()) return collapse(label);
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const scope = el.getRootNode();
      const text = by.split(/\s+/).map((id) => (scope.getElementById ? scope.getElementById(id) : document.getElementById(id))?.textContent || "").join(" ");
      if (text.trim()) return collapse(text);
    }
    const tag = el.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || tag === "METER" || tag === "PROGRESS" || tag === "OUTPUT") {
      const labels = el.labels ? [...el.labels].map((l) => l.textContent).join(" ") : "";
      if (labels.trim()) return collapse(labels);
      if (tag === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return collapse(el.value || (el.type === "submit" ? "Submit" : el.type === "reset" ? "Reset" : ""));
      if (tag === "INPUT" && el.type === "image") return collapse(el.alt);
      const hint = el.getAttribute("placeholder") || el.getAttribute("title");
      return hint ? collapse(hint) : "";
    }
    if (tag === "IMG" || tag === "AREA") return collapse(el.getAttribute("alt") || el.getAttribute("title"));
    if (tag === "FIELDSET") return collapse(el.querySelector(":scope > legend")?.textContent);
    if (tag === "TABLE") return collapse(el.querySelector(":scope > caption")?.textContent);
    if (LEAF_ROLES.has(role) || role === "listitem" || role === "cell" || role === "columnheader" || role === "rowheader" || role === "status") {
      return collapse(this.text(el));
    }
    return collapse(el.getAttribute("title"));
  }

  /** The text of a subtree as it reads (hidden parts left out, shadow roots crossed). */
  text(el) {
    let out = "";
    const walk = (n) => {
      for (let c = (n.shadowRoot || n).firstChild; c; c = c.nextSibling) {
        if (c.nodeType === 3) out += c.data;
        else if (c.nodeType === 1 && !this.hidden(c)) {
          if (c.tagName === "IMG") out += ` ${c.getAttribute("alt") || ""} `;
          else walk(c);
          if (getComputedStyle(c).display !== "inline") out += " ";
        }
      }
    };
    walk(el);
    return out;
  }

  valueOf(el, role) {
    if (el.tagName === "INPUT") {
      if (el.type === "password") return undefined; // never on the wire
      if (role === "checkbox" || role === "radio" || role === "button") return undefined;
      return el.value || undefined;
    }
    if (el.tagName === "TEXTAREA") return el.value || undefined;
    if (el.tagName === "SELECT") return el.selectedOptions?.[0]?.textContent?.trim() || el.value || undefined;
    const v = el.getAttribute("aria-valuetext") || el.getAttribute("aria-valuenow");
    if (v) return v;
    if (el.isContentEditable && el === this.active) return collapse(el.textContent);
    return undefined;
  }

  stateOf(el, role) {
    const s = [];
    const aria = (a) => el.getAttribute(a) === "true";
    if (el === this.active) s.push("focused");
    if (aria("aria-expanded") || (el.tagName === "DETAILS" && el.open)) s.push("expanded");
    if (aria("aria-selected") || (el.tagName === "OPTION" && el.selected)) s.push("selected");
    if (aria("aria-disabled") || el.matches(":disabled")) s.push("disabled");
    if (aria("aria-checked") || aria("aria-pressed") || ((role === "checkbox" || role === "radio") && el.checked)) s.push("checked");
    if (aria("aria-required") || el.required) s.push("required");
    if (aria("aria-readonly") || el.readOnly) s.push("readonly");
    if (el.tagName === "INPUT" && el.type === "password") s.push("password");
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || r.bottom < 0 || r.right < 0 || r.top > this.viewport.h || r.left > this.viewport.w) s.push("offscreen");
    return s;
  }

  node(el) {
    const role = this.roleOf(el);
    if (WRAPPERS.has(role) && !el.hasAttribute("aria-label") && !el.hasAttribute("aria-labelledby") && !(el.tabIndex >= 0 && el.hasAttribute("tabindex"))) {
      return this.children(el); // no node of its own: its children join the parent
    }
    if (this.count >= this.maxNodes) {
      this.truncated++;
      return [];
    }
    this.count++;
    const n = { ref: this.refOf(el), role: WRAPPERS.has(role) ? "generic" : role };
    const name = this.nameOf(el, role);
    if (name) n.name = name;
    const value = this.valueOf(el, role);
    if (value !== undefined) n.value = collapse(value);
    const state = this.stateOf(el, role);
    if (state.length) n.state = state;
    const level = role === "heading" ? Number(el.getAttribute("aria-level")) || Number(el.tagName[1]) || undefined : undefined;
    if (level) n.level = level;
    for (const [a, k] of [["aria-colcount", "colcount"], ["aria-rowcount", "rowcount"]]) {
      const v = Number(el.getAttribute(a));
      if (Number.isInteger(v) && v >= 0 && el.hasAttribute(a)) n[k] = v;
    }
    if (el.tagName === "SELECT") {
      const options = [];
      for (const o of el.options) {
        if (this.count >= this.maxNodes) {
          this.truncated++;
          continue;
        }
        this.count++;
        const on = { ref: this.refOf(o), role: "option", name: collapse(o.textContent) };
        const st = [o.selected && "selected", o.disabled && "disabled"].filter(Boolean);
        if (st.length) on.state = st;
        options.push(on);
      }
      if (options.length) n.children = options;
    } else if (!LEAF_ROLES.has(role)) {
      const children = this.children(el);
      if (children.length) n.children = children;
    }
    return [n];
  }

  /** The nodes of an element's children (its open shadow root's, where it has one). */
  children(el) {
    const out = [];
    let from = el;
    if (el.shadowRoot) {
      this.onShadowRoot(el.shadowRoot);
      from = el.shadowRoot;
    }
    for (let c = from.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 3) {
        const t = collapse(c.data);
        if (!t) continue;
        if (this.count >= this.maxNodes) {
          this.truncated++;
          continue;
        }
        this.count++;
        out.push({ ref: "", role: "text", name: t });
      } else if (c.nodeType === 1) {
        if (c.tagName === "SLOT") {
          for (const a of c.assignedNodes({ flatten: true })) if (a.nodeType === 1 && !this.hidden(a)) out.push(...this.node(a));
          continue;
        }
        if (!this.hidden(c)) out.push(...this.node(c));
      }
    }
    return out;
  }

  selection() {
    const a = this.active;
    if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA") && a.type !== "password" && this.refs.has(a)) {
      try {
        const { selectionStart: start, selectionEnd: end } = a;
        if (typeof start === "number" && end > start) return { ref: this.refs.get(a), text: a.value.slice(start, end).slice(0, 2000), start_offset: start, end_offset: end };
      } catch {
        /* inputs without selection (email, number) */
      }
    }
    const sel = document.getSelection?.();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return null;
    let n = sel.getRangeAt(0).commonAncestorContainer;
    if (n.nodeType !== 1) n = n.parentElement;
    for (; n; n = parentOf(n)) {
      if (n.getAttribute?.("aria-hidden") === "true") return null;
      if (this.refs.has(n)) return isInside(this.root, n) ? { ref: this.refs.get(n), text: String(sel).slice(0, 2000) } : null;
    }
    return null;
  }
}

/** The focused element, inside open shadow roots too. */
function deepActive() {
  let a = document.activeElement;
  while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
  return a;
}

/**
 * Lets the bot of `conn` see `root` and act on it (see the top of this file). Returns the agent;
 * it ends by itself when the call ends.
 *
 * options: root (an element, default document.body), exclude (elements inside root the bot must
 * neither see nor touch), actions (the standard commands carried out here, default all of
 * STANDARD_UI_ACTIONS), maxNodes (default 500), debounceMs (default 300), highlightMs (default 1500).
 */
export function enableUiAgent(conn, options = {}) {
  const root = options.root ?? document.body;
  if (!root || root.nodeType !== 1) throw uiError("`root` must be an element", { reason: "bad-root" });
  const actions = new Set(options.actions ?? STANDARD_UI_ACTIONS);
  const maxNodes = Number.isInteger(options.maxNodes) && options.maxNodes > 0 ? options.maxNodes : 500;
  const debounceMs = Number.isFinite(options.debounceMs) && options.debounceMs >= 0 ? options.debounceMs : 300;
  const highlightMs = Number.isInteger(options.highlightMs) && options.highlightMs > 0 ? options.highlightMs : 1500;
  const exclude = new Set(options.exclude ?? []);
  const snap = new Snapshotter(root, maxNodes, exclude);
  const handlers = new Map();
  const listeners = new Map();
  const cleanups = [];
  const highlights = new Set(); // the highlights showing: each ends itself, or at disable()
  let timer = 0;
  let lastSent = -Infinity;
  let on = true;

  const emit = (name, arg) => {
    for (const fn of [...(listeners.get(name) || [])]) {
      try {
        fn(arg);
      } catch (e) {
        console.error(e);
      }
    }
  };
  const send = (type, data) => {
    try {
      conn.sendRtvi(type, data);
      return true;
    } catch (e) {
      emit("error", e);
      return false;
    }
  };

  const sendSnapshot = () => {
    clearTimeout(timer);
    timer = 0;
    if (!on) return null;
    let tree = snap.take();
    lastSent = performance.now();
    // Larger than the data channel takes (`invalid_options`): fewer nodes, until it fits.
    for (let limit = maxNodes; ; ) {
      try {
        conn.sendRtvi("ui-snapshot", { tree });
        return tree;
      } catch (e) {
        if (e?.code !== "invalid_options" || limit <= 16) {
          emit("error", e);
          return null;
        }
        limit >>= 1;
        snap.maxNodes = limit;
        tree = snap.take();
        snap.maxNodes = maxNodes;
      }
    }
  };
  // At most one snapshot per debounceMs; changes in between are folded into the next one.
  const schedule = () => {
    if (!on || timer) return;
    timer = setTimeout(sendSnapshot, Math.max(0, lastSent + debounceMs - performance.now()));
  };

  const observer = new MutationObserver(schedule);
  const watched = new WeakSet();
  const watch = (target) => {
    if (watched.has(target)) return;
    watched.add(target);
    observer.observe(target, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["role", "aria-label", "aria-labelledby", "aria-hidden", "aria-expanded", "aria-selected", "aria-checked", "aria-pressed", "aria-disabled", "aria-level", "aria-valuenow", "aria-valuetext", "disabled", "hidden", "inert", "href", "value", "checked", "open", "class", "style", "data-a11y-exclude"] });
  };
  watch(root);
  snap.onShadowRoot = watch;
  const listen = (target, type, fn, opts) => {
    target.addEventListener(type, fn, opts);
    cleanups.push(() => target.removeEventListener(type, fn, opts));
  };
  for (const type of ["input", "change", "focusin", "focusout"]) listen(root, type, schedule, true);
  listen(document, "selectionchange", schedule);
  listen(window, "resize", schedule);
  listen(window, "scroll", schedule, { capture: true, passive: true });

  const fail = (cmd, reason, message) => {
    const payload = { command: cmd.command, reason };
    if (cmd.ref) payload.ref = cmd.ref;
    if (cmd.targetId) payload.target_id = cmd.targetId;
    send("ui-event", { event: "ui-command-error", payload: { ...payload, message } });
    emit("error", uiError(`ui-command ${cmd.command}: ${message}`, payload));
    return { ok: false, reason };
  };

  const target = (cmd) => {
    const el = cmd.ref ? snap.element(cmd.ref) : cmd.targetId ? (root.getRootNode().getElementById?.(cmd.targetId) ?? document.getElementById(cmd.targetId)) : null;
    if (!cmd.ref && !cmd.targetId) return { error: ["no-target", "the command names no `ref` or `target_id`"] };
    if (!el) return { error: ["unknown-target", `no element ${cmd.ref ? `with ref ${cmd.ref}` : `with id ${cmd.targetId}`} on the page`] };
    if (!isInside(root, el) || [...exclude].some((x) => isInside(x, el))) {
      return { error: ["outside-root", "the element is outside the part of the page the agent may use"] };
    }
    return { el };
  };

  const disabled = (el) => el.matches(":disabled") || el.closest("[aria-disabled=true]") !== null;

  const run = async (cmd) => {
    const custom = handlers.get(cmd.command);
    if (custom) {
      await custom(cmd.payload, cmd);
      return { ok: true };
    }
    if (!STANDARD_UI_ACTIONS.includes(cmd.command)) {
      return fail(cmd, "no-handler", `no handler for the command (registerUiCommandHandler("${cmd.command}", ...))`);
    }
    if (!actions.has(cmd.command)) return fail(cmd, "not-allowed", "the page does not allow this command");
    const t = target(cmd);
    if (t.error) return fail(cmd, ...t.error);
    const el = t.el;
    switch (cmd.command) {
      case "scroll_to":
        el.scrollIntoView({ behavior: cmd.behavior, block: "center", inline: "nearest" });
        break;
      case "highlight": {
        addHighlightStyle(el);
        el.classList.add(HIGHLIGHT_CLASS);
        const done = () => {
          clearTimeout(off);
          el.classList.remove(HIGHLIGHT_CLASS);
          highlights.delete(done);
        };
        const off = setTimeout(done, cmd.durationMs ?? highlightMs);
        highlights.add(done);
        break;
      }
      case "focus":
        el.focus();
        break;
      case "click":
        if (disabled(el)) return fail(cmd, "disabled", "the element is disabled");
        el.click();
        break;
      case "set_input_value": {
        const tag = el.tagName;
        if (tag === "INPUT" && el.type === "password") return fail(cmd, "password", "the agent never writes into a password field");
        if (!(tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable)) return fail(cmd, "not-an-input", "the element takes no input");
        if (disabled(el) || el.readOnly || (tag === "INPUT" && ["hidden", "file", "checkbox", "radio", "button", "submit", "reset", "image"].includes(el.type))) {
          return fail(cmd, "read-only", "the element cannot be written to");
        }
        if (el.isContentEditable && tag !== "INPUT" && tag !== "TEXTAREA") {
          el.textContent = cmd.replace ? cmd.value : el.textContent + cmd.value;
        } else if (tag === "SELECT") {
          const option = [...el.options].find((o) => o.value === cmd.value || o.textContent.trim() === cmd.value);
          if (!option) return fail(cmd, "no-option", `no option "${cmd.value}"`);
          el.value = option.value;
        } else {
          el.value = cmd.replace ? cmd.value : el.value + cmd.value;
          el.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
        }
        el.dispatchEvent(new Event("change", { bubbles: true }));
        break;
      }
      case "select_text": {
        const { startOffset: s, endOffset: e } = cmd;
        if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") {
          el.focus();
          if (s !== undefined && e !== undefined && e >= s) el.setSelectionRange(s, Math.min(e, el.value.length));
          else el.select();
        } else {
          const range = document.createRange();
          range.selectNodeContents(el);
          if (s !== undefined && e !== undefined && e >= s) {
            const at = (offset) => {
              const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                if (offset <= n.data.length) return [n, offset];
                offset -= n.data.length;
              }
              return null;
            };
            const a = at(s);
            const b = at(e);
            if (a && b) {
              range.setStart(...a);
              range.setEnd(...b);
            }
          }
          const sel = document.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
        }
        break;
      }
    }
    return { ok: true };
  };

  const onCommand = async (data) => {
    const cmd = readUiCommand(data);
    if (!cmd.ok) {
      emit("error", uiError(cmd.reason, { reason: "bad-command" }));
      return;
    }
    let result;
    try {
      result = await run(cmd);
    } catch (e) {
      result = fail(cmd, "failed", `${e?.name || "Error"}: ${e?.message ?? e}`);
    }
    emit("command", { command: cmd.command, payload: cmd.payload, ...result });
  };

  const offs = [
    conn.on("uicommand", (d) => void onCommand(d)),
    conn.on("uijob", (d) => emit("job", d)),
    conn.on("servermessage", (d) => {
      // As soon as debounceMs allows (a request, too, never makes snapshots closer together).
      if (d && d.type === "ui-snapshot-request") schedule();
    }),
    conn.on("disconnected", () => agent.disable()),
  ];

  const agent = {
    /** A snapshot of `root` now, without sending it. */
    snapshot: () => snap.take(),
    /** Sends a snapshot now (returns it). */
    sendSnapshot,
    /** The element a ref names, while it is on the page. */
    element: (ref) => snap.element(ref),
    /** A handler for a command (toast, navigate, or the app's own); returns a function that removes it. */
    registerUiCommandHandler(command, handler) {
      if (typeof command !== "string" || typeof handler !== "function") throw uiError("registerUiCommandHandler(command: string, handler: function)", { reason: "bad-handler" });
      handlers.set(command, handler);
      return () => handlers.get(command) === handler && handlers.delete(command);
    },
    /** RTVI `ui-event` {event, payload}. */
    sendUiEvent: (event, payload) => send("ui-event", payload === undefined ? { event } : { event, payload }),
    /** RTVI `ui-cancel-job-group` {job_id, reason?}. */
    cancelUiJobGroup: (jobId, reason) => send("ui-cancel-job-group", reason === undefined ? { job_id: jobId } : { job_id: jobId, reason }),
    /** Events: `command` ({command, payload, ok, reason?}), `job` (a ui-job-group's data), `error`. */
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(fn);
      return () => listeners.get(name)?.delete(fn);
    },
    get enabled() {
      return on;
    },
    /** Stops watching the page and answering commands (also when the call ends). */
    disable() {
      if (!on) return;
      on = false;
      clearTimeout(timer);
      observer.disconnect();
      for (const off of offs) off();
      for (const c of cleanups.splice(0)) c();
      for (const done of [...highlights]) done();
    },
  };
  sendSnapshot();
  return agent;
}

/** The highlight's look, once per document or shadow root (a constructed sheet: strict CSP allows it). */
const styled = new WeakSet();
function addHighlightStyle(el) {
  const scope = el.getRootNode();
  if (styled.has(scope) || !("adoptedStyleSheets" in scope)) return;
  styled.add(scope);
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(HIGHLIGHT_CSS);
    scope.adoptedStyleSheets = [...scope.adoptedStyleSheets, sheet];
  } catch {
    /* no constructable stylesheets: the app styles .agent-rtc-highlight itself */
  }
}

// `conn.enableUiAgent(options)`: the same, as a method of every Connection once this module is
// imported (the SDK itself has no byte of the UI agent).
if (Connection && !Connection.prototype.enableUiAgent) {
  Object.defineProperty(Connection.prototype, "enableUiAgent", {
    value(options) {
      return enableUiAgent(this, options);
    },
    configurable: true,
    writable: true,
  });
}
