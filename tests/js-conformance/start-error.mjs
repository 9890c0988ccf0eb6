// What start() of a client rejects with against the hub URL given as argument, printed as one JSON line
// (tests/multiprocess/test_faults.py). CLIENT: "official" (@microsoft/signalr, the default) or "realtime" (ours).
// Not a test file: `node --test` picks only *.test.mjs.

import * as official from "@microsoft/signalr";

const url = process.argv[2];
const signalR = process.env.CLIENT === "realtime"
    ? await import(new URL("../../realtime/static/realtime/realtime.mjs", import.meta.url).href)
    : official;
const connection = new signalR.HubConnectionBuilder().withUrl(url).configureLogging(signalR.LogLevel.None).build();
try {
    await connection.start();
    await connection.stop();
    console.log(JSON.stringify({ started: true }));
} catch (error) {
    console.log(JSON.stringify({ started: false, message: error.message }));
}
