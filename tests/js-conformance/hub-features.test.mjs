// Group B (26-30) of conformance-scenarios.md for every transport with JSON (26 only WebSockets and SSE), and
// group C (31-40) as stated per scenario. Group B 23-25 (/authorizedhub) live in auth.test.mjs.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
    AbortError,
    JSON_PROTOCOL,
    MESSAGEPACK_PROTOCOL,
    RecordingHttpClient,
    SERVER_URL,
    TESTHUB,
    TRANSPORTS,
    activeTransportName,
    buildHub,
    connectionToken,
    ctest,
    deferred,
    dropTransport,
    errorText,
    getUserAgentHeader,
    installCleanup,
    nextClose,
    skipUnless,
    transportUrl,
    waitForDisposedToken,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

const NO_WEBSOCKETS_HUB = `${SERVER_URL}/testhub-nowebsockets`;

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

for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}/json]`;
    const build = (options = {}) => buildHub({ transport, protocol: JSON_PROTOCOL, ...options });

    describe(`Group B ${tag} /testhub`, () => {
        // 26 needs a transport on which the client enforces the server timeout: long polling has
        // inherentKeepAlive, so the client never applies serverTimeoutInMilliseconds there.
        if (transport.name !== "LongPolling") {
            ctest(`B26 ${tag} serverTimeoutInMilliseconds = 1 closes with the server-timeout error`, async (track) => {
                const { hub } = build();
                track(hub);
                const closed = nextClose(hub);
                await hub.start();
                hub.serverTimeoutInMilliseconds = 1;
                // The invocation itself may complete or be canceled by the close; only the close error matters.
                hub.invoke("Echo", "").catch(() => {});
                const error = await withTimeout(closed, "onclose after the server timeout");
                assert.equal(errorText(error), "Server timeout elapsed without receiving a message from the server.");
            });
        }

        ctest(`B27 ${tag} cookies set by negotiate reach the connection request`, async (track) => {
            const { hub } = build();
            track(hub);
            await hub.start();
            assert.equal(await withTimeout(hub.invoke("GetCookie", "testCookie"), "GetCookie(testCookie)"), "testValue");
            assert.equal(await withTimeout(hub.invoke("GetCookie", "testCookie2"), "GetCookie(testCookie2)"), "testValue2");
        }, { skip: skipUnless("cookieJar") });

        ctest(`B28 ${tag} the expired cookie is dropped: result null (present, not omitted)`, async (track) => {
            const { hub, recorder } = build();
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
            const { hub } = build({ automaticReconnect: true, droppable: true });
            track(hub);
            const reconnecting = deferred();
            hub.onreconnecting((error) => {
                reconnecting.resolve(error);
            });
            const reconnected = nextReconnected(hub);
            await hub.start();
            const oldId = hub.connectionId;
            const oldToken = connectionToken(hub);
            assert.ok(oldId, "negotiate gave a connectionId");
            assert.ok(oldToken, "negotiate gave a connection token");
            assert.equal(await hub.invoke("Echo", "before"), "before");

            await dropTransport(hub);
            await withTimeout(reconnecting.promise, "onreconnecting");
            const newId = await withTimeout(reconnected, "onreconnected");
            assert.ok(newId, "onreconnected receives a connectionId");
            assert.notEqual(newId, oldId, "the reconnected connection has a new connectionId");
            assert.equal(hub.connectionId, newId);
            assert.equal(activeTransportName(hub), transport.name, "the client reconnected on the same transport");
            assert.equal(await withTimeout(hub.invoke("Echo", "after"), "Echo after reconnect"), "after");
            assert.equal(await hub.invoke("GetCallerConnectionId"), newId);

            // Server: the dead transport was detected and the old connection cleaned up (registry).
            const probe = await waitForDisposedToken(TESTHUB, oldToken);
            assert.deepEqual(probe, { status: 404, body: "No Connection with that ID" },
                "the old connection token is disposed on the server");
        });

        ctest(`B30 ${tag} changing baseUrl while reconnecting: the new URL is used`, async (track) => {
            const { hub } = build({ automaticReconnect: true, droppable: true });
            track(hub);
            const newUrl = `${SERVER_URL}/testHub?numRedirects=30`;
            hub.onreconnecting(() => {
                hub.baseUrl = newUrl;
            });
            const reconnected = nextReconnected(hub);
            await hub.start();
            assert.equal(hub.baseUrl, TESTHUB);
            assert.equal(await hub.invoke("GetNumRedirects"), 0);

            await dropTransport(hub);
            await withTimeout(reconnected, "onreconnected");
            assert.equal(hub.baseUrl, newUrl);
            assert.equal(activeTransportName(hub), transport.name);
            assert.equal(await withTimeout(hub.invoke("Echo", "after"), "Echo after reconnect"), "after");
            // The connection request now carries the new URL's query.
            assert.equal(await hub.invoke("GetNumRedirects"), 30);
        });
    });
}

describe("Group C [WebSockets/json]", { skip: skipUnless("WebSockets") }, () => {
    const tag = "[WebSockets/json]";
    const build = (options = {}) => buildHub({ transport: "WebSockets", protocol: JSON_PROTOCOL, ...options });

    ctest(`C31 ${tag} reconnect after a negotiate redirect`, async (track) => {
        const { hub } = build({ url: `${SERVER_URL}/redirect`, automaticReconnect: true });
        track(hub);
        const reconnected = nextReconnected(hub);
        await hub.start();
        const firstRedirects = await hub.invoke("GetNumRedirects");
        assert.equal(typeof firstRedirects, "number");
        assert.equal(await hub.invoke("GetCallerConnectionId"), hub.connectionId);

        await dropTransport(hub);
        const newId = await withTimeout(reconnected, "onreconnected");
        assert.equal(newId, hub.connectionId);
        const secondRedirects = await withTimeout(hub.invoke("GetNumRedirects"), "GetNumRedirects after reconnect");
        assert.ok(secondRedirects > firstRedirects,
            `numRedirects should grow after a reconnect (before ${firstRedirects}, after ${secondRedirects})`);
        assert.equal(await hub.invoke("GetCallerConnectionId"), hub.connectionId);
    });

    ctest(`C32 ${tag} reconnect after skipNegotiation: onreconnected(undefined), Echo works`, async (track) => {
        const { hub } = build({ automaticReconnect: true, httpOptions: { skipNegotiation: true } });
        track(hub);
        const reconnected = nextReconnected(hub);
        await hub.start();
        assert.equal(await hub.invoke("Echo", "before"), "before");

        await dropTransport(hub);
        const connectionId = await withTimeout(reconnected, "onreconnected");
        assert.equal(connectionId, undefined);
        assert.equal(await withTimeout(hub.invoke("Echo", "after"), "Echo after reconnect"), "after");
    });

    ctest(`C33 ${tag} connectionId matches GetCallerConnectionId before and after reconnect; null after stop`, async (track) => {
        const { hub } = build({ automaticReconnect: true });
        track(hub);
        const reconnected = nextReconnected(hub);
        await hub.start();
        const first = hub.connectionId;
        assert.ok(first);
        assert.notEqual(first, connectionToken(hub), "the public connectionId is not the connection token");
        assert.equal(await hub.invoke("GetCallerConnectionId"), first);

        await dropTransport(hub);
        await withTimeout(reconnected, "onreconnected");
        const second = hub.connectionId;
        assert.ok(second);
        assert.notEqual(second, first);
        assert.equal(await hub.invoke("GetCallerConnectionId"), second);

        await hub.stop();
        assert.equal(hub.connectionId, null);
    });

    ctest(`C34 ${tag} connectionId is null under skipNegotiation`, async (track) => {
        const { hub } = build({ httpOptions: { skipNegotiation: true } });
        track(hub);
        await hub.start();
        assert.equal(hub.connectionId, null);
        // protocol.md 3.1: the server still generates a public connectionId for a WebSocket without `id`.
        const serverId = await hub.invoke("GetCallerConnectionId");
        assert.equal(typeof serverId, "string");
        assert.ok(serverId.length > 0, "GetCallerConnectionId returns a non-empty id");
    });
});

describe("Group C /testhub-nowebsockets (transport chosen by the client)", () => {
    ctest("C35 [json] on /testhub-nowebsockets picks ServerSentEvents", async (track) => {
        const { hub } = buildHub({ transport: null, protocol: JSON_PROTOCOL, url: NO_WEBSOCKETS_HUB });
        track(hub);
        await hub.start();
        assert.equal(activeTransportName(hub), "ServerSentEvents");
        assert.equal(await withTimeout(hub.invoke("GetActiveTransportName"), "GetActiveTransportName"), "ServerSentEvents");
        assert.equal(await hub.invoke("Echo", "over SSE"), "over SSE");
    }, { skip: skipUnless("ServerSentEvents") });

    ctest("C36 [messagepack] on /testhub-nowebsockets skips SSE (Text only) and picks LongPolling", async (track) => {
        const { hub } = buildHub({ transport: null, protocol: MESSAGEPACK_PROTOCOL, url: NO_WEBSOCKETS_HUB });
        track(hub);
        await hub.start();
        assert.equal(activeTransportName(hub), "LongPolling");
        assert.equal(await withTimeout(hub.invoke("GetActiveTransportName"), "GetActiveTransportName"), "LongPolling");
        assert.equal(await hub.invoke("Echo", "over long polling"), "over long polling");
    });

    test("C37 with WebSocket disabled in a browser page the client falls back (browser only)", { skip: "browser only" }, () => {});
});

describe("Group C [LongPolling/json] stop", { skip: skipUnless("httpClient") }, () => {
    const tag = "[LongPolling/json]";

    /** A long-polling hub whose HTTP requests (Fetch, through the default client) are recorded. */
    function recordedHub(track) {
        const httpClient = new RecordingHttpClient();
        const { hub } = buildHub({ transport: "LongPolling", protocol: JSON_PROTOCOL, httpOptions: { httpClient } });
        track(hub);
        return { hub, httpClient };
    }

    // stop() aborts the outstanding poll, POSTs a Close message, then DELETEs: the server must notice that
    // the aborted poll's client went away (and keep the connection for the DELETE, answered 202).
    ctest(`C38 ${tag} stop() sends DELETE (202) and the outstanding poll ends`, async (track, t) => {
        const { hub, httpClient } = recordedHub(track);
        const closed = nextClose(hub);
        await hub.start();
        const url = transportUrl(hub);
        assert.equal(await hub.invoke("Echo", "before stop"), "before stop");

        const polls = () => httpClient.find("GET", (r) => r.url.startsWith(`${url}&_=`));
        const [firstPoll] = polls();
        assert.equal(firstPoll.status, 200, "the first poll is answered 200 at once");

        await hub.stop();
        assert.equal(await withTimeout(closed, "onclose after stop()"), undefined, "onclose(undefined)");

        const lastPoll = polls().at(-1);
        assert.ok(lastPoll !== firstPoll, "a poll was outstanding when stop() was called");
        assert.ok(lastPoll.status === 204 || lastPoll.error instanceof AbortError,
            `the outstanding poll ends with 204 or a client abort, got ${lastPoll.status} ${lastPoll.error ?? ""}`);
        assert.ok(polls().every((p) => p.status === 200 || p === lastPoll), "every earlier poll was answered 200");

        const deletes = httpClient.find("DELETE");
        assert.equal(deletes.length, 1, "stop() sends exactly one DELETE");
        assert.equal(deletes[0].url, url, "the DELETE targets the connection's transport URL");

        // The connection is gone on the server: its token is unknown now.
        const after = await fetch(`${url}&_=${Date.now()}`);
        assert.equal(after.status, 404);
        assert.equal(await after.text(), "No Connection with that ID");

        assert.equal(deletes[0].status, 202, `DELETE is answered 202 (got ${deletes[0].status} ${deletes[0].error ?? ""})`);
    });

    ctest(`C38b ${tag} a DELETE from elsewhere (202) ends the connection; the client closes`, async (track) => {
        const { hub, httpClient } = recordedHub(track);
        const closed = nextClose(hub);
        await hub.start();
        const url = transportUrl(hub);
        assert.equal(await hub.invoke("Echo", "before"), "before");

        const response = await fetch(url, { method: "DELETE" });
        assert.equal(response.status, 202);
        assert.equal(await response.text(), "");
        // Without automatic reconnect, the transport ending makes the hub connection close.
        await withTimeout(closed, "onclose after the server ended the connection");
        // The client re-polls as soon as a poll answers, so which poll the DELETE meets depends on arrival
        // order: a poll waiting on the server ends 204 (protocol.md 3.5); a poll that arrives after the
        // DELETE finds the token gone: 404 `No Connection with that ID` (protocol.md 1).
        const lastPoll = httpClient.find("GET", (r) => r.url.startsWith(`${url}&_=`)).at(-1);
        if (lastPoll.status === 404) {
            // HttpError text: the body, then the client's status suffix.
            assert.equal(lastPoll.error.message, "No Connection with that ID: Status code '404'");
        } else {
            assert.equal(lastPoll.status, 204, `the outstanding poll ends 204 (got ${lastPoll.status} ${lastPoll.error ?? ""})`);
        }
    });
});

for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}/json]`;

    describe(`Group C ${tag} headers of the connection request`, () => {
        ctest(`C39 ${tag} the user agent header reaches the connection request`, async (track) => {
            const [name, value] = getUserAgentHeader();
            assert.equal(name, "User-Agent", "Node sends the UA as User-Agent");
            assert.match(value, /^Microsoft SignalR\/\d+\.\d+ \(/);
            const { hub } = buildHub({ transport, protocol: JSON_PROTOCOL });
            track(hub);
            await hub.start();
            assert.equal(await hub.invoke("GetHeader", name), value);
        }, { skip: skipUnless("userAgent") });

        ctest(`C40 ${tag} user headers override library headers`, async (track) => {
            const [name] = getUserAgentHeader();
            const { hub } = buildHub({
                transport,
                protocol: JSON_PROTOCOL,
                httpOptions: { headers: { [name]: "Custom Agent", "X-HEADER": "VALUE" } },
            });
            track(hub);
            await hub.start();
            assert.equal(await hub.invoke("GetHeader", name), "Custom Agent");
            assert.equal(await hub.invoke("GetHeader", "X-HEADER"), "VALUE");
        });
    });
}
