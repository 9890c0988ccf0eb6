// Group B (26-30) over WebSockets with JSON, and group C (31-34, 39, 40) of conformance-scenarios.md.
// Group B 23-25 (/authorizedhub) live in auth.test.mjs.

import assert from "node:assert/strict";
import { describe } from "node:test";

import {
    PROTOCOLS,
    SERVER_URL,
    TESTHUB,
    buildHub,
    ctest,
    deferred,
    dropTransport,
    errorText,
    getUserAgentHeader,
    installCleanup,
    nextClose,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

const JSON_PROTOCOL = PROTOCOLS.find((p) => p.name === "json");
const tag = "[WebSockets/json]";

/** Resolves with the connectionId given to the next onreconnected callback. */
function nextReconnected(hub) {
    const d = deferred();
    let fired = false;
    hub.onreconnected((connectionId) => {
        if (!fired) {
            fired = true;
            d.resolve(connectionId);
        }
    });
    return d.promise;
}

describe(`Group B ${tag} /testhub`, () => {
    ctest(`B26 ${tag} serverTimeoutInMilliseconds = 1 closes with the server-timeout error`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL });
        track(hub);
        const closed = nextClose(hub);
        await hub.start();
        hub.serverTimeoutInMilliseconds = 1;
        // The invocation itself may complete or be canceled by the close; only the close error matters.
        hub.invoke("Echo", "").catch(() => {});
        const error = await withTimeout(closed, "onclose after the server timeout");
        assert.equal(errorText(error), "Server timeout elapsed without receiving a message from the server.");
    });

    ctest(`B27 ${tag} cookies set by negotiate reach the connection request`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL });
        track(hub);
        await hub.start();
        assert.equal(await withTimeout(hub.invoke("GetCookie", "testCookie"), "GetCookie(testCookie)"), "testValue");
        assert.equal(await withTimeout(hub.invoke("GetCookie", "testCookie2"), "GetCookie(testCookie2)"), "testValue2");
    });

    ctest(`B28 ${tag} the expired cookie is dropped: result null (present, not omitted)`, async (track) => {
        const { hub, recorder } = buildHub({ protocol: JSON_PROTOCOL });
        track(hub);
        await hub.start();
        const value = await withTimeout(hub.invoke("GetCookie", "expiredCookie"), "GetCookie(expiredCookie)");
        const id = recorder.sentInvocationId("GetCookie", ["expiredCookie"]);
        const [completion] = recorder.completions(id);
        assert.ok(completion, "a Completion arrived");
        assert.ok(Object.prototype.hasOwnProperty.call(completion, "result"),
            `the Completion must contain "result": null, got ${JSON.stringify(completion)}`);
        assert.strictEqual(completion.result, null);
        assert.strictEqual(value, null);
    });

    ctest(`B29 ${tag} automatic reconnect after a dropped transport gets a new connectionId`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL, automaticReconnect: true });
        track(hub);
        const reconnecting = deferred();
        hub.onreconnecting((error) => {
            reconnecting.resolve(error);
        });
        const reconnected = nextReconnected(hub);
        await hub.start();
        const oldId = hub.connectionId;
        assert.ok(oldId, "negotiate gave a connectionId");
        assert.equal(await hub.invoke("Echo", "before"), "before");

        dropTransport(hub);
        await withTimeout(reconnecting.promise, "onreconnecting");
        const newId = await withTimeout(reconnected, "onreconnected");
        assert.ok(newId, "onreconnected receives a connectionId");
        assert.notEqual(newId, oldId, "the reconnected connection has a new connectionId");
        assert.equal(hub.connectionId, newId);
        assert.equal(await withTimeout(hub.invoke("Echo", "after"), "Echo after reconnect"), "after");
    });

    ctest(`B30 ${tag} changing baseUrl while reconnecting: the new URL is used`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL, automaticReconnect: true });
        track(hub);
        const newUrl = `${SERVER_URL}/testHub?numRedirects=30`;
        hub.onreconnecting(() => {
            hub.baseUrl = newUrl;
        });
        const reconnected = nextReconnected(hub);
        await hub.start();
        assert.equal(hub.baseUrl, TESTHUB);
        assert.equal(await hub.invoke("GetNumRedirects"), 0);

        dropTransport(hub);
        await withTimeout(reconnected, "onreconnected");
        assert.equal(hub.baseUrl, newUrl);
        assert.equal(await withTimeout(hub.invoke("Echo", "after"), "Echo after reconnect"), "after");
        // The connection request now carries the new URL's query.
        assert.equal(await hub.invoke("GetNumRedirects"), 30);
    });
});

describe(`Group C ${tag}`, () => {
    ctest(`C31 ${tag} reconnect after a negotiate redirect`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL, url: `${SERVER_URL}/redirect`, automaticReconnect: true });
        track(hub);
        const reconnected = nextReconnected(hub);
        await hub.start();
        const firstRedirects = await hub.invoke("GetNumRedirects");
        assert.equal(typeof firstRedirects, "number");
        assert.equal(await hub.invoke("GetCallerConnectionId"), hub.connectionId);

        dropTransport(hub);
        const newId = await withTimeout(reconnected, "onreconnected");
        assert.equal(newId, hub.connectionId);
        const secondRedirects = await withTimeout(hub.invoke("GetNumRedirects"), "GetNumRedirects after reconnect");
        assert.ok(secondRedirects > firstRedirects,
            `numRedirects should grow after a reconnect (before ${firstRedirects}, after ${secondRedirects})`);
        assert.equal(await hub.invoke("GetCallerConnectionId"), hub.connectionId);
    });

    ctest(`C32 ${tag} reconnect after skipNegotiation: onreconnected(undefined), Echo works`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL, automaticReconnect: true, httpOptions: { skipNegotiation: true } });
        track(hub);
        const reconnected = nextReconnected(hub);
        await hub.start();
        assert.equal(await hub.invoke("Echo", "before"), "before");

        dropTransport(hub);
        const connectionId = await withTimeout(reconnected, "onreconnected");
        assert.equal(connectionId, undefined);
        assert.equal(await withTimeout(hub.invoke("Echo", "after"), "Echo after reconnect"), "after");
    });

    ctest(`C33 ${tag} connectionId matches GetCallerConnectionId before and after reconnect; null after stop`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL, automaticReconnect: true });
        track(hub);
        const reconnected = nextReconnected(hub);
        await hub.start();
        const first = hub.connectionId;
        assert.ok(first);
        assert.equal(await hub.invoke("GetCallerConnectionId"), first);

        dropTransport(hub);
        await withTimeout(reconnected, "onreconnected");
        const second = hub.connectionId;
        assert.ok(second);
        assert.notEqual(second, first);
        assert.equal(await hub.invoke("GetCallerConnectionId"), second);

        await hub.stop();
        assert.equal(hub.connectionId, null);
    });

    ctest(`C34 ${tag} connectionId is null under skipNegotiation`, async (track) => {
        const { hub } = buildHub({ protocol: JSON_PROTOCOL, httpOptions: { skipNegotiation: true } });
        track(hub);
        await hub.start();
        assert.equal(hub.connectionId, null);
        // protocol.md 3.1: the server still generates a public connectionId for a WebSocket without `id`.
        const serverId = await hub.invoke("GetCallerConnectionId");
        assert.equal(typeof serverId, "string");
        assert.ok(serverId.length > 0, "GetCallerConnectionId returns a non-empty id");
    });

    ctest(`C39 ${tag} the user agent header reaches the connection request`, async (track) => {
        const [name, value] = getUserAgentHeader();
        assert.equal(name, "User-Agent", "Node sends the UA as User-Agent");
        assert.match(value, /^Microsoft SignalR\/\d+\.\d+ \(/);
        const { hub } = buildHub({ protocol: JSON_PROTOCOL });
        track(hub);
        await hub.start();
        assert.equal(await hub.invoke("GetHeader", name), value);
    });

    ctest(`C40 ${tag} user headers override library headers`, async (track) => {
        const [name] = getUserAgentHeader();
        const { hub } = buildHub({
            protocol: JSON_PROTOCOL,
            httpOptions: { headers: { [name]: "Custom Agent", "X-HEADER": "VALUE" } },
        });
        track(hub);
        await hub.start();
        assert.equal(await hub.invoke("GetHeader", name), "Custom Agent");
        assert.equal(await hub.invoke("GetHeader", "X-HEADER"), "VALUE");
    });
});
