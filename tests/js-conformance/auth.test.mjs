// Group B 23-25 of conformance-scenarios.md over WebSockets with JSON, against /authorizedhub.
// Kept in its own file so it can be run selectively: node --test tests/js-conformance/auth.test.mjs

import assert from "node:assert/strict";
import { describe } from "node:test";

import {
    PROTOCOLS,
    SERVER_URL,
    buildHub,
    ctest,
    delay,
    installCleanup,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

const JSON_PROTOCOL = PROTOCOLS.find((p) => p.name === "json");
const AUTHORIZED_HUB = `${SERVER_URL}/authorizedhub`;
const tag = "[WebSockets/json]";

async function fetchToken() {
    const response = await withTimeout(fetch(`${SERVER_URL}/generateJwtToken`), "GET /generateJwtToken");
    assert.equal(response.status, 200, "GET /generateJwtToken answers 200");
    const token = (await response.text()).trim();
    assert.ok(token.length > 0, "a non-empty token");
    return token;
}

describe(`Group B ${tag} /authorizedhub`, () => {
    ctest(`B23 ${tag} token from a sync accessTokenFactory: Echo works`, async (track) => {
        const token = await fetchToken();
        let calls = 0;
        const { hub } = buildHub({
            protocol: JSON_PROTOCOL,
            url: AUTHORIZED_HUB,
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
        assert.equal(await withTimeout(hub.invoke("Echo", "authorized"), "Echo on /authorizedhub"), "authorized");
        // The connection is authenticated as the token's user (conformance.md: AuthorizedHub).
        assert.equal(await hub.invoke("GetUserNameIdentifier"), "testuser");
    });

    ctest(`B24 ${tag} token from an async accessTokenFactory: Echo works`, async (track) => {
        const { hub } = buildHub({
            protocol: JSON_PROTOCOL,
            url: AUTHORIZED_HUB,
            httpOptions: {
                accessTokenFactory: async () => {
                    await delay(10);
                    return fetchToken();
                },
            },
        });
        track(hub);
        await hub.start();
        assert.equal(await withTimeout(hub.invoke("Echo", "authorized"), "Echo on /authorizedhub"), "authorized");
    });

    ctest(`B25 ${tag} no token: negotiate 401 with an empty body; start() rejects`, async (track) => {
        // Wire check first: what the client will see.
        const response = await withTimeout(fetch(`${AUTHORIZED_HUB}/negotiate?negotiateVersion=1`, { method: "POST" }),
            "POST /authorizedhub/negotiate");
        assert.equal(response.status, 401);
        assert.equal(await response.text(), "", "the 401 body must be empty");

        const { hub } = buildHub({ protocol: JSON_PROTOCOL, url: AUTHORIZED_HUB });
        track(hub);
        await assert.rejects(withTimeout(hub.start(), "start() without a token"), {
            message: "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'",
        });
    });
});
