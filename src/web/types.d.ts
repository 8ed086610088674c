/** Where the session is started. */
export type Platform = "pipecat-cloud" | "butter" | "pipecat-runner";
export type TransportKind = "webrtc" | "daily" | "websocket";

export interface StartSessionOptions {
  /** Absolute http(s) URL; plain http only for loopback hosts. Required unless `startUrl` is given. */
  baseUrl?: string;
  /** Default "pipecat-cloud". */
  platform?: Platform;
  /** Agent name (Pipecat Cloud) or `agent_...` id (Butter). */
  agent?: string;
  /** Sent as `Authorization: Bearer <apiKey>`; never exposed or logged. */
  apiKey?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Absolute start URL, overriding the platform's. */
  startUrl?: string;
  /** Offer URL template; `{sessionId}` is replaced. */
  offerUrl?: string;
  createDailyRoom?: boolean;
  dailyRoomProperties?: Record<string, unknown>;
  dailyMeetingTokenProperties?: Record<string, unknown>;
  enableDefaultIceServers?: boolean;
  transport?: TransportKind;
  /** Forwarded to the bot. */
  body?: unknown;
  /** Budget for the whole call, default 15000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What `Session.toJSON()` returns: never the key or headers. */
export interface SessionJSON {
  sessionId: string;
  platform: Platform;
  offerUrl?: string;
  iceServers: RTCIceServer[];
  dailyRoom?: string;
  dailyToken?: string;
  token?: string;
  wsUrl?: string;
  response: Record<string, unknown>;
}

export type ErrorCode =
  | "invalid_options" | "http" | "bad_response" | "timeout" | "aborted" | "media" | "webrtc"
  | "ice_failed" | "signalling" | "closed" | "bot_error" | "unsupported";

/** Where a failure happened: a step of the connect, or `call` once the connect resolved. */
export type ConnectPhase = "start" | "media" | "offer" | "ice" | "channel" | "socket" | "bot-ready" | "call";

export interface AgentRtcErrorDetails {
  phase?: ConnectPhase;
  error?: unknown;
  code?: unknown;
  detail?: unknown;
  body?: string;
  name?: string;
  /** What the bot sent with an `error-response` (`bot_error`). */
  data?: unknown;
  timeoutMs?: number;
  network?: boolean;
  /** Why a live call ended after a drop: `"ice-failed"`, `"attempts-exhausted"`, `"timeout"`
   * (`ice_failed`), `"session-gone"` (`signalling`). */
  reason?: string;
  /** A WebSocket's close code and reason (1006 for a refused or unreachable socket). */
  closeCode?: number;
  closeReason?: string;
  [key: string]: unknown;
}

/** Every rejection and `error` event of this library. */
export interface AgentRtcError extends Error {
  name: "AgentRtcError";
  code: ErrorCode;
  status?: number;
  retryable: boolean;
  details?: AgentRtcErrorDetails;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected" | "failed";
export type DisconnectReason = "local" | "peer-left" | "ice-failed" | "channel-closed" | "socket-closed" | "timeout";

export interface ConnectWebRtcOptions {
  /** A session from `startSession`, or its `toJSON()` (e.g. started by the app's server). */
  session?: Session | SessionJSON;
  offerUrl?: string;
  apiKey?: string;
  headers?: Record<string, string>;
  iceServers?: RTCIceServer[];
  audio?: boolean | MediaTrackConstraints | MediaStreamTrack;
  video?: boolean | MediaTrackConstraints | MediaStreamTrack;
  requestData?: unknown;
  waitForBotReady?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  reconnect?: { maxAttempts?: number; timeoutMs?: number };
}

/** `connectWebSocket()`: Pipecat's WebSocket transport (protobuf frames), audio only. */
export interface ConnectWebSocketOptions {
  /** A session started with `transport: "websocket"` (its `wsUrl` and `token`), or its
   * `toJSON()`, or: */
  session?: Session | SessionJSON;
  wsUrl?: string;
  /** Sent as the `token` query parameter of `wsUrl`. */
  token?: string;
  audio?: boolean | MediaTrackConstraints | MediaStreamTrack;
  waitForBotReady?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Where `agent-rtc-audio.js` is served, if not beside the package's JS. */
  workletUrl?: string;
}

/**
 * With `transport: "websocket"`, the WebSocket options apply (`workletUrl`; `video` must be off).
 * `"auto"`: WebRTC where it works, else a WebSocket (a `fallback` event says why); ICE must
 * connect within `fallbackAfterMs` (default 4000) of the answer.
 */
export type StartAndConnectOptions = Omit<StartSessionOptions, "transport"> &
  Omit<ConnectWebRtcOptions, "session"> & {
    transport?: TransportKind | "auto";
    workletUrl?: string;
    fallbackAfterMs?: number;
  };

/** Why `transport: "auto"` carries the call over a WebSocket. */
export interface FallbackEvent {
  from: "webrtc";
  to: "websocket";
  /** No RTCPeerConnection here; ICE not connected in time after the answer; ICE failed; the
   * offer could not reach the server; or WebRTC failed earlier in this page's session. */
  reason: "no-webrtc" | "ice-timeout" | "ice-failed" | "offer-unreachable" | "remembered";
}

export interface ConnectionStats {
  timestamp?: number;
  rttMs?: number;
  jitterMs?: number;
  packetsReceived?: number;
  packetsLost?: number;
  packetsSent?: number;
  bytesReceived?: number;
  bytesSent?: number;
  inboundAudioLevel?: number;
  outboundAudioLevel?: number;
  candidatePairType?: "host" | "srflx" | "prflx" | "relay";
  /** Set on a call over the WebSocket transport, whose stats are these (and the byte counts): */
  transport?: "websocket";
  framesSent?: number;
  framesReceived?: number;
  audioFramesReceived?: number;
  /** The bot audio buffered for playback, how often it ran dry, and how much was played. */
  playbackBufferMs?: number;
  playbackUnderruns?: number;
  playedMs?: number;
  /** What the jitter buffer waits for before it plays: 20 ms, growing by 10 with each underrun. */
  playbackPrebufferMs?: number;
}

export interface RtviMessage {
  label: "rtvi-ai";
  type: string;
  id?: string;
  data?: unknown;
}

export type Role = "user" | "bot";

/** From `user-transcription`, `bot-output` (2.x), or `bot-tts-text` / `bot-transcription` of a bot that sends no `bot-output`. */
export interface TranscriptEvent {
  role: Role;
  text: string;
  final: boolean;
  timestamp?: string;
  /** RTVI 2.2 `bot-output`'s `text_type`: `"sentence"`, `"backchannel"` (a short acknowledgement
   * while the user speaks), ... */
  textType?: string;
}

/** `llm` and `tts`: the bot's LLM or TTS started, produced text, or stopped. */
export interface BotTextEvent {
  state: "started" | "text" | "stopped";
  text?: string;
}

/** `uicommand`: RTVI 2.2 `ui-command` (what `agent-rtc/ui-agent` carries out). */
export interface UiCommand {
  command: string;
  payload?: Record<string, unknown> | null;
}

/** `uijob`: RTVI 2.2 `ui-job-group` (`at` in epoch ms). */
export type UiJobEvent =
  | { kind: "group_started"; job_id: string; workers?: string[]; label?: string; cancellable?: boolean; at: number }
  | { kind: "job_update"; job_id: string; worker_name: string; data?: unknown; at: number }
  | { kind: "job_completed"; job_id: string; worker_name: string; status: string; response?: unknown; at: number }
  | { kind: "group_completed"; job_id: string; at: number };

/** `functioncall`: the server's `llm-function-call-started / -in-progress / -stopped` data. */
export interface FunctionCallEvent {
  state: "started" | "in-progress" | "stopped";
  function_name?: string;
  tool_call_id?: string;
  arguments?: Record<string, unknown>;
  cancelled?: boolean;
  result?: unknown;
}

export interface MediaDeviceList {
  audioinput: MediaDeviceInfo[];
  audiooutput: MediaDeviceInfo[];
  videoinput: MediaDeviceInfo[];
}

export interface ConnectionEvents {
  statechange: ConnectionState;
  track: { track: MediaStreamTrack; stream: MediaStream };
  message: unknown;
  rtvi: RtviMessage;
  botready: unknown;
  reconnecting: { attempt: number; delayMs: number };
  reconnected: { attempts: number; downMs: number };
  transcript: TranscriptEvent;
  speaking: { role: Role; speaking: boolean };
  servermessage: unknown;
  metrics: unknown;
  boterror: { message: string; fatal: boolean };
  /** `bot-interrupted`: the user interrupted the bot (a WebSocket call drops its buffered audio). */
  botinterrupted: Record<string, never>;
  /** `user-mute-started` / `-stopped`: the server muted the user's input (or stopped). */
  usermute: { muted: boolean };
  /** `vad-user-started-speaking` / `-stopped-speaking`: the server's voice activity detector. */
  vad: { speaking: boolean };
  /** `user-audio-level` / `bot-audio-level`: a level the server measured. */
  audiolevel: { role: Role; value: number };
  /** `bot-llm-started` / `-text` / `-stopped`. */
  llm: BotTextEvent;
  /** `bot-tts-started` / `-text` / `-stopped`. */
  tts: BotTextEvent;
  /** `llm-function-call-started` / `-in-progress` / `-stopped` (handlers answer the in-progress one). */
  functioncall: FunctionCallEvent;
  /** `system-log`: a line the server logged for the client. */
  systemlog: { text: string };
  /** `ui-command`: the bot asks the page to act (see `agent-rtc/ui-agent`). */
  uicommand: UiCommand;
  /** `ui-job-group`: long-running work of the bot, for the page to show. */
  uijob: UiJobEvent;
  devicechange: MediaDeviceList;
  error: AgentRtcError;
  /** `transport: "auto"` carries the call over a WebSocket (before the connect resolved). */
  fallback: FallbackEvent;
  disconnected: DisconnectReason;
}

export interface SendTextOptions {
  /** Interrupt the bot and answer now (the server's default: true). */
  runImmediately?: boolean;
  /** Speak the answer (the server's default: true). */
  audioResponse?: boolean;
}

export interface FunctionCallInfo {
  toolCallId: string;
  functionName: string;
}

/** Returns (or resolves to) the JSON result sent back to the bot. */
export type FunctionCallHandler = (args: Record<string, unknown>, info: FunctionCallInfo) => unknown;

/** Milliseconds from the connect call to each step reached. */
export interface ConnectionTimings {
  sessionStarted?: number;
  offerSent?: number;
  answerReceived?: number;
  iceConnected?: number;
  channelOpen?: number;
  remoteTrack?: number;
  botReady?: number;
  connected?: number;
}

export type ConnectionEventName = keyof ConnectionEvents;
export type ConnectionEventHandler<K extends ConnectionEventName> = (arg: ConnectionEvents[K]) => void;

/**
 * Handlers, typed per event. Events fired before the connect call resolved are kept for the
 * first handler added for their name, however late. `free()` and `Symbol.dispose` only release
 * this handle: a live call goes on until `disconnect()` (or its own end), and it is never ended
 * by garbage collection.
 */
export interface Connection {
  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends ConnectionEventName>(event: K, handler: ConnectionEventHandler<K>): () => void;
  off<K extends ConnectionEventName>(event: K, handler: ConnectionEventHandler<K>): void;
  /** Sends an RTVI message (`label: "rtvi-ai"`, a fresh `id`); returns the id. */
  sendRtvi(type: string, data?: unknown): string;
  /** RTVI `send-text`: the bot takes `text` as the user's words. */
  sendText(text: string, options?: SendTextOptions): void;
  /** RTVI `client-message` `{t, d}`, no answer expected; returns its id. */
  sendClientMessage(type: string, data?: unknown): string;
  /**
   * RTVI `client-message`, resolved with the `d` of the bot's `server-response`; rejects with
   * `bot_error` (`error-response`), `timeout` (after `timeoutMs`, default 10000) or `closed` (the
   * call ended first: nothing pending survives `disconnect()`).
   */
  sendClientRequest(type: string, data?: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /** Answers `llm-function-call-in-progress` for `name`; returns the unregister function. */
  registerFunctionCallHandler(name: string, handler: FunctionCallHandler): () => void;
  /** RTVI `disconnect-bot`. */
  disconnectBot(): void;
  /** RTVI `dtmf`, every key in one message (0-9, *, #, A-D). */
  sendDtmf(digits: string): void;
  /** Swaps the microphone (a device id or your own track) with `replaceTrack`, mute kept. */
  setMicrophone(deviceIdOrTrack: string | MediaStreamTrack): Promise<void>;
  /** Swaps the camera (a device id or your own track) with `replaceTrack`, mute kept. */
  setCamera(deviceIdOrTrack: string | MediaStreamTrack): Promise<void>;
  /** Plays `remoteStream` in `element`, or in an `<audio>` the SDK owns; `media`/`NotAllowedError` when autoplay is blocked. */
  attachAudio(element?: HTMLMediaElement): Promise<void>;
  /** Plays again from a user gesture after autoplay was blocked. */
  resumeAudio(): Promise<void>;
  /** The output device (`setSinkId`; a `media` error where the browser has none). */
  setSpeaker(deviceId: string): Promise<void>;
}
