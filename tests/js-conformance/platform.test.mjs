// Outside a browser (conformance-scenarios.md has these as notes, not numbers): what Node gives a client and
// what it must be given, for the client chosen by CLIENT (helpers.mjs).

import assert from "node:assert/strict";
import { describe } from "node:test";

import {
    CLIENT,
    HubConnectionBuilder,
    TESTHUB,
    TRANSPORTS,
    activeTransportName,
    buildHub,
    ctest,
    installCleanup,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

describe(`Node [${CLIENT}]`, () => {
    ctest("N1 a relative hub URL cannot be resolved without a page: build() throws", async () => {
        assert.equal(typeof document, "undefined");
        assert.throws(() => new HubConnectionBuilder().withUrl("/testhub").build(), { message: "Cannot resolve '/testhub'." });
    });

    ctest(`N2 no transport specified: the first one usable here (${TRANSPORTS[0].name})`, async (track) => {
        const { hub } = buildHub({ transport: null, url: TESTHUB });
        track(hub);
        await withTimeout(hub.start(), "start()");
        assert.equal(activeTransportName(hub), TRANSPORTS[0].name);
        assert.equal(await withTimeout(hub.invoke("GetActiveTransportName"), "GetActiveTransportName"), TRANSPORTS[0].name);
        assert.equal(await hub.invoke("Echo", "in Node"), "in Node");
    });
});
