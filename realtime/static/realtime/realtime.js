// realtime.js: GENERATED from realtime.mjs by scripts/build-client; do not edit.
// A classic <script> (or importScripts) build: sets globalThis.realtime.
(function () {
"use strict";
// realtime.mjs: the browser client of django-realtime-hubs. One dependency-free ES module.
//
// It speaks the ASP.NET Core SignalR protocol (negotiate v1 with redirects; WebSockets, then Server-Sent
// Events, then long polling; the JSON hub protocol, or MessagePack from ./realtime-msgpack.mjs) with the
// API of @microsoft/signalr, and runs where it does: browsers, web workers, bundlers and Node 20+ (which has no
// WebSocket or EventSource of its own: pass them as options, e.g. `WebSocket: require("ws")`, or use long
// polling, which needs only `fetch`). Nothing here reads `window`, `document` or `location` unless it exists.
//
//   import { HubConnectionBuilder } from "/static/realtime/realtime.mjs";
//   const connection = new HubConnectionBuilder().withUrl("/hubs/chat").withAutomaticReconnect().build();
//   connection.on("Message", (user, text) => ...);
//   await connection.start();
//   await connection.invoke("say", "hi");
//
// realtime.js (a classic script setting globalThis.realtime) is generated from this file by
// scripts/build-client; realtime.d.ts holds the types. Built packages also ship realtime.min.mjs (setup.py).

const VERSION = "0.1.0";
const RS = "\x1e";

const HubConnectionState = Object.freeze({
  Disconnected: "Disconnected",
  Connecting: "Connecting",
  Connected: "Connected",
  Disconnecting: "Disconnecting",
  Reconnecting: "Reconnecting",
});
const HttpTransportType = Object.freeze({ None: 0, WebSockets: 1, ServerSentEvents: 2, LongPolling: 4 });
const TransferFormat = Object.freeze({ Text: 1, Binary: 2 });
const MessageType = Object.freeze({
  Invocation: 1,
  StreamItem: 2,
  Completion: 3,
  StreamInvocation: 4,
  CancelInvocation: 5,
  Ping: 6,
  Close: 7,
  Ack: 8,
  Sequence: 9,
});
const LogLevel = Object.freeze({ Trace: 0, Debug: 1, Information: 2, Warning: 3, Error: 4, Critical: 5, None: 6 });
const { Disconnected, Connecting, Connected, Disconnecting, Reconnecting } = HubConnectionState;
const CONNECTION_ID_HEADER = "X-Realtime-Connection-Id";

/** The JSON hub protocol: one JSON object per message, each followed by the record separator 0x1E. */
class JsonHubProtocol {
  constructor() {
    this.name = "json";
    this.version = 2; // 1 in the handshake unless stateful reconnect was granted, as SignalR's
    this.transferFormat = TransferFormat.Text;
  }

  parseMessages(input) {
    if (typeof input !== "string") throw new Error("Invalid input for JSON hub protocol. Expected a string.");
    if (!input) return [];
    if (input[input.length - 1] !== RS) throw new Error("Message is incomplete.");
    return input.slice(0, -1).split(RS).map((text) => JSON.parse(text));
  }

  writeMessage(message) {
    return JSON.stringify(message) + RS;
  }
}

/** A push source for upload streams (and what `stream()` returns): `next`, `error`, `complete`, `subscribe`. */
class Subject {
  constructor(cancel) {
    this.observers = [];
    this.cancel = cancel;
  }

  next(item) {
    for (const observer of [...this.observers]) observer.next?.(item);
  }

  error(error) {
    for (const observer of [...this.observers]) observer.error?.(error);
  }

  complete() {
    for (const observer of [...this.observers]) observer.complete?.();
  }

  subscribe(observer) {
    this.observers.push(observer);
    return {
      dispose: () => {
        const index = this.observers.indexOf(observer);
        if (index >= 0) this.observers.splice(index, 1);
        if (!this.observers.length && this.cancel) this.cancel();
      },
    };
  }
}

/** SignalR's reconnect schedule (0, 2, 10, 30 s) or your delays; each delay varied by ±`jitter` (a fraction). */
function retryDelays(delays = [0, 2000, 10000, 30000], jitter = 0.2) {
  return {
    nextRetryDelayInMilliseconds: ({ previousRetryCount: n }) =>
      n < delays.length ? Math.round(delays[n] * (1 + jitter * (2 * Math.random() - 1))) : null,
  };
}

/** Retry at once, then wait `initial` ms doubling up to `max` ms, ±`jitter`, at most `retries` times. */
function exponentialBackoff({ initial = 1000, max = 30000, retries = Infinity, jitter = 0.2 } = {}) {
  return {
    nextRetryDelayInMilliseconds: ({ previousRetryCount: n }) => {
      if (n >= retries) return null;
      const delay = n ? Math.min(max, initial * 2 ** (n - 1)) : 0;
      return Math.round(delay * (1 + jitter * (2 * Math.random() - 1)));
    },
  };
}

class HubConnectionBuilder {
  /**
   * `options`: a transport (HttpTransportType or name), or
   * {accessTokenFactory, transport, headers, skipNegotiation, withCredentials, WebSocket, EventSource}.
   */
  withUrl(url, options) {
    this.url = url;
    this.options = typeof options === "object" ? options : { transport: options };
    return this;
  }

  withHubProtocol(protocol) {
    this.protocol = protocol;
    return this;
  }

  /** No argument: SignalR's 0, 2, 10, 30 s with jitter; an array of delays (ms, used as given); or a retry policy. */
  withAutomaticReconnect(delaysOrPolicy) {
    this.reconnectPolicy = Array.isArray(delaysOrPolicy)
      ? retryDelays(delaysOrPolicy, 0)
      : delaysOrPolicy || retryDelays();
    return this;
  }

  /**
   * Resume after a lost WebSocket on the same connection, losing nothing (if the server grants it); `options.bufferSize`:
   * the bytes sent and not yet acknowledged above which sends wait (default 100,000).
   */
  withStatefulReconnect(options) {
    this.statefulReconnect = { ...options };
    return this;
  }

  withServerTimeout(milliseconds) {
    this.serverTimeout = milliseconds;
    return this;
  }

  withKeepAliveInterval(milliseconds) {
    this.keepAliveInterval = milliseconds;
    return this;
  }

  /** A LogLevel (number or name) or a logger object with `log(level, message)`. */
  configureLogging(logging) {
    this.logging = logging;
    return this;
  }

  build() {
    if (!this.url) throw new Error("The 'HubConnectionBuilder.withUrl' method must be called before building the connection.");
    const options = { ...this.options, logger: makeLogger(this.logging), _statefulReconnect: this.statefulReconnect };
    const hub = new HubConnection(this.url, options, this.protocol || new JsonHubProtocol(), this.reconnectPolicy);
    if (this.serverTimeout) hub.serverTimeoutInMilliseconds = this.serverTimeout;
    if (this.keepAliveInterval) hub.keepAliveIntervalInMilliseconds = this.keepAliveInterval;
    return hub;
  }
}

function makeLogger(logging = LogLevel.Warning) {
  if (logging && typeof logging === "object") return logging;
  const name = Object.keys(LogLevel).find((key) => key.toLowerCase() === String(logging).toLowerCase());
  const minimum = typeof logging === "number" ? logging : LogLevel[name] ?? LogLevel.Warning;
  return {
    log(level, message) {
      if (level < minimum || level === LogLevel.None) return;
      const method = ["debug", "debug", "info", "warn", "error", "error"][level];
      console[method](`[${new Date().toISOString()}] realtime: ${message}`);
    },
  };
}

class HubConnection {
  constructor(url, options = {}, protocol = new JsonHubProtocol(), reconnectPolicy = null) {
    this.serverTimeoutInMilliseconds = 30000;
    this.keepAliveIntervalInMilliseconds = 15000;
    this.state = Disconnected;
    this._logger = options.logger || makeLogger();
    this._protocol = protocol;
    this._policy = reconnectPolicy;
    this._bufferSize = options._statefulReconnect?.bufferSize ?? 100000;
    this._connection = new HttpConnection(url, options, this._logger);
    this._connection.onreceive = (data) => this._receive(data);
    this._connection.onclose = (error) => this._connectionClosed(error);
    this._handlers = {};
    this._callbacks = {};
    this._nextId = 0;
    this._closed = [];
    this._reconnecting = [];
    this._reconnected = [];
  }

  /** The public id of the connection (what the server's `context.connection_id` is); null when not connected. */
  get connectionId() {
    return this._connection.connectionId || null;
  }

  get baseUrl() {
    return this._connection.baseUrl;
  }

  set baseUrl(url) {
    if (this.state !== Disconnected && this.state !== Reconnecting) {
      throw new Error("The HubConnection must be in the Disconnected or Reconnecting state to change the url.");
    }
    this._connection.baseUrl = absolute(url);
  }

  async start() {
    if (this.state !== Disconnected) {
      throw new Error("Cannot start a HubConnection that is not in the 'Disconnected' state.");
    }
    this.state = Connecting;
    try {
      await this._startInternal();
      this.state = Connected;
    } catch (error) {
      this.state = Disconnected;
      throw error;
    }
  }

  /** Stop; `onclose` callbacks then run with no error. Stops reconnecting too. */
  stop() {
    if (this.state === Disconnected) return Promise.resolve();
    if (this.state !== Disconnecting) this._stopPromise = this._stopInternal();
    return this._stopPromise;
  }

  on(methodName, handler) {
    const handlers = (this._handlers[methodName.toLowerCase()] ||= []);
    if (!handlers.includes(handler)) handlers.push(handler);
  }

  off(methodName, handler) {
    const name = methodName.toLowerCase();
    this._handlers[name] = handler ? (this._handlers[name] || []).filter((h) => h !== handler) : [];
  }

  onclose(callback) {
    this._closed.push(callback);
  }

  onreconnecting(callback) {
    this._reconnecting.push(callback);
  }

  onreconnected(callback) {
    this._reconnected.push(callback);
  }

  /** Call a hub method and resolve with its result. Subjects and async iterables among `args` are upload streams. */
  invoke(methodName, ...args) {
    const streams = this._takeStreams(args);
    const invocationId = String(this._nextId++);
    let sent;
    const result = new Promise((resolve, reject) => {
      this._callbacks[invocationId] = (message, error) => {
        if (error) reject(error);
        else if (message.type !== MessageType.Completion) reject(new Error(`Unexpected message type: ${message.type}`));
        else if (message.error) reject(new Error(message.error));
        else resolve(message.result);
      };
      sent = this._send({ type: MessageType.Invocation, invocationId, target: methodName, arguments: args, streamIds: ids(streams) });
      sent.catch((error) => {
        delete this._callbacks[invocationId];
        reject(error);
      });
    });
    this._launchStreams(streams, sent);
    return result;
  }

  /** Call a hub method without waiting for it: resolves once the message is sent. */
  send(methodName, ...args) {
    const streams = this._takeStreams(args);
    const sent = this._send({ type: MessageType.Invocation, target: methodName, arguments: args, streamIds: ids(streams) });
    this._launchStreams(streams, sent);
    return sent;
  }

  /** Call a streaming hub method: `subscribe({next, error, complete})` returns `{dispose}` (which cancels it). */
  stream(methodName, ...args) {
    const streams = this._takeStreams(args);
    const invocationId = String(this._nextId++);
    const subject = new Subject(() => {
      if (!this._callbacks[invocationId]) return; // finished already
      delete this._callbacks[invocationId];
      sent.then(() => this._send({ type: MessageType.CancelInvocation, invocationId })).catch(() => {});
    });
    this._callbacks[invocationId] = (message, error) => {
      if (error) subject.error(error);
      else if (message.type === MessageType.StreamItem) subject.next(message.item);
      else if (message.error) subject.error(new Error(message.error));
      else subject.complete();
    };
    const message = { type: MessageType.StreamInvocation, invocationId, target: methodName, arguments: args };
    const sent = this._send({ ...message, streamIds: ids(streams) });
    sent.catch((error) => {
      delete this._callbacks[invocationId];
      subject.error(error);
    });
    this._launchStreams(streams, sent);
    return subject;
  }

  /**
   * `fetch()` that tells this site who is asking: on same-origin requests (the page's or worker's origin;
   * elsewhere the hub's) it adds the connection id header (for "to others" pushes) and, on unsafe methods,
   * Django's CSRF header from the page's cookie. Other origins get neither.
   */
  fetch(input, init = {}) {
    const headers = new Headers(init.headers ?? input.headers); // input: a URL, or a Request with its own
    const here = globalThis.location?.href ?? this.baseUrl;
    if (new URL(input.url ?? input, here).origin === new URL(here).origin) {
      if (this.connectionId) headers.set(CONNECTION_ID_HEADER, this.connectionId);
      const csrf = /(?:^|;\s*)csrftoken=([^;]+)/.exec(globalThis.document?.cookie ?? "");
      const method = init.method || input.method || "GET";
      if (csrf && !/^(GET|HEAD|OPTIONS)$/i.test(method)) headers.set("X-CSRFToken", csrf[1]);
    }
    return fetch(input, { credentials: "same-origin", ...init, headers });
  }

  // --- start, receive, close ---------------------------------------------------------------------------

  async _startInternal() {
    const handshake = new Promise((resolve, reject) => (this._handshake = { resolve, reject }));
    handshake.catch(() => {});
    const connection = this._connection;
    await connection.start(this._protocol.transferFormat);
    const { features } = connection;
    // Stateful reconnect (granted, over WebSockets): sequence ids count from the first message after the handshake.
    const buffer = features.reconnect && (this._buffer = new MessageBuffer(this._protocol, connection, this._bufferSize));
    try {
      this._resetServerTimeout();
      await connection.send(JSON.stringify({ protocol: this._protocol.name, version: buffer ? this._protocol.version : 1 }) + RS);
      await handshake;
      features.buffer = buffer; // from now on a lost socket resumes
      if (!features.inherentKeepAlive) await this._sendRaw({ type: MessageType.Ping });
    } catch (error) {
      this._handshake = null;
      this._clearTimers();
      await this._connection.stop(error);
      throw error;
    }
  }

  async _stopInternal(error) {
    const previous = this.state;
    this.state = Disconnecting;
    if (previous === Reconnecting) {
      clearTimeout(this._retryTimer);
      this._wake?.();
      await this._connection.stop();
      return this._completeClose();
    }
    this._stopError = error;
    if (previous === Connected && !error) await this._sendRaw({ type: MessageType.Close }).catch(() => {});
    // The server may have ended the transport on our Close already, and an `onclose` callback started again.
    if (this.state !== Disconnecting) return;
    this._clearTimers();
    await this._connection.stop(error);
  }

  _receive(data) {
    this._resetServerTimeout();
    try {
      if (this._handshake) {
        data = this._handshakeResponse(data);
        if (data == null) return;
      }
      for (const message of this._protocol.parseMessages(data)) this._dispatch(message);
    } catch (error) {
      this._logger.log(LogLevel.Error, `Error parsing messages: ${error}`);
      this._connection.stop(error);
    }
  }

  /** Settle the handshake from the first chunk; return what follows the response, if anything. */
  _handshakeResponse(data) {
    let text;
    let rest;
    if (typeof data === "string") {
      const end = data.indexOf(RS);
      if (end < 0) throw new Error("Message is incomplete.");
      text = data.slice(0, end);
      rest = data.slice(end + 1);
    } else {
      const bytes = new Uint8Array(data);
      const end = bytes.indexOf(0x1e);
      if (end < 0) throw new Error("Message is incomplete.");
      text = new TextDecoder().decode(bytes.subarray(0, end));
      rest = bytes.slice(end + 1).buffer;
    }
    const response = JSON.parse(text);
    const { resolve, reject } = this._handshake;
    this._handshake = null;
    if (response.error) {
      reject(new Error(`Server returned handshake error: ${response.error}`));
      return null;
    }
    resolve();
    return (rest.length ?? rest.byteLength) ? rest : null;
  }

  _dispatch(message) {
    if (this._buffer && !this._buffer.accept(message)) return; // a duplicate, or before the Sequence of a resume
    switch (message.type) {
      case MessageType.Invocation:
        this._invokeHandlers(message);
        break;
      case MessageType.StreamItem:
      case MessageType.Completion: {
        const callback = this._callbacks[message.invocationId];
        if (message.type === MessageType.Completion) delete this._callbacks[message.invocationId];
        callback?.(message);
        break;
      }
      case MessageType.Ping:
        break;
      case MessageType.Ack:
        this._buffer?.ack(message.sequenceId);
        break;
      case MessageType.Sequence:
        this._buffer?.sequence(message.sequenceId);
        break;
      case MessageType.Close: {
        const error = message.error ? new Error(`Server returned an error on close: ${message.error}`) : undefined;
        if (message.allowReconnect) this._connection.stop(error);
        else this._stopPromise = this._stopInternal(error);
        break;
      }
      default:
        this._logger.log(LogLevel.Warning, `Invalid message type: ${message.type}.`);
    }
  }

  /** Run every handler of an Invocation; answer a client-result request (one with an id) with a Completion. */
  async _invokeHandlers(message) {
    const handlers = [...(this._handlers[message.target.toLowerCase()] || [])];
    const expectsResult = message.invocationId != null;
    if (!handlers.length) this._logger.log(LogLevel.Warning, `No client method with the name '${message.target}' found.`);
    let result;
    let error;
    let results = 0;
    for (const handler of handlers) {
      try {
        const value = await handler.apply(this, message.arguments);
        if (value !== undefined) (result = value), results++;
        error = undefined;
      } catch (e) {
        error = e;
        this._logger.log(LogLevel.Error, `A callback for the method '${message.target}' threw an error: ${e}`);
      }
    }
    if (!expectsResult) return;
    const completion = { type: MessageType.Completion, invocationId: message.invocationId };
    if (results > 1) completion.error = "Client provided multiple results.";
    else if (error) completion.error = `${error}`;
    else if (results) completion.result = result;
    else completion.error = "Client didn't provide a result.";
    this._sendRaw(completion).catch((e) => this._logger.log(LogLevel.Error, `Could not send a client result: ${e}`));
  }

  _connectionClosed(error) {
    this._handshake?.reject(error || new Error("The underlying connection was closed before the hub handshake could complete."));
    this._handshake = null;
    this._clearTimers();
    this._buffer?.dispose(error || new Error("Connection closed."));
    this._buffer = null;
    const canceled = error || new Error("Invocation canceled due to the underlying connection being closed.");
    const callbacks = Object.values(this._callbacks);
    this._callbacks = {};
    for (const callback of callbacks) callback(null, canceled);
    // Stopping: the reason is the stop's own (none for stop()), not how the transport ended meanwhile (a server
    // that got our Close message may end an SSE stream or a poll before we close it ourselves).
    if (this.state === Disconnecting) this._completeClose(this._stopError);
    else if (this.state === Connected && this._policy) this._reconnect(error);
    else if (this.state === Connected) this._completeClose(error);
    // Connecting and Reconnecting: start() or the reconnect loop sees the failure.
  }

  _completeClose(error) {
    if (this.state === Disconnected) return;
    this.state = Disconnected;
    this._stopError = undefined;
    this._emit(this._closed, error);
  }

  async _reconnect(error) {
    const started = Date.now();
    let retries = 0;
    let reason = error || new Error("Attempting to reconnect due to a unknown error.");
    const next = () =>
      this._policy.nextRetryDelayInMilliseconds({
        previousRetryCount: retries++,
        elapsedMilliseconds: Date.now() - started,
        retryReason: reason,
      });
    let delay = next();
    if (delay == null) return this._completeClose(error);
    this.state = Reconnecting;
    this._logger.log(LogLevel.Information, `Connection lost (${error || "no error"}); reconnecting.`);
    this._emit(this._reconnecting, error);
    while (delay != null) {
      if (this.state !== Reconnecting) return;
      await new Promise((resolve) => {
        this._wake = resolve;
        this._retryTimer = setTimeout(resolve, delay);
      });
      if (this.state !== Reconnecting) return;
      try {
        await this._startInternal();
      } catch (e) {
        reason = e;
        this._logger.log(LogLevel.Information, `Reconnect attempt failed: ${e}`);
        delay = next();
        continue;
      }
      if (this.state !== Reconnecting) return this._connection.stop();
      this.state = Connected;
      this._emit(this._reconnected, this._connection.connectionId); // undefined under skipNegotiation, as SignalR's
      return;
    }
    this._logger.log(LogLevel.Information, `Reconnect retries exhausted after ${Date.now() - started} ms.`);
    this._completeClose(error);
  }

  _emit(callbacks, value) {
    for (const callback of callbacks) {
      try {
        callback.call(this, value);
      } catch (e) {
        this._logger.log(LogLevel.Error, `A callback threw an error: ${e}`);
      }
    }
  }

  // --- sending -----------------------------------------------------------------------------------------

  _send(message) {
    if (this.state !== Connected) return Promise.reject(new Error("Cannot send data if the connection is not in the 'Connected' State."));
    return this._sendRaw(message);
  }

  _sendRaw(message) {
    if (message.streamIds && !message.streamIds.length) delete message.streamIds;
    this._scheduleKeepAlive();
    return this._buffer ? this._buffer.send(message) : this._connection.send(this._protocol.writeMessage(message));
  }

  /** Take the upload streams (Subjects, observables, async iterables) out of `args`, in place, giving each an id. */
  _takeStreams(args) {
    const streams = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (arg && typeof arg === "object" && (typeof arg.subscribe === "function" || arg[Symbol.asyncIterator])) {
        streams.push({ id: String(this._nextId++), source: arg });
        args.splice(i--, 1);
      }
    }
    return streams;
  }

  /** Once the invocation is sent, forward each upload stream as StreamItems, then one Completion, in order. */
  _launchStreams(streams, sent) {
    for (const { id: invocationId, source } of streams) {
      let queue = sent;
      const push = (message) => {
        queue = queue.then(() => this._send({ invocationId, ...message }));
        queue.catch(() => {}); // the connection closed: the server forgets the stream anyway
        return queue;
      };
      const item = (value) => push({ type: MessageType.StreamItem, item: value });
      const done = (error) =>
        push(error ? { type: MessageType.Completion, error: error.message || `${error}` } : { type: MessageType.Completion });
      if (typeof source.subscribe === "function") {
        source.subscribe({ next: item, error: done, complete: () => done() }); // now: a Subject does not buffer
        continue;
      }
      sent.then(async () => {
        try {
          for await (const value of source) await item(value);
          done();
        } catch (error) {
          done(error);
        }
      }, () => {});
    }
  }

  // --- keep-alive and server timeout ---------------------------------------------------------------------

  _scheduleKeepAlive() {
    if (this._connection.features.inherentKeepAlive) return;
    clearTimeout(this._pingTimer);
    this._pingTimer = setTimeout(() => {
      if (this.state === Connected) this._sendRaw({ type: MessageType.Ping }).catch(() => {});
    }, this.keepAliveIntervalInMilliseconds);
  }

  _resetServerTimeout() {
    if (this._connection.features.inherentKeepAlive) return;
    clearTimeout(this._serverTimer);
    this._serverTimer = setTimeout(
      () => this._connection.stop(new Error("Server timeout elapsed without receiving a message from the server.")),
      this.serverTimeoutInMilliseconds,
    );
  }

  _clearTimers() {
    clearTimeout(this._pingTimer);
    clearTimeout(this._serverTimer);
  }
}

// --- stateful reconnect ------------------------------------------------------------------------------------

/** Invocation, StreamItem, Completion, StreamInvocation and CancelInvocation carry (implicit) sequence ids. */
const sequenced = (message) => message.type <= MessageType.CancelInvocation;

/**
 * Stateful reconnect, as SignalR's MessageBuffer: keeps what it sends until the server acknowledges it (waiting
 * while `bufferSize` bytes are unacknowledged), resends it after a lost socket, acknowledges what it received
 * (at most once a second) and drops what the server resends and it already had.
 */
class MessageBuffer {
  constructor(protocol, connection, bufferSize) {
    this._protocol = protocol;
    this._connection = connection;
    this._bufferSize = bufferSize;
    this._kept = []; // {data, id, size, release(), fail(error)}: sent, not acknowledged
    this._bytes = 0;
    this._sentId = 0;
    this._nextId = 1; // of the next message received
    this._receivedId = 0; // the newest one processed
  }

  async send(message) {
    const data = this._protocol.writeMessage(message);
    let full;
    if (sequenced(message)) {
      const item = { data, id: ++this._sentId, size: data.length ?? data.byteLength };
      this._bytes += item.size;
      if (this._bytes >= this._bufferSize) full = new Promise((release, fail) => Object.assign(item, { release, fail }));
      this._kept.push(item);
    }
    // While resuming, the resend sends it (a Ping or an Ack is not needed then).
    if (!this._resuming) await this._connection.send(data).catch(() => this.disconnected());
    await full;
  }

  ack(sequenceId) {
    let acked = 0;
    for (const item of this._kept) {
      if (item.id <= sequenceId) {
        this._bytes -= item.size;
        acked++;
      } else if (this._bytes >= this._bufferSize) break;
      item.release?.();
    }
    this._kept = this._kept.slice(acked); // a copy: a resend under way goes on over the old array
  }

  /** Whether to process `message`: not while waiting for the server's Sequence, nor a sequenced one seen before. */
  accept(message) {
    if (this._awaitSequence) {
      if (message.type !== MessageType.Sequence) return false;
      this._awaitSequence = false;
    }
    if (!sequenced(message)) return true;
    const id = this._nextId++;
    if (id >= this._receivedId) this._scheduleAck(); // new, or the newest again: the server missed our Ack
    if (id <= this._receivedId) return false;
    this._receivedId = id;
    return true;
  }

  sequence(sequenceId) {
    if (sequenceId > this._nextId) this._connection.stop(new Error("Sequence ID greater than amount of messages we've received."));
    else this._nextId = sequenceId;
  }

  disconnected() {
    this._resuming = this._awaitSequence = true;
  }

  /** On the new socket: Sequence (the first id resent), then everything not acknowledged. */
  async resend() {
    const kept = this._kept;
    await this._write({ type: MessageType.Sequence, sequenceId: kept[0]?.id ?? this._sentId + 1 });
    for (const item of kept) await this._connection.send(item.data);
    this._resuming = false;
  }

  dispose(error) {
    clearTimeout(this._ackTimer);
    for (const item of this._kept) item.fail?.(error);
  }

  _scheduleAck() {
    this._ackTimer ??= setTimeout(() => {
      this._ackTimer = undefined;
      if (!this._resuming) this._write({ type: MessageType.Ack, sequenceId: this._receivedId }).catch(() => {});
    }, 1000);
  }

  _write(message) {
    return this._connection.send(this._protocol.writeMessage(message));
  }
}

// --- the connection: negotiate and transports --------------------------------------------------------------

/** Negotiate (following redirects) and open the first transport that is allowed, available and starts. */
class HttpConnection {
  constructor(url, options, logger) {
    this.baseUrl = absolute(url);
    this.options = options;
    this.features = {};
    this._logger = logger;
    this._stateful = !!options._statefulReconnect;
  }

  async start(transferFormat) {
    this._stopError = this.connectionId = undefined;
    this._abort = new AbortController();
    this._tokenFactory = this.options.accessTokenFactory;
    let url = this.baseUrl;
    let requested = this.options.transport ?? 7;
    if (typeof requested === "string") requested = HttpTransportType[requested];
    if (this.options.skipNegotiation) {
      if (requested !== HttpTransportType.WebSockets) {
        throw new Error("Negotiation can only be skipped when using the WebSocket transport directly.");
      }
      if (!WebSocketTransport.api(this.options)) throw new Error("'WebSocket' is not supported in your environment.");
      this._token = await this._tokenFactory?.();
      return this._open(WebSocketTransport, url, transferFormat);
    }
    let negotiation = await this._negotiate(url);
    for (let redirects = 0; negotiation.url; ) {
      url = negotiation.url;
      if (negotiation.accessToken) {
        const token = negotiation.accessToken;
        this._tokenFactory = () => token;
      }
      if (++redirects >= 100) throw new Error("Negotiate redirection limit exceeded.");
      negotiation = await this._negotiate(url);
    }
    const errors = [];
    for (const { transport, transferFormats } of negotiation.availableTransports || []) {
      const Transport = { WebSockets: WebSocketTransport, ServerSentEvents: ServerSentEventsTransport, LongPolling: LongPollingTransport }[transport];
      const format = transferFormat === TransferFormat.Binary ? "Binary" : "Text";
      if (!Transport || !(requested & HttpTransportType[transport]) || !transferFormats.includes(format) || !Transport.api(this.options)) {
        errors.push(`${transport} is not usable here.`);
        continue;
      }
      try {
        negotiation ||= await this._negotiate(url);
        const token = negotiation.negotiateVersion > 0 ? negotiation.connectionToken : negotiation.connectionId;
        const resumable = Transport === WebSocketTransport && negotiation.useStatefulReconnect === true;
        await this._open(Transport, withQuery(url, { id: token }), transferFormat, resumable);
        this.connectionId = negotiation.connectionId;
        return;
      } catch (error) {
        if (this._abort.signal.aborted) throw error;
        this._logger.log(LogLevel.Warning, `Failed to start the transport '${transport}': ${error}`);
        errors.push(`${transport} failed: ${error}`);
        negotiation = null;
      }
    }
    throw new Error(`Unable to connect to the server with any of the available transports. ${errors.join(" ")}`);
  }

  async _negotiate(url) {
    this._token = await this._tokenFactory?.();
    const target = new URL(url);
    target.pathname = target.pathname.replace(/\/?$/, "/negotiate");
    const query = target.searchParams;
    if (!query.has("negotiateVersion")) query.set("negotiateVersion", "1");
    if (query.has("useStatefulReconnect")) this._stateful ||= query.get("useStatefulReconnect") === "true";
    else if (this._stateful) query.set("useStatefulReconnect", "true");
    let body;
    try {
      const response = await this.request("POST", target.href, { retry: false });
      if (response.status !== 200) throw await httpError(response);
      body = await response.json();
    } catch (error) {
      throw new Error(`Failed to complete negotiation with the server: ${error}`);
    }
    if (body.error) throw new Error(body.error);
    if (body.useStatefulReconnect && !this._stateful) throw new Error("Client didn't negotiate Stateful Reconnect but the server did.");
    return body;
  }

  async _open(Transport, url, transferFormat, resumable) {
    const transport = new Transport(this, transferFormat);
    transport.onreceive = (data) => this.onreceive(data);
    const closed = (error) => {
      if (this.transport !== transport) return;
      this.transport = null;
      this.connectionId = undefined;
      this.onclose(error || this._stopError);
    };
    transport.onclose = (error) => {
      // Stateful reconnect: one new socket on the same URL, then the resend; if that fails, close for the loss.
      const { buffer } = this.features;
      if (!buffer || this._abort.signal.aborted) return closed(error);
      buffer.disconnected();
      this._resuming = (async () => {
        this._token = await this._tokenFactory?.(); // a fresh token, as for every socket
        this._abort.signal.throwIfAborted();
        await transport.connect(url);
        await buffer.resend();
      })().catch(() => closed(error));
    };
    await transport.connect(url);
    this.transport = transport;
    this.features = { inherentKeepAlive: !!transport.inherentKeepAlive, reconnect: resumable };
    this.transportName = Transport.transportName;
    if (this._abort.signal.aborted) {
      await this.stop();
      throw new Error("The connection was stopped during negotiation.");
    }
  }

  send(data) {
    if (!this.transport) return Promise.reject(new Error("Cannot send until the transport is connected."));
    return this.transport.send(data);
  }

  async stop(error) {
    this._stopError = error;
    this._abort?.abort();
    await this.transport?.stop();
    await this._resuming; // a resume under way: its socket closes and it reports the close
  }

  /** fetch() with the library headers, the access token and the user's headers; a 401 refreshes the token once. */
  async request(method, url, { body, signal, contentType, retry = true } = {}) {
    const send = () =>
      fetch(url, {
        method,
        body,
        signal: signal || this._abort.signal,
        credentials: this.options.withCredentials === false ? "same-origin" : "include",
        headers: {
          "X-Requested-With": "XMLHttpRequest",
          ...(contentType && { "Content-Type": contentType }),
          ...(this._token && { Authorization: `Bearer ${this._token}` }),
          ...this.options.headers,
        },
      });
    let response = await send();
    if (response.status === 401 && retry && this._tokenFactory) {
      this._token = await this._tokenFactory();
      response = await send();
    }
    return response;
  }

  /** The transports' POST send: batches what is queued while a POST is in flight, one POST at a time. */
  post(url, data) {
    (this._queue ||= []).push(data);
    if (!this._batch) {
      this._batch = (this._posting || Promise.resolve()).catch(() => {}).then(async () => {
        const parts = this._queue.splice(0);
        this._batch = null;
        const binary = parts.some((part) => typeof part !== "string"); // the handshake is text in any protocol
        const response = await this.request("POST", url, {
          body: binary ? new Blob(parts) : parts.join(""),
          contentType: binary ? "application/octet-stream" : "text/plain;charset=UTF-8",
        });
        if (response.status !== 200) throw await httpError(response);
      });
      this._posting = this._batch;
    }
    return this._batch;
  }
}

const ids = (streams) => streams.map((stream) => stream.id);

function withQuery(url, params) {
  const query = Object.entries(params)
    .filter(([, value]) => value != null)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join("&");
  return query ? url + (url.includes("?") ? "&" : "?") + query : url;
}

async function httpError(response) {
  const error = new Error(`${(await response.text()) || response.statusText}: Status code '${response.status}'`);
  error.statusCode = response.status;
  return error;
}

/** `url` resolved against the page's base URL or the worker's location; elsewhere (Node) it must be absolute. */
function absolute(url) {
  try {
    return new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href).href;
  } catch {
    throw new Error(`Cannot resolve '${url}'.`);
  }
}

class WebSocketTransport {
  static transportName = "WebSockets";
  /** The WebSocket class to use: the `WebSocket` option (e.g. the `ws` package in Node), else the global one. */
  static api = (options) => options.WebSocket ?? globalThis.WebSocket;

  constructor(connection) {
    this.connection = connection;
  }

  connect(url) {
    const { options, _token } = this.connection;
    const wsUrl = withQuery(url.replace(/^http/, "ws"), { access_token: _token });
    return new Promise((resolve, reject) => {
      const Socket = WebSocketTransport.api(options);
      // A WebSocket class given as an option (Node's `ws`) sends headers on the upgrade; a browser's takes none.
      const socket = options.WebSocket && options.headers ? new Socket(wsUrl, [], { headers: options.headers }) : new Socket(wsUrl);
      this.opening = socket;
      socket.binaryType = "arraybuffer";
      socket.onopen = () => {
        this.socket = socket;
        this.opening = null;
        resolve();
      };
      socket.onerror = () => reject(new Error("WebSocket failed to connect."));
      socket.onmessage = (event) => this.onreceive(event.data);
      socket.onclose = (event) => {
        if (this.socket !== socket) return reject(new Error(`WebSocket closed with status code: ${event.code} before it opened.`));
        const reason = event.reason || "no reason given";
        this._close(event.code === 1000 ? undefined : new Error(`WebSocket closed with status code: ${event.code} (${reason}).`));
      };
    });
  }

  send(data) {
    if (this.socket?.readyState !== 1) return Promise.reject(new Error("WebSocket is not in the OPEN state"));
    this.socket.send(data);
    return Promise.resolve();
  }

  stop() {
    this.opening?.close(); // a stateful reconnect under way
    this._close();
  }

  _close(error) {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    socket.onclose = socket.onmessage = null;
    socket.close(1000);
    this.onclose(error);
  }
}

class ServerSentEventsTransport {
  static transportName = "ServerSentEvents";
  /** The `EventSource` option (e.g. the `eventsource` package in Node), else the global one. */
  static api = (options) => options.EventSource ?? globalThis.EventSource;

  constructor(connection) {
    this.connection = connection;
  }

  connect(url) {
    this.url = url;
    const { options, _token } = this.connection;
    const init = { withCredentials: options.withCredentials !== false, headers: options.headers }; // headers: Node's `eventsource`
    return new Promise((resolve, reject) => {
      const source = new (ServerSentEventsTransport.api(options))(withQuery(url, { access_token: _token }), init);
      source.onopen = () => {
        this.source = source;
        resolve();
      };
      source.onerror = () => {
        source.close(); // or EventSource reconnects by itself
        if (this.source === source) this._close(new Error("The Server-Sent Events stream ended."));
        else reject(new Error("EventSource failed to connect."));
      };
      source.onmessage = (event) => this.onreceive(event.data);
    });
  }

  send(data) {
    return this.connection.post(this.url, data);
  }

  stop() {
    this._close();
  }

  _close(error) {
    const source = this.source;
    if (!source) return;
    this.source = null;
    source.close();
    this.onclose(error);
  }
}

class LongPollingTransport {
  static transportName = "LongPolling";
  static api = () => globalThis.fetch;

  constructor(connection, transferFormat) {
    this.connection = connection;
    this.binary = transferFormat === TransferFormat.Binary;
    this.inherentKeepAlive = true;
  }

  async connect(url) {
    this.url = url;
    this.abort = new AbortController();
    const response = await this._poll(); // the first poll is answered at once and starts the connection
    if (response.status !== 200) throw await httpError(response);
    this.running = true;
    this.loop = this._pollLoop();
  }

  _poll() {
    const timer = setTimeout(() => this.abort.abort(), 100000);
    return this.connection
      .request("GET", withQuery(this.url, { _: Date.now() }), { signal: this.abort.signal })
      .finally(() => clearTimeout(timer));
  }

  async _pollLoop() {
    let error;
    while (this.running) {
      try {
        const response = await this._poll();
        if (response.status === 204) break; // the server ended the connection
        if (response.status !== 200) throw await httpError(response);
        const data = this.binary ? await response.arrayBuffer() : await response.text();
        if (data.length || data.byteLength) this.onreceive(data);
      } catch (e) {
        if (!this.running) break;
        if (e.name !== "AbortError") {
          error = e;
          break;
        }
        this.abort = new AbortController(); // a poll that timed out on our side: poll again
      }
    }
    if (this.running) {
      this.running = false;
      this.onclose(error);
    }
  }

  send(data) {
    if (!this.running) return Promise.reject(new Error("Cannot send until the transport is connected"));
    return this.connection.post(this.url, data);
  }

  async stop() {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    await this.loop;
    try {
      await this.connection.request("DELETE", this.url, { signal: AbortSignal.timeout(10000) });
    } catch {
      // best effort: the server disposes the connection after its disconnect timeout anyway
    }
    this.onclose();
  }
}

globalThis.realtime = { VERSION, HubConnectionState, HttpTransportType, TransferFormat, MessageType, LogLevel, JsonHubProtocol, Subject, retryDelays, exponentialBackoff, HubConnectionBuilder, HubConnection };
})();
