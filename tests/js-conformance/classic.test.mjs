// Our classic-script builds (realtime.js and realtime-msgpack.js, or the .min.js of a built package) outside a
// page: loaded as scripts, they set globalThis.realtime and globalThis.realtimeMsgpack without needing `window`.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe } from "node:test";
import vm from "node:vm";

import {
    CLIENT,
    OUR_CLASSIC_SCRIPTS,
    PLATFORM_OPTIONS,
    TESTHUB,
    TRANSPORTS,
    ctest,
    installCleanup,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

describe("Classic-script build in Node", { skip: CLIENT === "official" && "our classic build only" }, () => {
    if (CLIENT !== "official") {
        for (const file of OUR_CLASSIC_SCRIPTS) {
            vm.runInThisContext(readFileSync(file, "utf8"), { filename: file });
        }
    }

    for (const transport of TRANSPORTS) {
        for (const protocol of transport.transferFormats.includes("Binary") ? ["json", "messagepack"] : ["json"]) {
            const tag = `[${transport.name}/${protocol}]`;
            ctest(`K1 ${tag} globalThis.realtime connects and invokes Echo`, async (track) => {
                const { realtime, realtimeMsgpack } = globalThis;
                let builder = new realtime.HubConnectionBuilder()
                    .withUrl(TESTHUB, { ...PLATFORM_OPTIONS, transport: transport.type })
                    .configureLogging(realtime.LogLevel.Warning);
                if (protocol === "messagepack") {
                    builder = builder.withHubProtocol(new realtimeMsgpack.MessagePackHubProtocol());
                }
                const hub = track(builder.build());
                await withTimeout(hub.start(), "start()");
                assert.equal(await withTimeout(hub.invoke("GetActiveTransportName"), "GetActiveTransportName"), transport.name);
                assert.equal(await withTimeout(hub.invoke("Echo", "classic"), "Echo"), "classic");
            });
        }
    }
});
