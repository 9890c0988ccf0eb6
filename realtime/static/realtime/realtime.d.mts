// TypeScript resolves "./realtime.mjs" to this file: the types live in realtime.d.ts.
export * from "./realtime.js";
