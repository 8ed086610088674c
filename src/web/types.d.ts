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
  | "ice_failed" | "signalling" | "closed";

/** Where a failure happened: a step of the connect, or `call` once the connect resolved. */
export type ConnectPhase = "start" | "media" | "offer" | "ice" | "channel" | "bot-ready" | "call";

export interface AgentRtcErrorDetails {
  phase?: ConnectPhase;
  error?: unknown;
  code?: unknown;
  detail?: unknown;
  body?: string;
  name?: string;
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
export type DisconnectReason = "local" | "peer-left" | "ice-failed" | "channel-closed" | "timeout";

export interface ConnectWebRtcOptions {
  session?: Session;
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

export type StartAndConnectOptions = StartSessionOptions & Omit<ConnectWebRtcOptions, "session">;

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
}

export interface RtviMessage {
  label: "rtvi-ai";
  type: string;
  id?: string;
  data?: unknown;
}

export interface ConnectionEvents {
  statechange: ConnectionState;
  track: { track: MediaStreamTrack; stream: MediaStream };
  message: unknown;
  rtvi: RtviMessage;
  botready: unknown;
  reconnecting: number;
  error: AgentRtcError;
  disconnected: DisconnectReason;
}

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
}
