// The unmodified official client (@microsoft/signalr, installed in tests/js-conformance) against the README's
// recipe project, in Node, as tests/install/test_install.py runs it: sign in at simplejwt's token view, connect
// over WebSockets only (negotiate first; Node sends no Origin header) with the token from accessTokenFactory,
// invoke SendMessage and receive its ReceiveMessage push; then a client without a token must be refused.
// Prints one JSON line of what happened; any failure exits non-zero.
import { createRequire } from "node:module";

const require = createRequire(new URL("../js-conformance/package.json", import.meta.url));
const { HubConnectionBuilder, HttpTransportType, LogLevel } = require("@microsoft/signalr");

const { SERVER_URL, USERNAME, PASSWORD, MESSAGE } = process.env;
const WAIT_MS = 10_000;

function within(promise, what) {
    let timer;
    const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const response = await within(fetch(`${SERVER_URL}/api/token/`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: USERNAME, password: PASSWORD }),
}), "the token view");
if (!response.ok) throw new Error(`the token view answered ${response.status}: ${await response.text()}`);
const { access } = await response.json();

let tokenRequests = 0;
const connection = new HubConnectionBuilder()
    .withUrl(`${SERVER_URL}/hubs/chat`, {
        transport: HttpTransportType.WebSockets, // no fallback: start() fails unless the WebSocket opens
        accessTokenFactory: () => {
            tokenRequests += 1;
            return access;
        },
    })
    .configureLogging(LogLevel.Warning)
    .build();
const pushed = new Promise((resolve) => {
    connection.on("ReceiveMessage", (user, message) => {
        if (message === MESSAGE) resolve([user, message]);
    });
});
await within(connection.start(), "start()");
const result = await within(connection.invoke("SendMessage", MESSAGE), "invoke('SendMessage')");
const push = await within(pushed, "the ReceiveMessage push");
await within(connection.stop(), "stop()");

const anonymous = new HubConnectionBuilder()
    .withUrl(`${SERVER_URL}/hubs/chat`, { transport: HttpTransportType.WebSockets })
    .configureLogging(LogLevel.None)
    .build();
let refusal = null;
try {
    await within(anonymous.start(), "start() without a token");
} catch (error) {
    refusal = error.message;
}
if (refusal === null) await anonymous.stop();
console.log(JSON.stringify({ result: result ?? null, push, tokenRequests, refusal }));
