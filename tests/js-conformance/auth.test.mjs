// Group B 23-25 of conformance-scenarios.md for every transport with JSON, against /authorizedhub.
// Kept in its own file so it can be run selectively: node --test tests/js-conformance/auth.test.mjs

import assert from "node:assert/strict";
import { describe } from "node:test";

import {
    JSON_PROTOCOL,
    RecordingHttpClient,
    SERVER_URL,
    TRANSPORTS,
    activeTransportName,
    authorizationOf,
    buildHub,
    ctest,
    delay,
    installCleanup,
    skipUnless,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

const AUTHORIZED_HUB = `${SERVER_URL}/authorizedhub`;

async function fetchToken() {
    const response = await withTimeout(fetch(`${SERVER_URL}/generateJwtToken`), "GET /generateJwtToken");
    assert.equal(response.status, 200, "GET /generateJwtToken answers 200");
    const token = (await response.text()).trim();
    assert.ok(token.length > 0, "a non-empty token");
    return token;
}

for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}/json]`;
    const build = (options = {}) => buildHub({ transport, protocol: JSON_PROTOCOL, url: AUTHORIZED_HUB, ...options });

    describe(`Group B ${tag} /authorizedhub`, () => {
        ctest(`B23 ${tag} token from a sync accessTokenFactory: Echo works`, async (track) => {
            const token = await fetchToken();
            let calls = 0;
            const { hub } = build({
                httpOptions: {
                    accessTokenFactory: () => {
                        calls += 1;
                        return token;
                    },
                },
            });
            track(hub);
            await hub.start();
            assert.ok(calls >= 1, "the token factory was used");
            assert.equal(activeTransportName(hub), transport.name);
            assert.equal(await withTimeout(hub.invoke("Echo", "authorized"), "Echo on /authorizedhub"), "authorized");
            // The connection is authenticated as the token's user (conformance.md: AuthorizedHub).
            assert.equal(await hub.invoke("GetUserNameIdentifier"), "testuser");
        });

        ctest(`B23w ${tag} where the token travels (negotiate, transport request, POST sends)`, async (track) => {
            const token = await fetchToken();
            const httpClient = new RecordingHttpClient();
            const { hub } = build({ httpOptions: { accessTokenFactory: () => token, httpClient } });
            track(hub);
            await hub.start();
            assert.equal(await withTimeout(hub.invoke("Echo", "authorized"), "Echo on /authorizedhub"), "authorized");
            const bearer = `Bearer ${token}`;
            const negotiates = httpClient.find("POST", (r) => new URL(r.url).pathname.endsWith("/negotiate"));
            assert.equal(negotiates.length, 1);
            assert.equal(authorizationOf(negotiates[0]), bearer, "negotiate carries Authorization: Bearer");
            assert.equal(negotiates[0].status, 200);
            const sends = await httpClient.answered("POST", (r) => !new URL(r.url).pathname.endsWith("/negotiate"));
            const polls = httpClient.find("GET");
            if (transport.name === "WebSockets") {
                // Node's ws sends Authorization on the upgrade itself (not observable here); no HTTP sends or polls.
                assert.equal(sends.length, 0);
                assert.equal(polls.length, 0);
            } else {
                assert.ok(sends.length >= 1, "the handshake and the invocation went out as POSTs");
                for (const send of sends) {
                    assert.equal(authorizationOf(send), bearer, "POST sends carry Authorization: Bearer");
                    assert.equal(send.status, 200, "POST sends are answered 200");
                    assert.equal(new URL(send.url).searchParams.get("access_token"), null, "no access_token in the POST URL");
                }
            }
            if (transport.name === "ServerSentEvents") {
                const eventSourceUrl = new URL(hub.connection.transport._eventSource.url);
                assert.equal(eventSourceUrl.searchParams.get("access_token"), token, "the SSE GET carries ?access_token=");
                assert.equal(polls.length, 0);
            }
            if (transport.name === "LongPolling") {
                assert.ok(polls.length >= 2, "the first poll and an outstanding one");
                for (const poll of polls) {
                    assert.equal(authorizationOf(poll), bearer, "polls carry Authorization: Bearer");
                    assert.equal(new URL(poll.url).searchParams.get("access_token"), null, "no access_token in the poll URL");
                }
            }
        }, { skip: skipUnless("httpClient") });

        ctest(`B24 ${tag} token from an async accessTokenFactory: Echo works`, async (track) => {
            const { hub } = build({
                httpOptions: {
                    accessTokenFactory: async () => {
                        await delay(10);
                        return fetchToken();
                    },
                },
            });
            track(hub);
            await hub.start();
            assert.equal(activeTransportName(hub), transport.name);
            assert.equal(await withTimeout(hub.invoke("Echo", "authorized"), "Echo on /authorizedhub"), "authorized");
        });

        ctest(`B25 ${tag} no token: negotiate 401 with an empty body; start() rejects`, async (track) => {
            // Wire check first: what the client will see.
            const response = await withTimeout(fetch(`${AUTHORIZED_HUB}/negotiate?negotiateVersion=1`, { method: "POST" }),
                "POST /authorizedhub/negotiate");
            assert.equal(response.status, 401);
            assert.equal(await response.text(), "", "the 401 body must be empty");

            const { hub } = build();
            track(hub);
            await assert.rejects(withTimeout(hub.start(), "start() without a token"), {
                message: "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'",
            });
        });
    });
}
