// realtime.js: a small browser client for django-realtime-hubs (SignalR JSON hub protocol over WebSockets).
// API in the spirit of @microsoft/signalr:
//   const connection = new HubConnection("/hubs/chat");
//   connection.on("Message", (user, text) => ...);
//   await connection.start();
//   await connection.invoke("say", "hi");
//   connection.stream("countdown", 5).subscribe({ next, complete, error });
const RS = "\x1e";

export class HubConnection {
  constructor(url, { accessTokenFactory = null, keepAliveIntervalMs = 15000, serverTimeoutMs = 30000 } = {}) {
    this.url = new URL(url, window.location.href);
    this.accessTokenFactory = accessTokenFactory;
    this.keepAliveIntervalMs = keepAliveIntervalMs;
    this.serverTimeoutMs = serverTimeoutMs;
    this.connectionId = null;
    this.state = "Disconnected";
    this._handlers = new Map();
    this._pending = new Map();
    this._nextId = 0;
    this._closeCallbacks = [];
  }

  on(name, handler) {
    const key = name.toLowerCase();
    if (!this._handlers.has(key)) this._handlers.set(key, []);
    this._handlers.get(key).push(handler);
  }

  off(name, handler) {
    const key = name.toLowerCase();
    if (!handler) this._handlers.delete(key);
    else this._handlers.set(key, (this._handlers.get(key) || []).filter((h) => h !== handler));
  }

  onclose(callback) {
    this._closeCallbacks.push(callback);
  }

  async start() {
    this.state = "Connecting";
    const token = this.accessTokenFactory ? await this.accessTokenFactory() : null;
    const negotiateUrl = new URL(this.url);
    negotiateUrl.pathname = negotiateUrl.pathname.replace(/\/$/, "") + "/negotiate";
    negotiateUrl.searchParams.set("negotiateVersion", "1");
    const headers = { "X-Requested-With": "XMLHttpRequest" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(negotiateUrl, { method: "POST", headers, credentials: "include" });
    if (response.status !== 200) throw new Error(`Negotiate failed: status code ${response.status}`);
    const negotiation = await response.json();
    if (negotiation.error) throw new Error(negotiation.error);
    this.connectionId = negotiation.connectionId;
    const socketUrl = new URL(this.url);
    socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";
    socketUrl.searchParams.set("id", negotiation.connectionToken || negotiation.connectionId);
    if (token) socketUrl.searchParams.set("access_token", token);
    await this._open(socketUrl);
    this.state = "Connected";
  }

  _open(socketUrl) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(socketUrl);
      let handshaken = false;
      this._socket = socket;
      socket.onopen = () => socket.send(JSON.stringify({ protocol: "json", version: 1 }) + RS);
      socket.onmessage = (event) => {
        let data = event.data;
        if (!handshaken) {
          const end = data.indexOf(RS);
          const answer = JSON.parse(data.slice(0, end));
          if (answer.error) return reject(new Error(answer.error));
          handshaken = true;
          this._armTimers();
          resolve();
          data = data.slice(end + 1);
        }
        this._receive(data);
      };
      socket.onclose = (event) => {
        if (!handshaken) reject(new Error(`WebSocket closed with status code: ${event.code}`));
        this._closed(event.code === 1000 ? this._closeError : new Error(`WebSocket closed with status code: ${event.code}`));
      };
    });
  }

  _armTimers() {
    clearInterval(this._pingTimer);
    this._lastSent = this._lastReceived = Date.now();
    this._pingTimer = setInterval(() => {
      if (Date.now() - this._lastReceived > this.serverTimeoutMs) {
        this._closeError = new Error("Server timeout elapsed without receiving a message from the server.");
        this._socket.close();
      } else if (Date.now() - this._lastSent >= this.keepAliveIntervalMs) {
        this._write({ type: 6 });
      }
    }, 1000);
  }

  _write(message) {
    this._lastSent = Date.now();
    this._socket.send(JSON.stringify(message) + RS);
  }

  _receive(data) {
    this._lastReceived = Date.now();
    for (const raw of data.split(RS)) {
      if (raw) this._dispatch(JSON.parse(raw));
    }
  }

  async _dispatch(message) {
    switch (message.type) {
      case 1: {
        const handlers = this._handlers.get(message.target.toLowerCase()) || [];
        const results = handlers.map((h) => h(...message.arguments));
        if (message.invocationId) this._answer(message.invocationId, results);
        break;
      }
      case 2:
        this._pending.get(message.invocationId)?.item(message.item);
        break;
      case 3:
        this._pending.get(message.invocationId)?.done(message.error, message.result);
        this._pending.delete(message.invocationId);
        break;
      case 7:
        this._closeError = message.error ? new Error(`Server returned an error on close: ${message.error}`) : undefined;
        this._socket.close(1000);
        break;
      default:
        break; // Ping and unknown types
    }
  }

  async _answer(invocationId, results) {
    try {
      const values = (await Promise.all(results)).filter((v) => v !== undefined);
      if (values.length === 1) this._write({ type: 3, invocationId, result: values[0] });
      else this._write({ type: 3, invocationId, error: values.length ? "Client provided multiple results." : "Client didn't provide a result." });
    } catch (error) {
      this._write({ type: 3, invocationId, error: `${error}` });
    }
  }

  invoke(target, ...args) {
    const invocationId = String(this._nextId++);
    return new Promise((resolve, reject) => {
      this._pending.set(invocationId, { item() {}, done: (error, result) => (error ? reject(new Error(error)) : resolve(result)) });
      this._write({ type: 1, invocationId, target, arguments: args });
    });
  }

  send(target, ...args) {
    this._write({ type: 1, target, arguments: args });
    return Promise.resolve();
  }

  stream(target, ...args) {
    const invocationId = String(this._nextId++);
    return {
      subscribe: ({ next = () => {}, complete = () => {}, error = () => {} }) => {
        this._pending.set(invocationId, { item: next, done: (e) => (e ? error(new Error(e)) : complete()) });
        this._write({ type: 4, invocationId, target, arguments: args });
        return { dispose: () => { this._pending.delete(invocationId); this._write({ type: 5, invocationId }); } };
      },
    };
  }

  async stop() {
    if (this._socket && this._socket.readyState === WebSocket.OPEN) {
      this._write({ type: 7 });
      this._socket.close(1000);
    }
  }

  _closed(error) {
    clearInterval(this._pingTimer);
    if (this.state === "Disconnected") return;
    this.state = "Disconnected";
    this.connectionId = null;
    for (const pending of this._pending.values()) pending.done("Invocation canceled due to the underlying connection being closed.");
    this._pending.clear();
    for (const callback of this._closeCallbacks) callback(error);
  }
}
