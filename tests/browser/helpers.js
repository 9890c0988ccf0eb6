// Injected into the /clienttest/ page by the browser tests. `R` is the client under test: our realtime.mjs or
// the official @microsoft/signalr bundle; both have the same API, so each scenario runs unchanged on both.
window.T = {
  open: [],

  build(path, { transport, protocol, tokenUrl, reconnect, headers, stateful } = {}) {
    const options = {};
    if (transport) options.transport = R.HttpTransportType[transport];
    if (tokenUrl) {
      // tokenUrl: a URL, or a function that returns the URL to fetch the next token from
      this.tokens = 0;
      options.accessTokenFactory = async () => {
        this.tokens++;
        return (await fetch(typeof tokenUrl === "function" ? tokenUrl() : tokenUrl)).text();
      };
    }
    if (headers) options.headers = headers;
    let builder = new R.HubConnectionBuilder().withUrl(path, options).configureLogging(R.LogLevel.Error);
    if (reconnect) builder = builder.withAutomaticReconnect(reconnect);
    if (stateful) builder = builder.withStatefulReconnect(stateful === true ? undefined : stateful);
    if (protocol === "messagepack") builder = builder.withHubProtocol(new R.MessagePackHubProtocol());
    const connection = builder.build();
    this.open.push(connection);
    return connection;
  },

  async connect(path, options) {
    const connection = this.build(path, options);
    await connection.start();
    return connection;
  },

  /** Resolves with the arguments of the next call of client method `name` (one argument: that value). */
  received(connection, name) {
    return this.within(new Promise((resolve) => {
      const handler = (...args) => {
        connection.off(name, handler);
        resolve(args.length === 1 ? args[0] : args);
      };
      connection.on(name, handler);
    }), `client method ${name}`);
  },

  /** Resolves with the value of the next onclose / onreconnecting / onreconnected callback. */
  next(connection, event) {
    return this.within(new Promise((resolve) => connection[event]((value) => resolve(value === undefined ? "undefined" : String(value)))), event);
  },

  collect(stream) {
    return this.within(new Promise((resolve, reject) => {
      const items = [];
      stream.subscribe({ next: (item) => items.push(item), complete: () => resolve(items), error: reject });
    }), "stream");
  },

  async error(promise) {
    try {
      await promise;
      return null;
    } catch (error) {
      return error.message;
    }
  },

  within(promise, what, ms = 15000) {
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  },

  randomCase(name) {
    for (;;) {
      const variant = [...name].map((c) => (Math.random() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join("");
      if (variant !== name) return variant;
    }
  },

  async cleanup() {
    await Promise.all(this.open.splice(0).map((connection) => connection.stop().catch(() => {})));
  },
};
