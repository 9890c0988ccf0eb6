// A typed hub with every kind of value (tests/browser/typed_hub.py), declared by `manage.py realtime_typescript
// tests.browser.typed_hub` (typed-hubs.ts). Compiled, never run, by tests/browser/test_typescript.py: each
// line under a ts-expect-error directive must fail, with the code it names, without it.
import { HubConnectionBuilder, Subject, type HubConnection } from "./realtime.mjs";
import { MessagePackHubProtocol } from "./realtime-msgpack.mjs";
import type { Attachment, Colour, Message, RoomHubClient, RoomHubServer } from "./typed-hubs.js";

export async function room(): Promise<void> {
  const connection: HubConnection<RoomHubServer, RoomHubClient> = new HubConnectionBuilder()
    .withUrl("/hubs/room")
    .withHubProtocol(new MessagePackHubProtocol())
    .build();
  const sent: Message = await connection.invoke("SendMessage", "lobby", "hi", ["greeting"]);
  await connection.invoke("SendMessage", "lobby", "hi", null);
  await connection.send("SendMessage", "lobby", "hi");
  const when: string | Date = sent.sent;
  console.log(sent.author.name, sent.author.nickname ?? "", sent.reply_to?.text, when);
  const attachment: Attachment = { name: "a.txt", content: new Uint8Array([1, 2]), size: 2 };
  const id: string = await connection.invoke("Upload", "lobby", attachment);
  await connection.invoke("Upload", "lobby", { name: "b.txt", content: "AQI=", size: 2 });
  connection.stream("History", "lobby", new Date()).subscribe({ next: (message) => console.log(message.tags[0], id) });
  connection.stream("History", "lobby", "2000-01-01T00:00:00Z").subscribe({ complete: () => console.log("done") });
  const numbers = new Subject<number>();
  const total: Promise<number> = connection.invoke("SumNumbers", numbers, 0.5);
  numbers.next(1);
  numbers.complete();
  const stats = await connection.invoke("Stats", "week", "green");
  console.log(await total, stats.counts?.["x"], stats.by_hour?.[13], stats.colours?.red);
  const echoed: unknown = await connection.invoke("Echo", { anything: true }, 1);
  await connection.invoke("Ping");
  connection.on("ReceiveMessage", (message) => console.log(message.text, echoed));
  connection.on("AskColour", async (question): Promise<Colour> => (question.length ? "red" : "green"));
  connection.on("Attachment", (roomName, file, at) => console.log(roomName, file.content.length, at));
  connection.on("PresenceChanged", ({ group, joined, left }) => console.log(group, joined.length, left.length));
  connection.off("ReceiveMessage");

  // @ts-expect-error TS2345: no such hub method
  await connection.invoke("SendMesage", "lobby", "hi");
  // @ts-expect-error TS2345: mode is "day" or "week"
  await connection.invoke("Stats", "month", "red");
  // @ts-expect-error TS2345: an Attachment has content and a size
  await connection.invoke("Upload", "lobby", { name: "c.txt" });
  // @ts-expect-error TS2345: SumNumbers takes a stream of numbers
  await connection.invoke("SumNumbers", new Subject<string>(), 1);
  // @ts-expect-error TS2554: Ping takes no argument
  await connection.send("Ping", 1);
  // @ts-expect-error TS2554: Ping is not a stream (tsc then takes the call for one of History, the only stream)
  connection.stream("Ping");
  // @ts-expect-error TS2322: History yields messages
  connection.stream("History", "lobby", new Date()).subscribe({ next: (text: string) => text });
  // @ts-expect-error TS2345: a ReceiveMessage handler gets a Message
  connection.on("ReceiveMessage", (message: string) => message);
  // @ts-expect-error TS2322: AskColour answers "red" or "green"
  connection.on("AskColour", () => "blue");
  // @ts-expect-error TS2345: no such client method
  connection.on("ReceiveMesage", () => undefined);
}
