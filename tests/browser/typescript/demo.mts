// The demo's page, typed by `manage.py realtime_typescript project.hubs` (demo-hubs.ts). Compiled, never run, by
// tests/browser/test_typescript.py: each line under a ts-expect-error directive must fail, with the code it
// names, without it.
import { HubConnectionBuilder, type HubConnection } from "./realtime.mjs";
import type { ChatHubServer } from "./demo-hubs.js";

export async function chat(): Promise<void> {
  const connection: HubConnection<ChatHubServer> = new HubConnectionBuilder().withUrl("/hubs/chat").build();
  await connection.start();
  const people = await connection.invoke("join", "lobby");
  for (const person of people) console.log(person["name"], person["tabs"]);
  const transport: string = await connection.invoke("transport");
  await connection.send("say", "hello");
  connection.stream("count", 300, 10).subscribe({ next: (n) => console.log(n.toFixed(), transport) });
  connection.on("Notice", (text: string) => console.log(text)); // an untyped hub: on() takes any name
  // @ts-expect-error TS2345: no such hub method
  await connection.invoke("leave", "lobby");
  // @ts-expect-error TS2345: say takes text
  await connection.send("say", 42);
  // @ts-expect-error TS2554: count takes a total and an interval
  connection.stream("count", 10);
  // @ts-expect-error TS2345: count is a stream, which stream() calls
  await connection.invoke("count", 10, 50);
  // @ts-expect-error TS2322: transport resolves with a string
  const wrong: number = await connection.invoke("transport");
  console.log(wrong);
}
