// Shared helpers for the conformance suite (not a test file: node --test only picks *.test.mjs).
//
// Every test drives the unmodified npm packages @microsoft/signalr and @microsoft/signalr-protocol-msgpack
// against the conformance server given by SERVER_URL (e.g. http://127.0.0.1:8123).

import { createRequire } from "node:module";
import { after, test } from "node:test";

import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

export { signalR };
export const { HubConnectionBuilder, HubConnectionState, HttpTransportType, JsonHubProtocol, LogLevel, MessageType, TransferFormat } = signalR;

const require = createRequire(import.meta.url);
// The package has no "exports" map, so its CommonJS build can be reached by path. `main` points at the same
// dist/cjs tree, so these are the very module instances the package itself uses.
export const { HttpConnection } = require("@microsoft/signalr/dist/cjs/HttpConnection.js");
export const { getUserAgentHeader } = require("@microsoft/signalr/dist/cjs/Utils.js");
// Node 20 has no global WebSocket; the client falls back to its own `ws` dependency. Resolve that same copy.
export const WebSocket = createRequire(require.resolve("@microsoft/signalr"))("ws");

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
    { name: "json", create: () => new JsonHubProtocol() },
    { name: "messagepack", create: () => new MessagePackHubProtocol() },
];

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
            console.error(`[signalr ${LogLevel[level]}] ${message}`);
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
 * Builds a HubConnection over WebSockets.
 * options: protocol ({name, create}), url, automaticReconnect, httpOptions (merged into withUrl options),
 * logger (ILogger or LogLevel; default LogLevel.Warning).
 * Returns { hub, recorder }.
 */
export function buildHub({ protocol = PROTOCOLS[0], url = TESTHUB, automaticReconnect = false, httpOptions = {}, logger } = {}) {
    const recorder = new RecordingProtocol(protocol.create());
    let builder = new HubConnectionBuilder()
        .withUrl(url, { transport: HttpTransportType.WebSockets, ...httpOptions })
        .withHubProtocol(recorder)
        .configureLogging(logger ?? LogLevel.Warning);
    if (automaticReconnect) {
        builder = automaticReconnect === true ? builder.withAutomaticReconnect() : builder.withAutomaticReconnect(automaticReconnect);
    }
    const hub = builder.build();
    return { hub, recorder };
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

/**
 * Forces the WebSocket under a HubConnection (or HttpConnection) to drop without a close handshake,
 * as a network failure would: the client sees close code 1006 and, with automatic reconnect, reconnects.
 */
export function dropTransport(hubOrConnection) {
    const connection = hubOrConnection.connection ?? hubOrConnection;
    const transport = connection.transport;
    const socket = transport && transport._webSocket;
    if (!socket || typeof socket.terminate !== "function") {
        throw new Error("no open ws WebSocket under this connection (is the transport WebSockets?)");
    }
    socket.terminate();
}

export function errorText(err) {
    if (err === undefined) {
        return "undefined";
    }
    return err && err.message !== undefined ? err.message : String(err);
}
