// The push API for other services (conformance.md, "Push API for other services"), from the client's side: a
// plain HTTP caller (fetch, a token signed with node:crypto as any service would) pushes to, groups and closes
// connections of /testhub, on every transport x protocol of HUB_MATRIX; the client under test receives.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe } from "node:test";

import { HUB_MATRIX, SERVER_URL, buildHub as buildHubOn, ctest, deferred, errorText, installCleanup, nextClose, withTimeout } from "./helpers.mjs";

installCleanup();

const ACCESS_KEY = process.env.REALTIME_ACCESS_KEY || "conformance-access-key-0123456789abcdef0123456789";
const API = `${SERVER_URL}/api/hubs/testhub`;

function base64url(data) {
    return Buffer.from(data).toString("base64url");
}

/** An HS256 JWT for `url` (the request URL without its query), valid 5 minutes. */
function tokenFor(url) {
    const head = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify({ aud: url, exp: Math.floor(Date.now() / 1000) + 300 }))}`;
    return `${head}.${createHmac("sha256", ACCESS_KEY).update(head).digest("base64url")}`;
}

/** Calls the push API: `path` below /api/hubs/testhub, `query` added to api-version; the response status. */
async function api(method, path, { query = "", body } = {}) {
    const url = `${API}/${path}`;
    const response = await fetch(`${url}?api-version=2022-06-01${query}`, {
        method,
        headers: { Authorization: `Bearer ${tokenFor(url)}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    await response.arrayBuffer();
    return response.status;
}

/** Resolves with the arguments of the next call of client method `name`. */
function nextCall(hub, name) {
    const d = deferred();
    hub.on(name, (...args) => d.resolve(args));
    return d.promise;
}

for (const { transport, protocol, tag } of HUB_MATRIX) {
    const buildHub = () => buildHubOn({ transport, protocol });

    describe(`push API ${tag} /testhub`, () => {
        ctest(`${tag} sends to the hub, a group and the connection reach the client`, async (track) => {
            const { hub } = buildHub();
            track(hub);
            await hub.start();
            const id = await withTimeout(hub.invoke("GetCallerConnectionId"), "GetCallerConnectionId");  // taken in
            assert.equal(await api("HEAD", `connections/${id}`), 200);

            let received = nextCall(hub, "Pushed");
            assert.equal(await api("POST", ":send", { body: { target: "Pushed", arguments: ["all", 1] } }), 202);
            assert.deepEqual(await withTimeout(received, "a push to the hub"), ["all", 1]);

            assert.equal(await api("PUT", `groups/js-${id}/connections/${id}`), 200);
            received = nextCall(hub, "Pushed");
            assert.equal(await api("POST", `groups/js-${id}/:send`, { body: { target: "Pushed", arguments: [{ n: 2 }] } }), 202);
            assert.deepEqual(await withTimeout(received, "a push to a group"), [{ n: 2 }]);

            received = nextCall(hub, "Pushed");
            assert.equal(await api("POST", `connections/${id}/:send`, { body: { target: "Pushed" } }), 202);
            assert.deepEqual(await withTimeout(received, "a push to the connection"), []);
        });

        ctest(`${tag} closing the connection with a reason: the client's onclose error carries it`, async (track) => {
            const { hub } = buildHub();
            track(hub);
            const closed = nextClose(hub);
            await hub.start();
            const id = await withTimeout(hub.invoke("GetCallerConnectionId"), "GetCallerConnectionId");
            assert.equal(await api("DELETE", `connections/${id}`, { query: "&reason=maintenance%20now" }), 200);
            const error = await withTimeout(closed, "onclose after the API closed the connection");
            assert.match(errorText(error), /maintenance now/);
        });
    });
}
