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
  /** `build<ChatHubServer, ChatHubClient>()`: a connection typed by the declarations `realtime_typescript` writes. */
  build<Server = Untyped, Client = Untyped>(): HubConnection<Server, Client>;
}

declare const untyped: unique symbol;
/**
 * The default type arguments of HubConnection: no declarations, so any method name with any arguments (the
 * calls then take a name and unknown arguments, as @microsoft/signalr's do).
 */
export interface Untyped {
  readonly [untyped]: true;
}

type IsUntyped<T> = [T] extends [Untyped] ? true : false;

/** The wire names of the methods of `Server` that `invoke` and `send` call: all but its streams. */
export type HubMethodName<Server> = {
  [K in keyof Server & string]: Server[K] extends (...args: never[]) => infer R
    ? [R] extends [AsyncIterable<unknown>] ? never : K
    : never;
}[keyof Server & string];
/** The wire names of the server streams of `Server` (methods returning `AsyncIterable<Item>`), which `stream` calls. */
export type HubStreamName<Server> = {
  [K in keyof Server & string]: Server[K] extends (...args: never[]) => infer R
    ? [R] extends [AsyncIterable<unknown>] ? K : never
    : never;
}[keyof Server & string];
/** The arguments of a hub method (an upload stream parameter takes a `Subject` or an async iterable). */
export type HubArguments<F> = F extends (...args: infer A) => unknown ? A : never;
/** What a hub method resolves with. */
export type HubResult<F> = F extends (...args: never[]) => infer R ? R : never;
/** The item type of a server stream. */
export type HubStreamItem<F> = F extends (...args: never[]) => AsyncIterable<infer T> ? T : never;
/** A handler of client method `F`: its arguments; a value (or a promise of one) when it answers a client result. */
export type HubHandler<F> = F extends (...args: infer A) => infer R
  ? (...args: A) => [R] extends [void] ? unknown : R | Promise<R>
  : never;

/**
 * A connection to a hub. Typed by the declarations `manage.py realtime_typescript` writes
 * (`HubConnection<ChatHubServer, ChatHubClient>`), `invoke`/`send`/`stream` take only the hub's wire method
 * names with their arguments and `on`/`off` only its client methods with matching handlers; untyped (the
 * default) they take any name, as @microsoft/signalr's do.
 */
export declare class HubConnection<Server = Untyped, Client = Untyped> {
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
  on: IsUntyped<Client> extends true
    ? (methodName: string, handler: (...args: any[]) => unknown) => void
    : <M extends keyof Client & string>(methodName: M, handler: HubHandler<Client[M]>) => void;
  /** Remove one handler of a client method, or all of them. */
  off: IsUntyped<Client> extends true
    ? (methodName: string, handler?: (...args: any[]) => unknown) => void
    : <M extends keyof Client & string>(methodName: M, handler?: HubHandler<Client[M]>) => void;
  onclose(callback: (error?: Error) => void): void;
  onreconnecting(callback: (error?: Error) => void): void;
  onreconnected(callback: (connectionId?: string) => void): void;
  /** Call a hub method and resolve with its result. Subjects and async iterables among `args` are upload streams. */
  invoke: IsUntyped<Server> extends true
    ? <T = any>(methodName: string, ...args: unknown[]) => Promise<T>
    : <M extends HubMethodName<Server>>(methodName: M, ...args: HubArguments<Server[M]>) => Promise<HubResult<Server[M]>>;
  /** Call a hub method without waiting for it: resolves once the message is sent. */
  send: IsUntyped<Server> extends true
    ? (methodName: string, ...args: unknown[]) => Promise<void>
    : <M extends HubMethodName<Server>>(methodName: M, ...args: HubArguments<Server[M]>) => Promise<void>;
  /** Call a streaming hub method: `subscribe({next, error, complete})` returns `{dispose}` (which cancels it). */
  stream: IsUntyped<Server> extends true
    ? <T = any>(methodName: string, ...args: unknown[]) => StreamResult<T>
    : <M extends HubStreamName<Server>>(methodName: M, ...args: HubArguments<Server[M]>) => StreamResult<HubStreamItem<Server[M]>>;
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
