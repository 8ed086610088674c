// Types of <agent-preview> (agent-preview.js): importing the module registers the element.
//
//   import "agent-rtc/agent-preview";
//   const el = document.querySelector("agent-preview"); // AgentPreview | null
//   el?.addEventListener("statechange", (e) => console.log(e.detail.state));

import type { AgentRtcError, Connection, ConnectionState, Platform, Role, TranscriptEvent } from "./agent_rtc.js";
import type { UiAgent } from "./agent-rtc-ui.js";

/** The element's state: the connection's, or `"disconnected"` before `start()`. */
export type AgentPreviewState = ConnectionState;

/** How the call is carried: the SDK's WebRTC connection, or a Daily room shown in an iframe. */
export type AgentPreviewTransport = "webrtc" | "websocket" | "auto" | "daily";

/** The element's attributes (all optional strings; boolean ones are on when present). */
export interface AgentPreviewAttributes {
  /** `"pipecat-cloud"` (default), `"butter"` or `"pipecat-runner"`. */
  platform?: Platform;
  /** The platform's API base URL (`baseUrl`). */
  "base-url"?: string;
  /** An absolute start URL instead of the platform's (`startUrl`). */
  "start-url"?: string;
  /** The agent's name (Pipecat Cloud) or `agent_...` id (Butter). */
  agent?: string;
  /** Sent as `Authorization: Bearer`. Only for public keys: prefer the `apiKey` property. */
  "api-key"?: string;
  /** Offer URL template (`{sessionId}` is replaced). */
  "offer-url"?: string;
  /** `"auto"` (the default): WebRTC where it connects, else a WebSocket. `"webrtc"`: WebRTC only.
   * `"websocket"`: Pipecat's WebSocket transport (audio only; `video` is ignored). `"daily"`: start
   * a Daily session (`transport: "daily"`, `createDailyRoom: true`) and show its room. */
  transport?: AgentPreviewTransport;
  /** Ask the start API for a Daily room; shown in an iframe when the answer has one, else WebRTC. */
  "create-daily-room"?: "" | boolean;
  /** Start as soon as the element is in the document. */
  "auto-connect"?: "" | boolean;
  /** Send the camera too and show the bot's video. */
  video?: "" | boolean;
  /** The "Let the agent see this page" switch starts on (RTVI 2.2 UI agent; off by default). */
  "see-page"?: "" | boolean;
}

/** The element's own events (all bubble and cross shadow roots). */
export interface AgentPreviewEvents {
  statechange: CustomEvent<{ state: AgentPreviewState }>;
  /** The bot's RTVI `bot-ready` data. */
  botready: CustomEvent<unknown>;
  /** Every message from the bot on the data channel (parsed JSON, or the string). */
  message: CustomEvent<unknown>;
  /**
   * A line of the transcript, as the connection's `transcript` event: the user's words
   * (`user-transcription`) or the bot's (`bot-output`; `bot-tts-text` / `bot-transcription` from a bot
   * without it). `final: false` is interim text, shown until its final line replaces it.
   */
  transcript: CustomEvent<TranscriptEvent>;
  /** Someone started or stopped speaking (the bot's `*-started-speaking` / `*-stopped-speaking`). */
  speaking: CustomEvent<{ role: Role; speaking: boolean }>;
  /**
   * What went wrong; `describeError(e.detail)` says it in words. Also a microphone or speaker switch
   * that failed (`media`, phase `call`): the call goes on with the device it had.
   */
  error: CustomEvent<AgentRtcError>;
  /** The UI agent the "Let the agent see this page" switch started on the call. */
  uiagent: CustomEvent<UiAgent>;
}

/** Every event of the element: its own, and the DOM's (`error` is the element's own). */
export type AgentPreviewEventMap = Omit<HTMLElementEventMap, keyof AgentPreviewEvents> & AgentPreviewEvents;

export declare class AgentPreview extends HTMLElement {
  /** JSON forwarded to the bot in the start request. */
  body: unknown;
  /** The API key without putting it in an attribute. */
  apiKey: string | undefined;
  readonly state: AgentPreviewState;
  /** The live WebRTC connection, or null (before start, after stop, in a Daily room). */
  readonly connection: Connection | null;
  /** The current call's transport, or null when there is no call. */
  get transport(): "webrtc" | "websocket" | "daily" | null;
  /** Sets the `transport` attribute: the transport of the next call. */
  set transport(v: AgentPreviewTransport);
  /** The Daily room shown (its URL without the token), or null. */
  readonly room: string | null;
  /**
   * Starts a call; resolves once connected (a Daily room: once its frame is opened; the state turns
   * `"connected"` when the room's page has loaded), rejects with the error.
   */
  start(): Promise<void>;
  /** Ends the call (also on removal from the document); resolves once everything is released. */
  stop(): Promise<void>;

  addEventListener<K extends keyof AgentPreviewEventMap>(
    type: K,
    listener: (this: AgentPreview, ev: AgentPreviewEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof AgentPreviewEventMap>(
    type: K,
    listener: (this: AgentPreview, ev: AgentPreviewEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}

/** An error of the SDK or the element, in words for people. */
export declare function describeError(e: unknown): string;

declare global {
  interface HTMLElementTagNameMap {
    "agent-preview": AgentPreview;
  }
}
