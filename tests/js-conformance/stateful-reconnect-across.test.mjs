// Stateful reconnect across processes (conformance.md "Stateful reconnect"): run by
// tests/multiprocess/test_stateful_reconnect.py with SERVER_URL and SERVER2_URL, two processes sharing Redis.
// The client's socket goes through a TCP proxy that the test cuts and points at the other process, as a load
// balancer without sticky sessions would; skipped when SERVER2_URL is not set (the single-server suite).

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

const SERVER2_URL = (process.env.SERVER2_URL || "").replace(/\/+$/, "");
const OWNER_PID = Number(process.env.OWNER_PID || 0);
const skip = !SERVER2_URL ? "needs SERVER2_URL (tests/multiprocess/test_stateful_reconnect.py)" : skipUnless("statefulReconnect");
const MESSAGES = 40;

/** Collects ReceiveMessage texts; `arrived(n)` waits until n came. */
function collector(hub) {
    const got = [];
    const waiting = [];
    const check = () => {
        for (const waiter of waiting.filter((w) => got.length >= w.count)) {
            waiting.splice(waiting.indexOf(waiter), 1);
            waiter.resolve();
        }
    };
    hub.on("ReceiveMessage", (_from, message) => {
        got.push(message);
        check();
    });
    return {
        got,
        arrived(count) {
            const wait = deferred();
            waiting.push({ count, resolve: wait.resolve });
            check();
            return withTimeout(wait.promise, `${count} group messages (got ${got.length})`);
        },
    };
}

/** A stateful receiver through `proxy` (to SERVER_URL) and a sender on SERVER2_URL, both tracked and started; the
 * receiver's ReceiveMessage texts are collected. */
async function receiverAndSender(track, proxy, protocol = PROTOCOLS[0]) {
    const { hub: receiver } = buildHub({ url: `${proxy.url}/chathub`, protocol, statefulReconnect: true });
    const { hub: sender } = buildHub({ url: `${SERVER2_URL}/chathub`, protocol });
    track(receiver);
    track(sender);
    const messages = collector(receiver);
    await receiver.start();
    await sender.start();
    return { receiver, sender, messages };
}

for (const protocol of PROTOCOLS) {
    ctest(`[${protocol.name}] a socket cut and reopened on the other process resumes exactly once, in order`, async (track) => {
        const proxy = await cuttingProxy(SERVER_URL);
        try {
            const { receiver, sender, messages } = await receiverAndSender(track, proxy, protocol);
            const events = [];
            receiver.onreconnecting(() => events.push("reconnecting"));
            receiver.onclose(() => events.push("close"));
            const id = receiver.connectionId;
            const group = `across-${protocol.name}-${Date.now()}`;
            await receiver.invoke("JoinGroup", group);
            const items = collectStream(receiver.stream("Counter", 16, 25));
            const targets = [SERVER2_URL, SERVER_URL, SERVER2_URL];
            for (let n = 0; n < MESSAGES; n++) {
                if (n % 10 === 5 && targets.length) {
                    await messages.arrived(n);
                    proxy.target = targets.shift();  // the reconnect lands on the other process
                    proxy.cut();
                }
                await sender.invoke("SendToGroup", group, `m${n}`);
            }
            await messages.arrived(MESSAGES);
            assert.deepEqual(messages.got, Array.from({ length: MESSAGES }, (_, n) => `m${n}`));
            assert.deepEqual(await withTimeout(items, "the Counter stream"), Array.from({ length: 16 }, (_, n) => n));
            assert.equal(await receiver.invoke("WhoAmI"), null);
            assert.equal(receiver.connectionId, id);
            assert.deepEqual(events, []);
        } finally {
            await proxy.close();
        }
    }, { skip });
}

// Run alone, with OWNER_PID (the process at SERVER_URL): it kills that process, so nothing may follow it.
ctest("when the owner dies and no durable buffer keeps its state, the client is told at once, never resumed with a gap", async (track) => {
    const proxy = await cuttingProxy(SERVER_URL);
    try {
        const { receiver, sender, messages } = await receiverAndSender(track, proxy);
        const closed = deferred();
        receiver.onclose((error) => closed.resolve(error));
        const group = `owner-dies-${Date.now()}`;
        await receiver.invoke("JoinGroup", group);
        await sender.invoke("SendToGroup", group, "before");
        await messages.arrived(1);
        proxy.target = SERVER2_URL;
        process.kill(OWNER_PID, "SIGKILL");  // the owner's sockets die with it: the client reconnects to process 2
        await sender.invoke("SendToGroup", group, "while it is gone");
        const error = await withTimeout(closed.promise, "onclose after the owner died");
        assert.match(String(error), /WebSocket closed with status code: 1006/);
        assert.deepEqual(messages.got, ["before"]);  // nothing after the gap was delivered as if it were whole
    } finally {
        await proxy.close();
    }
}, { skip: !OWNER_PID ? "needs OWNER_PID (tests/multiprocess/test_stateful_reconnect.py)" : skip });

// Run alone, with OWNER_PID and DURABLE=1 (the servers run with STATEFUL_RECONNECT_STORE): it kills the owner.
ctest("when the owner dies, another process takes the connection over from the durable store: nothing lost or doubled", async (track) => {
    const proxy = await cuttingProxy(SERVER_URL);
    try {
        const { receiver, sender, messages } = await receiverAndSender(track, proxy);
        const events = [];
        receiver.onreconnecting(() => events.push("reconnecting"));
        receiver.onclose(() => events.push("close"));
        const id = receiver.connectionId;
        const group = `takeover-${Date.now()}`;
        await receiver.invoke("JoinGroup", group);
        const streamed = [];
        const stream = new Promise((resolve) => {
            receiver.stream("Counter", 1000, 20).subscribe({
                next: (item) => streamed.push(item),
                error: (error) => resolve(error),
                complete: () => resolve(null),
            });
        });
        for (let n = 0; n < 10; n++) {
            await sender.invoke("SendToGroup", group, `m${n}`);
        }
        await messages.arrived(10);
        proxy.target = SERVER2_URL;
        process.kill(OWNER_PID, "SIGKILL");
        for (let n = 10; n < 30; n++) {  // while the owner is dead and before anyone took the connection over
            await sender.invoke("SendToGroup", group, `m${n}`);
        }
        await messages.arrived(30);
        assert.deepEqual(messages.got, Array.from({ length: 30 }, (_, n) => `m${n}`));
        const error = await withTimeout(stream, "the end of the stream that ran on the dead owner");
        assert.match(String(error), /the server running it stopped before it completed/);
        assert.deepEqual(streamed, Array.from({ length: streamed.length }, (_, n) => n));  // no item twice
        for (let n = 30; n < 35; n++) {
            await sender.invoke("SendToGroup", group, `m${n}`);
        }
        await messages.arrived(35);
        assert.deepEqual(messages.got.slice(30), ["m30", "m31", "m32", "m33", "m34"]);
        assert.equal(await receiver.invoke("WhoAmI"), null);
        assert.equal(receiver.connectionId, id);
        assert.deepEqual(events, []);
    } finally {
        await proxy.close();
    }
}, { skip: !OWNER_PID || !process.env.DURABLE ? "needs OWNER_PID and DURABLE=1 (tests/multiprocess/test_stateful_reconnect.py)" : skip });

// Run alone, with OWNER_PID and DURABLE=1: it kills the owner. Presence (issue 17 part 1): the connection taken
// over stays listed in its group and its other members never see it leave, while a connection that died with the
// owner (the witness) is swept and announced as left, which proves the sweep of the dead process's entries ran.
ctest("when a process took a connection over from its dead owner, presence shows no leave", async (track) => {
    const proxy = await cuttingProxy(SERVER_URL);
    try {
        const { hub: receiver } = buildHub({ url: `${proxy.url}/chathub`, statefulReconnect: true });
        const { hub: witness } = buildHub({ url: `${SERVER_URL}/chathub` });
        const { hub: observer } = buildHub({ url: `${SERVER2_URL}/chathub` });
        for (const hub of [receiver, witness, observer]) track(hub);
        const diffs = [];
        const waiting = [];
        observer.on("PresenceChanged", (diff) => {
            diffs.push(diff);
            for (const waiter of waiting.filter((w) => w.until())) {
                waiting.splice(waiting.indexOf(waiter), 1);
                waiter.resolve();
            }
        });
        const until = (what, condition) => {
            const wait = deferred();
            waiting.push({ until: condition, resolve: wait.resolve });
            if (condition()) wait.resolve();
            return withTimeout(wait.promise, what, 30_000);
        };
        const messages = collector(receiver);
        await observer.start();
        await receiver.start();
        await witness.start();
        const [o, r, w] = [observer.connectionId, receiver.connectionId, witness.connectionId];
        const joined = (id) => diffs.filter((diff) => diff.joined.includes(id)).length;
        const left = (id) => diffs.filter((diff) => diff.left.includes(id)).length;
        const group = `presence-takeover-${Date.now()}`;
        await observer.invoke("JoinGroup", group);
        await receiver.invoke("JoinGroup", group);
        await witness.invoke("JoinGroup", group);
        await until("the receiver's and the witness's joins", () => joined(r) === 1 && joined(w) === 1);
        assert.deepEqual(await observer.invoke("GetGroupMembers", group), [o, r, w].sort());
        proxy.target = SERVER2_URL;
        process.kill(OWNER_PID, "SIGKILL");
        await observer.invoke("SendToGroup", group, "after the kill");
        await messages.arrived(1);  // the receiver resumed on the other process (taken over)
        await until("the witness's leave (the sweep of the dead owner's entries)", () => left(w) === 1);
        assert.equal(left(r), 0, JSON.stringify(diffs));
        assert.equal(joined(r), 1, JSON.stringify(diffs));  // listed all along: never announced again
        assert.deepEqual(await observer.invoke("GetGroupMembers", group), [o, r].sort());
        assert.deepEqual(await receiver.invoke("GetGroupMembers", group), [o, r].sort());
        assert.equal(receiver.connectionId, r);
    } finally {
        await proxy.close();
    }
}, { skip: !OWNER_PID || !process.env.DURABLE ? "needs OWNER_PID and DURABLE=1 (tests/multiprocess/test_stateful_reconnect.py)" : skip });
