// Types of realtime.mjs (realtime.d.mts re-exports them for TypeScript's .mjs resolution; realtime.min.mjs
// of a built package is the same module) and of globalThis.realtime, which the classic-script build
// realtime.js sets.

export declare const VERSION: string;

export declare const HubConnectionState: {
  readonly Disconnected: "Disconnected";
  readonly Connecting: "Connecting";
  readonly Connected: "Connected";
  readonly Disconnecting: "Disconnecting";
  readonly Reconnecting: "Reconnecting";
};
export type HubConnectionState = (typeof HubConnectionState)[keyof typeof HubConnectionState];

export declare const HttpTransportType: {
  readonly None: 0;
  readonly WebSockets: 1;
  readonly ServerSentEvents: 2;
  readonly LongPolling: 4;
};
/** A bit mask of HttpTransportType values. */
export type HttpTransportType = number;
export type TransportName = "WebSockets" | "ServerSentEvents" | "LongPolling";

export declare const TransferFormat: { readonly Text: 1; readonly Binary: 2 };
export type TransferFormat = (typeof TransferFormat)[keyof typeof TransferFormat];

export declare const MessageType: {
  readonly Invocation: 1;
  readonly StreamItem: 2;
  readonly Completion: 3;
  readonly StreamInvocation: 4;
  readonly CancelInvocation: 5;
  readonly Ping: 6;
  readonly Close: 7;
  /** Stateful reconnect: the sender processed every sequenced message up to `sequenceId`. */
  readonly Ack: 8;
  /** Stateful reconnect: the sender resends its unacknowledged messages from `sequenceId` on. */
  readonly Sequence: 9;
};
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export declare const LogLevel: {
  readonly Trace: 0;
  readonly Debug: 1;
  readonly Information: 2;
  readonly Warning: 3;
  readonly Error: 4;
  readonly Critical: 5;
  readonly None: 6;
};
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

export interface Logger {
  log(level: LogLevel, message: string): void;
}

/** A hub message as the protocols read and write it (field names of the JSON hub protocol). */
export interface HubMessage {
  type: MessageType | number;
  invocationId?: string;
  target?: string;
  arguments?: unknown[];
  streamIds?: string[];
  item?: unknown;
  result?: unknown;
  error?: string;
  allowReconnect?: boolean;
  /** Ack and Sequence (stateful reconnect). */
  sequenceId?: number;
  headers?: Record<string, string>;
}

export interface HubProtocol {
  readonly name: string;
  readonly version: number;
  readonly transferFormat: TransferFormat;
  parseMessages(input: string | ArrayBuffer): HubMessage[];
  writeMessage(message: HubMessage): string | ArrayBuffer | Uint8Array;
}

export declare class JsonHubProtocol implements HubProtocol {
  readonly name: "json";
  /** 2, as SignalR's; the handshake says 1 unless stateful reconnect was granted. */
  readonly version: 2;
  readonly transferFormat: 1;
  parseMessages(input: string | ArrayBuffer): HubMessage[];
  writeMessage(message: HubMessage): string;
}

export interface RetryContext {
  previousRetryCount: number;
  elapsedMilliseconds: number;
  retryReason: Error;
}

export interface RetryPolicy {
  /** Milliseconds to wait before the next attempt, or null to give up. */
  nextRetryDelayInMilliseconds(retryContext: RetryContext): number | null;
}

/** SignalR's schedule (0, 2, 10, 30 s) or the given delays, each varied by ±jitter (a fraction, default 0.2). */
export declare function retryDelays(delays?: number[], jitter?: number): RetryPolicy;

/** Retry at once, then after `initial` ms doubling up to `max` ms (±jitter), at most `retries` times. */
export declare function exponentialBackoff(options?: {
  initial?: number;
  max?: number;
  retries?: number;
  jitter?: number;
}): RetryPolicy;

/** A WebSocket class: the browser's, or one for Node such as the `ws` package's. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: any) => any;
/** An EventSource class: the browser's, or one for Node such as the `eventsource` package's. */
export type EventSourceConstructor = new (url: string, init?: any) => any;

export interface ConnectionOptions {
  /** Called before every negotiate; its token goes in `Authorization` (HTTP) or `?access_token=` (WebSocket, SSE). */
  accessTokenFactory?: () => string | Promise<string>;
  /** Allowed transports: a HttpTransportType mask or a transport name. Default: all, in the server's order. */
  transport?: HttpTransportType | TransportName;
  /**
   * Extra headers of the HTTP requests (negotiate, long polls, sends); browsers cannot add them to WebSocket or
   * SSE, Node's `ws` and `eventsource` send them there too.
   */
  headers?: Record<string, string>;
  /** The WebSocket class where there is no global one (Node 20: `WebSocket: require("ws")`). Default: the global. */
  WebSocket?: WebSocketConstructor;
  /** The EventSource class where there is no global one (Node: the `eventsource` package). Default: the global. */
  EventSource?: EventSourceConstructor;
  /** Open a WebSocket directly, without negotiate (WebSockets transport only). */
  skipNegotiation?: boolean;
  /** Send cookies cross-origin (default true). */
  withCredentials?: boolean;
}

export interface Observer<T> {
  next?(value: T): void;
  error?(error: Error): void;
  complete?(): void;
}

export interface Subscription {
  dispose(): void;
}

export interface StreamResult<T> {
  subscribe(observer: Observer<T>): Subscription;
}

/** Push values into an upload stream: pass it among `invoke`/`send`/`stream` arguments. */
export declare class Subject<T = unknown> implements StreamResult<T> {
  constructor();
  next(item: T): void;
  error(error: unknown): void;
  complete(): void;
  subscribe(observer: Observer<T>): Subscription;
}

/** What may stand for an upload stream among the arguments. */
export type UploadStream<T = unknown> = StreamResult<T> | AsyncIterable<T>;

export interface StatefulReconnectOptions {
  /** Bytes sent and not yet acknowledged by the server above which sends wait for its Ack (default 100 000). */
  bufferSize?: number;
}

export declare class HubConnectionBuilder {
  withUrl(url: string, options?: ConnectionOptions | HttpTransportType | TransportName): this;
  withHubProtocol(protocol: HubProtocol): this;
  /** No argument: 0, 2, 10, 30 s with jitter; or delays in ms (used as given); or a retry policy. */
  withAutomaticReconnect(delaysOrPolicy?: number[] | RetryPolicy): this;
  /**
   * Ask for stateful reconnect: when the server grants it (WebSockets only), a lost socket is replaced by one new
   * socket on the same connection and nothing sent either way is lost or repeated; no reconnecting/reconnected
   * events. If that socket fails, the connection closes with the loss's error (or reconnects, with
   * `withAutomaticReconnect`).
   */
  withStatefulReconnect(options?: StatefulReconnectOptions): this;
  withServerTimeout(milliseconds: number): this;
  withKeepAliveInterval(milliseconds: number): this;
  /** A LogLevel (number or name, e.g. "warning"; default Warning) or a Logger. */
  configureLogging(logging: LogLevel | string | Logger): this;
  build(): HubConnection;
}

export declare class HubConnection {
  readonly state: HubConnectionState;
  /** The public id of the connection (the server's `context.connection_id`); null when not connected. */
  readonly connectionId: string | null;
  /** The hub URL; may change while disconnected or reconnecting. */
  baseUrl: string;
  /** Close when nothing arrived for this long (default 30 000). */
  serverTimeoutInMilliseconds: number;
  /** Ping when nothing was sent for this long (default 15 000). */
  keepAliveIntervalInMilliseconds: number;

  start(): Promise<void>;
  stop(): Promise<void>;
  /** Register a handler of a client method; names match case-insensitively. A value it returns answers a client-result call. */
  on(methodName: string, handler: (...args: any[]) => unknown): void;
  off(methodName: string, handler?: (...args: any[]) => unknown): void;
  onclose(callback: (error?: Error) => void): void;
  onreconnecting(callback: (error?: Error) => void): void;
  onreconnected(callback: (connectionId?: string) => void): void;
  invoke<T = any>(methodName: string, ...args: unknown[]): Promise<T>;
  send(methodName: string, ...args: unknown[]): Promise<void>;
  stream<T = any>(methodName: string, ...args: unknown[]): StreamResult<T>;
  /**
   * fetch() with, on same-origin requests only (the page's or worker's origin; outside them the hub's),
   * `X-Realtime-Connection-Id` (for "to others" pushes) and, on a page, Django's `X-CSRFToken` on unsafe methods.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}

declare global {
  /** Set by the classic-script build, realtime.js (on `window` in a page, on `self` in a worker). */
  var realtime: typeof import("./realtime.js");
}
