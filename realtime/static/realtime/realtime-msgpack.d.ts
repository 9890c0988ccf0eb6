// Types of realtime-msgpack.mjs (realtime-msgpack.d.mts re-exports them) and of window.realtimeMsgpack,
// which the classic-script build realtime-msgpack.js sets.
import type { HubMessage, HubProtocol } from "./realtime.js";

/** The MessagePack hub protocol: pass it to `HubConnectionBuilder.withHubProtocol`. Binary: WebSockets and long polling. */
export declare class MessagePackHubProtocol implements HubProtocol {
  readonly name: "messagepack";
  /** 2, as SignalR's; the handshake says 1 unless stateful reconnect was granted. */
  readonly version: 2;
  readonly transferFormat: 2;
  parseMessages(input: ArrayBuffer): HubMessage[];
  writeMessage(message: HubMessage): ArrayBuffer;
}

declare global {
  /** Set by the classic-script build, realtime-msgpack.js (on `window` in a page, on `self` in a worker). */
  var realtimeMsgpack: typeof import("./realtime-msgpack.js");
}
