// TypeScript resolves "./realtime-msgpack.mjs" to this file: the types live in realtime-msgpack.d.ts.
export * from "./realtime-msgpack.js";
