// Shared helpers for the conformance suite (not a test file: node --test only picks *.test.mjs).
//
// Every test drives a client against the conformance server given by SERVER_URL (e.g. http://127.0.0.1:8123).
// CLIENT picks the client; the scenarios are the same for each, and the few that need what only one client
// has are skipped for the others (skipUnless below):
//   official       the unmodified npm packages @microsoft/signalr and @microsoft/signalr-protocol-msgpack (default)
//   realtime       our realtime.mjs and realtime-msgpack.mjs, given the `ws` and `eventsource` packages (the
//                  copies @microsoft/signalr uses in Node) as its WebSocket and EventSource options
//   realtime-bare  our client with nothing given: Node 20 has no WebSocket or EventSource, so long polling only
// REALTIME_MODULE names another file of our client (e.g. realtime.min.mjs from a built wheel); its MessagePack
// protocol is the file beside it with "realtime-msgpack" in place of "realtime" in the name.

import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import * as official from "@microsoft/signalr";
import { MessagePackHubProtocol as OfficialMessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

export const CLIENT = process.env.CLIENT || "official";
const ABILITIES = {
    official: ["httpClient", "userAgent", "cookieJar", "HttpConnection", "WebSockets", "ServerSentEvents", "statefulReconnect"],
    realtime: ["WebSockets", "ServerSentEvents", "statefulReconnect"],
    "realtime-bare": [],
};
if (!ABILITIES[CLIENT]) {
    throw new Error(`CLIENT must be one of ${Object.keys(ABILITIES).join(", ")}, got ${CLIENT}`);
}
const NEEDS = {
    httpClient: "the official client's httpClient option",
    userAgent: "a user agent header of the client's own",
    cookieJar: "a cookie jar in Node (ours leaves cookies to the platform, as browsers keep them)",
    HttpConnection: "the official client's HttpConnection (ours has no public connection layer)",
    WebSockets: "a WebSocket class (Node 20 has none, and none is given)",
    ServerSentEvents: "an EventSource class (Node 20 has none, and none is given)",
    statefulReconnect: "withStatefulReconnect()",
};

/** A node:test `skip` option: false when the client under test has `ability` (a key of NEEDS), else the reason. */
export function skipUnless(ability) {
    return ABILITIES[CLIENT].includes(ability) ? false : `the ${CLIENT} client: needs ${NEEDS[ability]}`;
}

const OURS = CLIENT !== "official";
const ourModule = process.env.REALTIME_MODULE
    || fileURLToPath(new URL("../../realtime/static/realtime/realtime.mjs", import.meta.url));
const ourMsgpack = path.join(path.dirname(ourModule), path.basename(ourModule).replace(/^realtime/, "realtime-msgpack"));
/** Our classic-script builds beside the module (realtime.js, realtime-msgpack.js; or their .min.js). */
export const OUR_CLASSIC_SCRIPTS = [ourModule, ourMsgpack].map((file) => file.replace(/\.mjs$/, ".js"));

export const signalR = OURS ? await import(pathToFileURL(ourModule).href) : official;
const { MessagePackHubProtocol } = OURS ? await import(pathToFileURL(ourMsgpack).href) : { MessagePackHubProtocol: OfficialMessagePackHubProtocol };
export const { HubConnectionBuilder, HubConnectionState, HttpTransportType, JsonHubProtocol, LogLevel, MessageType, TransferFormat } = signalR;
// Only for scenarios of the official client (skipUnless("httpClient")).
export const { AbortError } = official;

const require = createRequire(import.meta.url);
// The package has no "exports" map, so its CommonJS build can be reached by path. `main` points at the same
// dist/cjs tree, so these are the very module instances the package itself uses.
export const { HttpConnection } = require("@microsoft/signalr/dist/cjs/HttpConnection.js");
export const { getUserAgentHeader } = require("@microsoft/signalr/dist/cjs/Utils.js");
// Node 20 has no global WebSocket/EventSource; the client falls back to its own `ws` and `eventsource`
// dependencies. Resolve those same copies.
const requireFromSignalR = createRequire(require.resolve("@microsoft/signalr"));
export const WebSocket = requireFromSignalR("ws");
export const EventSource = requireFromSignalR("eventsource");
/** What buildHub passes to withUrl for the client under test (ours in Node needs these given; see the top). */
export const PLATFORM_OPTIONS = CLIENT === "realtime" ? { WebSocket, EventSource } : {};

export const SERVER_URL = (process.env.SERVER_URL || "").replace(/\/+$/, "");
if (!SERVER_URL) {
    throw new Error("SERVER_URL is not set (for example SERVER_URL=http://127.0.0.1:8123)");
}
const parsedServerUrl = new URL(SERVER_URL);
if (!["127.0.0.1", "localhost", "[::1]"].includes(parsedServerUrl.hostname)) {
    throw new Error(`SERVER_URL must point at a local server, got ${SERVER_URL}`);
}

export const TEST_TIMEOUT = 40_000;
// How long a single expected event may take before the test fails with a descriptive message
// (well inside the 40 s per-test limit, so cleanup still runs).
export const WAIT = 15_000;

export const TESTHUB = `${SERVER_URL}/testhub`;

export const PROTOCOLS = [
    { name: "json", transferFormat: "Text", create: () => new JsonHubProtocol() },
    { name: "messagepack", transferFormat: "Binary", create: () => new MessagePackHubProtocol() },
];
export const JSON_PROTOCOL = PROTOCOLS[0];
export const MESSAGEPACK_PROTOCOL = PROTOCOLS[1];

/**
 * The transports of protocol.md 2, in the server's order, with the transfer formats each one carries; only
 * those the client under test can use here.
 */
export const TRANSPORTS = [
    { name: "WebSockets", type: HttpTransportType.WebSockets, transferFormats: ["Text", "Binary"], className: "WebSocketTransport" },
    { name: "ServerSentEvents", type: HttpTransportType.ServerSentEvents, transferFormats: ["Text"], className: "ServerSentEventsTransport" },
    { name: "LongPolling", type: HttpTransportType.LongPolling, transferFormats: ["Text", "Binary"], className: "LongPollingTransport" },
].filter((transport) => transport.name === "LongPolling" || !skipUnless(transport.name));

export function transportNamed(name) {
    const found = TRANSPORTS.find((t) => t.name === name);
    if (!found) {
        throw new Error(`unknown transport ${name}`);
    }
    return found;
}

/** Group A matrix: every transport x every protocol whose transfer format the transport carries (no MessagePack over SSE). */
export const HUB_MATRIX = TRANSPORTS.flatMap((transport) => PROTOCOLS
    .filter((protocol) => transport.transferFormats.includes(protocol.transferFormat))
    .map((protocol) => ({ transport, protocol, tag: `[${transport.name}/${protocol.name}]` })));

// ---------------------------------------------------------------------------------------------------------
// Small async utilities

export function deferred() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
    });
    return { promise, resolve, reject };
}

export function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout(promise, what, ms = WAIT) {
    let handle;
    const timeout = new Promise((_, reject) => {
        handle = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for: ${what}`)), ms);
    });
    try {
        return await Promise.race([promise, timeout]);
    } finally {
        clearTimeout(handle);
    }
}

/** Collects a client stream (IStreamResult) into an array; rejects with the stream's error. */
export function collectStream(streamResult) {
    return new Promise((resolve, reject) => {
        const items = [];
        streamResult.subscribe({
            next: (item) => {
                items.push(item);
            },
            complete: () => {
                resolve(items);
            },
            error: (err) => {
                reject(err);
            },
        });
    });
}

/** Random upper/lower-case variant of a name (at least one character flipped). */
export function randomCase(name) {
    for (;;) {
        const variant = [...name].map((c) => (Math.random() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join("");
        if (variant !== name) {
            return variant;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// A hub protocol wrapper that records every hub message the client parsed and wrote, so tests can assert
// wire-level facts (e.g. "exactly one Completion", "`result: null` present") through the real client.

export class RecordingProtocol {
    constructor(inner) {
        this.inner = inner;
        this.received = [];
        this.sent = [];
    }

    get name() {
        return this.inner.name;
    }

    get version() {
        return this.inner.version;
    }

    get transferFormat() {
        return this.inner.transferFormat;
    }

    parseMessages(input, logger) {
        const messages = this.inner.parseMessages(input, logger);
        this.received.push(...messages);
        return messages;
    }

    writeMessage(message) {
        this.sent.push(message);
        return this.inner.writeMessage(message);
    }

    completions(invocationId) {
        return this.received.filter((m) => m.type === MessageType.Completion
            && (invocationId === undefined || m.invocationId === invocationId));
    }

    /** The invocationId the client used for its first invocation of `target` (optionally with these args). */
    sentInvocationId(target, args) {
        const found = this.sent.find((m) => (m.type === MessageType.Invocation || m.type === MessageType.StreamInvocation)
            && m.target === target
            && (args === undefined || JSON.stringify(m.arguments) === JSON.stringify(args)));
        return found ? found.invocationId : undefined;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Capturing logger (ILogger): keeps every line; forwards Warning and above to the console.

export class CapturingLogger {
    constructor(echoLevel = LogLevel.Warning) {
        this.lines = [];
        this.echoLevel = echoLevel;
    }

    log(level, message) {
        this.lines.push({ level, message });
        if (level >= this.echoLevel && level !== LogLevel.None) {
            const name = Object.keys(LogLevel).find((key) => LogLevel[key] === level);
            console.error(`[${CLIENT} ${name}] ${message}`);
        }
    }

    text() {
        return this.lines.map((l) => l.message).join("\n");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Connection tracking: everything a test opens is stopped in `finally`, on test abort (timeout) and in an
// `after` hook of the file, so the node process always exits.

const everything = new Set();

export class Tracker {
    constructor() {
        this.items = [];
    }

    add(item) {
        this.items.push(item);
        everything.add(item);
        return item;
    }

    async stopAll() {
        const items = this.items.splice(0);
        await Promise.all(items.map(stopQuietly));
    }
}

async function stopQuietly(item) {
    everything.delete(item);
    try {
        if (typeof item.terminate === "function") {
            // raw ws socket
            item.terminate();
        } else if (typeof item.stop === "function") {
            await withTimeout(Promise.resolve(item.stop()), "stop() during cleanup", 10_000);
        }
    } catch {
        // cleanup is best effort
    }
}

export async function stopEverything() {
    await Promise.all([...everything].map(stopQuietly));
}

/**
 * node:test `test` with the suite's 40 s limit and a Tracker that is always cleaned up.
 * `fn(track, t)` gets `track(connection)` which registers and returns the connection.
 */
export function ctest(name, fn, options = {}) {
    return test(name, { timeout: TEST_TIMEOUT, ...options }, async (t) => {
        const tracker = new Tracker();
        const onAbort = () => {
            tracker.stopAll();
        };
        t.signal?.addEventListener("abort", onAbort);
        try {
            await fn((c) => tracker.add(c), t);
        } finally {
            t.signal?.removeEventListener("abort", onAbort);
            await tracker.stopAll();
        }
    });
}

/** Registers a file-level `after` hook that stops anything a timed-out test left behind. */
export function installCleanup() {
    after(async () => {
        await stopEverything();
    });
}

// ---------------------------------------------------------------------------------------------------------
// Hub connection factory

/**
 * Builds a HubConnection.
 * options: transport (a TRANSPORTS entry or name; default WebSockets; null = let the client choose), protocol
 * ({name, create}), url, automaticReconnect, httpOptions (merged into withUrl options), logger (ILogger or
 * LogLevel; default LogLevel.Warning), droppable (SSE: open the EventSource through sockets the test can
 * destroy, see dropTransport), statefulReconnect (withStatefulReconnect(), given options or true).
 * Returns { hub, recorder }.
 */
export function buildHub({
    transport = "WebSockets",
    protocol = PROTOCOLS[0],
    url = TESTHUB,
    automaticReconnect = false,
    httpOptions = {},
    logger,
    droppable = false,
    statefulReconnect = false,
} = {}) {
    const recorder = new RecordingProtocol(protocol.create());
    const options = { ...PLATFORM_OPTIONS };
    if (transport !== null) {
        options.transport = (typeof transport === "string" ? transportNamed(transport) : transport).type;
    }
    const sockets = new Set();
    if (droppable) {
        options.EventSource = droppableEventSource(sockets);
    }
    let builder = new HubConnectionBuilder()
        .withUrl(url, { ...options, ...httpOptions })
        .withHubProtocol(recorder)
        .configureLogging(logger ?? LogLevel.Warning);
    if (statefulReconnect) {
        builder = statefulReconnect === true ? builder.withStatefulReconnect() : builder.withStatefulReconnect(statefulReconnect);
    }
    if (automaticReconnect) {
        builder = automaticReconnect === true ? builder.withAutomaticReconnect() : builder.withAutomaticReconnect(automaticReconnect);
    }
    const hub = builder.build();
    eventSourceSockets.set(hub, sockets);
    return { hub, recorder };
}

const eventSourceSockets = new WeakMap();

/**
 * An `EventSource` option for the client (IHttpConnectionOptions.EventSource): the client's own `eventsource`
 * package, unchanged, except that its HTTP requests run over sockets recorded in `sockets`, so a test can
 * destroy them like a network failure would.
 */
export function droppableEventSource(sockets) {
    return function DroppableEventSource(url, init) {
        return new EventSource(url, {
            ...init,
            createConnection: (options) => {
                const socket = net.createConnection(options);
                sockets.add(socket);
                socket.once("close", () => {
                    sockets.delete(socket);
                });
                return socket;
            },
        });
    };
}

/** Promise of the next onclose(error) of a hub connection. */
export function nextClose(hub) {
    const d = deferred();
    let fired = false;
    hub.onclose((error) => {
        if (!fired) {
            fired = true;
            d.resolve(error);
        }
    });
    return d.promise;
}

/** The HttpConnection under a HubConnection (or the argument itself when it is one); ours keeps it in `_connection`. */
function httpConnectionOf(hubOrConnection) {
    return hubOrConnection.connection ?? hubOrConnection._connection ?? hubOrConnection;
}

/** The WebSocket under a WebSockets transport (the official client's `_webSocket`, our `socket`). */
function webSocketOf(transport) {
    return transport._webSocket ?? transport.socket;
}

/** Name of the transport (TRANSPORTS[].name) the connection runs on now, or undefined. */
export function activeTransportName(hubOrConnection) {
    const transport = httpConnectionOf(hubOrConnection).transport;
    return TRANSPORTS.find((t) => transport && transport.constructor.name === t.className)?.name;
}

/** The transport URL of the connection's current transport (it carries `id=<connection token>`). */
export function transportUrl(hubOrConnection) {
    const transport = httpConnectionOf(hubOrConnection).transport;
    if (!transport) {
        throw new Error("the connection has no transport");
    }
    const url = webSocketOf(transport) ? webSocketOf(transport).url : transport._url ?? transport.url;
    if (!url) {
        throw new Error(`no URL on ${transport.constructor.name}`);
    }
    return url.replace(/^ws/, "http");
}

/** The connection token (`id=`) the client uses for its current transport, or null under skipNegotiation. */
export function connectionToken(hubOrConnection) {
    return new URL(transportUrl(hubOrConnection)).searchParams.get("id");
}

/**
 * Forces the transport under a HubConnection (or HttpConnection) to drop without a Close message, so the
 * client sees a transport that ended unexpectedly (with automatic reconnect: it reconnects).
 * - WebSockets: the socket is terminated without a close handshake (the client sees close code 1006).
 * - ServerSentEvents: the sockets of the EventSource are destroyed (needs buildHub({droppable: true})); the
 *   EventSource reports an error and the client ends the transport.
 * - LongPolling: the test itself DELETEs the connection token (protocol.md 3.5; answered 202), so the server
 *   disposes the connection and ends the outstanding poll with 204; the client was not stopping, so it
 *   treats that as the transport ending on it.
 */
export async function dropTransport(hubOrConnection) {
    const connection = httpConnectionOf(hubOrConnection);
    const transport = connection.transport;
    const name = activeTransportName(connection);
    if (name === "WebSockets") {
        const socket = webSocketOf(transport);
        if (!socket || typeof socket.terminate !== "function") {
            throw new Error("no open ws WebSocket under this connection");
        }
        socket.terminate();
    } else if (name === "ServerSentEvents") {
        const sockets = eventSourceSockets.get(hubOrConnection);
        if (!sockets || sockets.size === 0) {
            throw new Error("no EventSource socket recorded: build the hub with { droppable: true }");
        }
        for (const socket of sockets) {
            socket.destroy();
        }
    } else if (name === "LongPolling") {
        const url = transportUrl(connection);
        const response = await withTimeout(fetch(url, { method: "DELETE" }), `DELETE ${url}`);
        if (response.status !== 202) {
            throw new Error(`DELETE ${url} answered ${response.status} ${await response.text()}, expected 202`);
        }
    } else {
        throw new Error(`no transport to drop (${transport?.constructor.name})`);
    }
}

/**
 * Waits until the server no longer knows the connection token (protocol.md 1: a transport request for a
 * disposed token gets 404 `No Connection with that ID`). The probe is an SSE GET, which never disturbs a
 * live connection (409 for a live SSE connection, 400 for another transport); there is no event to await
 * from outside the server, so it is retried until WAIT runs out.
 * Returns the last { status, body }.
 */
export async function waitForDisposedToken(baseUrl, token, ms = WAIT) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        const controller = new AbortController();
        const url = `${baseUrl}?id=${encodeURIComponent(token)}`;
        const response = await withTimeout(fetch(url, { headers: { Accept: "text/event-stream" }, signal: controller.signal }), `GET ${url}`);
        if (response.status === 200) {
            controller.abort();
            last = { status: 200, body: "<event stream>" };
        } else {
            last = { status: response.status, body: await response.text() };
        }
        if (last.status === 404 || Date.now() > deadline) {
            return last;
        }
        await delay(50);
    }
}

/**
 * An HttpClient (IHttpConnectionOptions.httpClient) that delegates to the client's own DefaultHttpClient
 * (Fetch in Node) and records every request it sends, its headers and its outcome (status or error).
 */
export class RecordingHttpClient extends official.HttpClient {
    constructor(logger = official.NullLogger.instance) {
        super();
        this.inner = new official.DefaultHttpClient(logger);
        this.requests = [];
    }

    async send(request) {
        const entry = {
            method: request.method,
            url: request.url,
            headers: { ...(request.headers ?? {}) },
            status: undefined,
            error: undefined,
        };
        this.requests.push(entry);
        let answered;
        entry.answered = new Promise((resolve) => (answered = resolve));
        try {
            const response = await this.inner.send(request);
            entry.status = response.statusCode;
            return response;
        } catch (error) {
            entry.status = error.statusCode;
            entry.error = error;
            throw error;
        } finally {
            answered();
        }
    }

    /** The recorded requests of `method` matching `predicate`, once each has its answer (a POST send is answered
     * once the server took its body in, which may be after the invocation it carried has completed). */
    async answered(method, predicate = () => true) {
        const found = this.find(method, predicate);
        await Promise.all(found.map((entry) => entry.answered));
        return found;
    }

    getCookieString(url) {
        return this.inner.getCookieString(url);
    }

    /** Recorded requests with this method (and matching `predicate`). */
    find(method, predicate = () => true) {
        return this.requests.filter((r) => r.method === method && predicate(r));
    }
}

/** The Authorization header of a recorded request (any header-name case). */
export function authorizationOf(entry) {
    const key = Object.keys(entry.headers).find((k) => k.toLowerCase() === "authorization");
    return key === undefined ? undefined : entry.headers[key];
}

export function errorText(err) {
    if (err === undefined) {
        return "undefined";
    }
    return err && err.message !== undefined ? err.message : String(err);
}

/**
 * A TCP proxy on 127.0.0.1 in front of `target` (an http://host:port URL) whose connections the test can cut
 * like a network failure: both sides are destroyed at once, without a WebSocket close. Returns
 * { url, cut(), connections, target, close() }; `connections` counts the TCP connections it ever accepted, and
 * setting `target` sends the next ones elsewhere (a load balancer picking another process).
 */
export async function cuttingProxy(target) {
    const open = new Set();
    const proxy = { url: "", connections: 0, target };
    const server = net.createServer((client) => {
        proxy.connections += 1;
        const { hostname, port } = new URL(proxy.target);
        const upstream = net.connect(Number(port), hostname);
        const pair = [client, upstream];
        open.add(pair);
        const end = () => {
            client.destroy();
            upstream.destroy();
            open.delete(pair);
        };
        for (const socket of pair) {
            socket.on("error", end);
            socket.on("close", end);
        }
        client.pipe(upstream);
        upstream.pipe(client);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy.url = `http://127.0.0.1:${server.address().port}`;
    proxy.cut = () => {
        for (const [client, upstream] of open) {
            client.destroy();
            upstream.destroy();
        }
        open.clear();
    };
    proxy.close = () => {
        proxy.cut();
        return new Promise((resolve) => server.close(resolve));
    };
    return proxy;
}
