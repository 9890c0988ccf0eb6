// The typed hub (conformance.md "Typed hub"): snake_case Python, PascalCase wire names matched case-insensitively,
// arguments checked against their annotations, a client method called through the typed proxy. JSON and MessagePack.

import assert from "node:assert/strict";

import { PROTOCOLS, SERVER_URL, buildHub, ctest, deferred, installCleanup, withTimeout } from "./helpers.mjs";

installCleanup();

const BINDING_FAILURE = "Failed to invoke 'AddNumbers' due to an error on the server.";

for (const protocol of PROTOCOLS) {
    ctest(`[${protocol.name}] the typed hub answers by its wire names, in any case`, async (track) => {
        const { hub } = buildHub({ url: `${SERVER_URL}/typedhub`, protocol, transport: null });
        track(hub);
        await hub.start();
        for (const name of ["SayHello", "sayhello", "SAYHELLO"]) {
            assert.equal(await hub.invoke(name, "ada"), "hello ada");
        }
        assert.equal(await hub.invoke("AddNumbers", 2, 40), 42);
    });

    ctest(`[${protocol.name}] arguments that do not fit the annotations get the binding failure`, async (track) => {
        const { hub } = buildHub({ url: `${SERVER_URL}/typedhub`, protocol, transport: null });
        track(hub);
        await hub.start();
        for (const wrong of [["2", 3], [2.5, 3], [true, 3]]) {
            await assert.rejects(hub.invoke("AddNumbers", ...wrong), (error) => {
                assert.equal(error.message, BINDING_FAILURE);
                return true;
            });
        }
    });

    ctest(`[${protocol.name}] Greet calls the client method Greeted through the typed proxy`, async (track) => {
        const { hub } = buildHub({ url: `${SERVER_URL}/typedhub`, protocol, transport: null });
        track(hub);
        const greeted = deferred();
        hub.on("Greeted", (user) => greeted.resolve(user));
        await hub.start();
        assert.equal(await hub.invoke("Greet", "grace"), null);
        assert.equal(await withTimeout(greeted.promise, "Greeted"), "grace");
    });
}
