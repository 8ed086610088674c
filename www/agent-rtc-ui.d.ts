// Types of the UI agent (agent-rtc-ui.js): RTVI 2.2's bot that sees the page and acts on it.
//
//   import "agent-rtc/ui-agent"; // adds conn.enableUiAgent()
//   const ui = conn.enableUiAgent({ root: document.querySelector("main")! });

import type { AgentRtcError, Connection, UiCommand, UiJobEvent } from "./agent_rtc.js";

/** The commands the module carries out itself. */
export type StandardUiAction = "scroll_to" | "highlight" | "focus" | "click" | "set_input_value" | "select_text";
export declare const STANDARD_UI_ACTIONS: readonly StandardUiAction[];

export interface UiAgentOptions {
  /** The part of the page the bot sees and may act on (default `document.body`). */
  root?: Element;
  /** Elements inside `root` the bot must neither see nor touch (an app's own chat panel, say). */
  exclude?: readonly Element[];
  /** The standard commands allowed (default: all six). `toast`, `navigate` and the app's own go to handlers. */
  actions?: readonly StandardUiAction[];
  /** Nodes in a snapshot at most (default 500); the rest is summed up in one `ellipsis` node. */
  maxNodes?: number;
  /** Snapshots never come closer together than this (default 300 ms). */
  debounceMs?: number;
  /** How long `highlight` shows when the bot gives no `duration_ms` (default 1500 ms). */
  highlightMs?: number;
}

/** A node of the accessibility snapshot (Pipecat's `A11yNode`). Text runs have `ref: ""`. */
export interface A11yNode {
  ref: string;
  role: string;
  name?: string;
  value?: string;
  /** Among: focused, expanded, selected, disabled, checked, required, readonly, password, offscreen. */
  state?: string[];
  level?: number;
  colcount?: number;
  rowcount?: number;
  children?: A11yNode[];
}

/** What `ui-snapshot` carries (Pipecat's `A11ySnapshot`). */
export interface A11ySnapshot {
  root: A11yNode;
  /** `Date.now()` when it was taken. */
  captured_at: number;
  selection?: { ref: string; text: string; start_offset?: number; end_offset?: number };
}

/** A command as read: the target and the payload's fields (null and absent are the same). */
export interface UiCommandRead {
  ok: true;
  command: string;
  payload: Record<string, unknown>;
  ref?: string;
  targetId?: string;
  value: string;
  replace: boolean;
  durationMs?: number;
  behavior: "smooth" | "instant";
  startOffset?: number;
  endOffset?: number;
}

export type UiCommandHandler = (payload: Record<string, unknown>, command: UiCommandRead) => unknown;

/** Why a command was refused or failed (also in the `ui-command-error` ui-event the bot gets). */
export type UiRefusal =
  | "no-handler" | "not-allowed" | "no-target" | "unknown-target" | "outside-root" | "disabled"
  | "password" | "not-an-input" | "read-only" | "no-option" | "failed";

export interface UiAgentEvents {
  /** Every command, once carried out or refused. */
  command: { command: string; payload: Record<string, unknown>; ok: boolean; reason?: UiRefusal };
  /** A `ui-job-group` message of the bot. */
  job: UiJobEvent;
  /** A command refused or failed (`bot_error`, `details.reason`), or a snapshot that could not be sent. */
  error: AgentRtcError;
}

export interface UiAgent {
  /** A snapshot of `root` now, not sent. */
  snapshot(): A11ySnapshot;
  /** Sends a snapshot now and returns it (null once disabled). */
  sendSnapshot(): A11ySnapshot | null;
  /** The element a ref names, while it is on the page. */
  element(ref: string): Element | null;
  /** A handler for `toast`, `navigate` or a command of the app's; returns a function that removes it. */
  registerUiCommandHandler(command: string, handler: UiCommandHandler): () => void;
  /** RTVI `ui-event` `{event, payload}`. */
  sendUiEvent(event: string, payload?: unknown): boolean;
  /** RTVI `ui-cancel-job-group` `{job_id, reason?}`. */
  cancelUiJobGroup(jobId: string, reason?: string): boolean;
  on<K extends keyof UiAgentEvents>(event: K, handler: (arg: UiAgentEvents[K]) => void): () => void;
  readonly enabled: boolean;
  /** Stops watching the page and answering commands (also at the call's end). */
  disable(): void;
}

/** Lets the bot of `conn` see `options.root` and act on it. Throws `bot_error` for a root that is not an element. */
export declare function enableUiAgent(conn: Connection, options?: UiAgentOptions): UiAgent;

/** Reads a `ui-command`'s data; `{ok: false, reason}` when it is not one. */
export declare function readUiCommand(data: unknown): UiCommandRead | { ok: false; reason: string };

/** Is `el` inside `root` (open shadow roots crossed)? */
export declare function isInside(root: Element, el: Element): boolean;

declare module "./agent_rtc.js" {
  interface Connection {
    /** Lets the bot see `options.root` and act on it (added by importing `agent-rtc/ui-agent`). */
    enableUiAgent(options?: UiAgentOptions): UiAgent;
  }
}
