// Stateful reconnect (protocol.md 13, conformance.md "Stateful reconnect"): the client's WebSocket runs through a
// TCP proxy that the test cuts while group messages and stream items flow; the client reconnects with the same
// connection token, and everything sent meanwhile must arrive exactly once, in order, with no reconnect events.

import assert from "node:assert/strict";

import {
    PROTOCOLS,
    SERVER_URL,
    buildHub,
    collectStream,
    ctest,
    cuttingProxy,
    deferred,
    installCleanup,
    skipUnless,
    withTimeout,
} from "./helpers.mjs";

installCleanup();

const MESSAGES = 60;
const CUT_EVERY = 12;

for (const protocol of PROTOCOLS) {
    ctest(`[${protocol.name}] group messages and stream items sent across socket cuts arrive exactly once, in order`, async (track) => {
        const proxy = await cuttingProxy(SERVER_URL);
        try {
            const { hub: receiver } = buildHub({ url: `${proxy.url}/chathub`, protocol, statefulReconnect: true });
            const { hub: sender } = buildHub({ url: `${SERVER_URL}/chathub`, protocol });
            track(receiver);
            track(sender);
            const events = [];
            receiver.onreconnecting(() => events.push("reconnecting"));
            receiver.onclose(() => events.push("close"));
            const got = [];
            const waiting = [];
            const arrived = (count) => {
                const wait = deferred();
                waiting.push({ count, resolve: wait.resolve });
                receivedSoFar();
                return withTimeout(wait.promise, `${count} group messages (got ${got.length})`);
            };
            const receivedSoFar = () => {
                for (const waiter of waiting.filter((w) => got.length >= w.count)) {
                    waiting.splice(waiting.indexOf(waiter), 1);
                    waiter.resolve();
                }
            };
            receiver.on("ReceiveMessage", (_from, message) => {
                got.push(message);
                receivedSoFar();
            });
            await receiver.start();
            await sender.start();
            const id = receiver.connectionId;
            const group = `resume-${protocol.name}-${Date.now()}`;
            await receiver.invoke("JoinGroup", group);

            // a server stream whose items keep coming while the socket is cut
            const items = collectStream(receiver.stream("Counter", 20, 25));
            for (let n = 0; n < MESSAGES; n++) {
                if (n % CUT_EVERY === CUT_EVERY / 2) {
                    // the official client tries one reconnect per loss: cut once it is back (all sent so far came)
                    await arrived(n);
                    proxy.cut();
                }
                await sender.invoke("SendToGroup", group, `m${n}`);
            }
            await arrived(MESSAGES);
            assert.deepEqual(got, Array.from({ length: MESSAGES }, (_, n) => `m${n}`));
            assert.deepEqual(await withTimeout(items, "the Counter stream"), Array.from({ length: 20 }, (_, n) => n));
            // and a call answered after the cuts, on the same connection
            assert.equal(await receiver.invoke("WhoAmI"), null);
            assert.equal(receiver.connectionId, id);
            assert.deepEqual(events, []);
            assert.ok(proxy.connections > MESSAGES / CUT_EVERY, `the proxy saw ${proxy.connections} connections`);
        } finally {
            await proxy.close();
        }
    }, { skip: skipUnless("statefulReconnect") });
}

ctest("a client that does not ask gets no stateful reconnect: a cut ends its connection", async (track) => {
    const proxy = await cuttingProxy(SERVER_URL);
    try {
        const { hub } = buildHub({ url: `${proxy.url}/chathub` });
        track(hub);
        const closed = deferred();
        hub.onclose((error) => closed.resolve(error));
        await hub.start();
        proxy.cut();
        const error = await withTimeout(closed.promise, "onclose after the cut");
        assert.match(String(error), /WebSocket closed with status code: 1006/);
    } finally {
        await proxy.close();
    }
}, { skip: skipUnless("WebSockets") });
