// The demo's page, typed by `manage.py realtime_typescript project.hubs` (demo-hubs.ts). Compiled, never run, by
// tests/browser/test_typescript.py: each line under a ts-expect-error directive must fail, with the code it
// names, without it.
import { HubConnectionBuilder, type HubConnection } from "./realtime.mjs";
import type { ChatHubClient, ChatHubServer } from "./demo-hubs.js";

export async function chat(): Promise<void> {
  const connection: HubConnection<ChatHubServer, ChatHubClient> = new HubConnectionBuilder()
    .withUrl("/hubs/chat")
    .withStatefulReconnect()
    .build();
  connection.on("Message", (user, text) => console.log(user.toUpperCase(), text));
  connection.on("Notice", (text) => console.log(text));
  connection.on("PresenceChanged", async ({ group, joined }) => {
    const people = await connection.invoke("Online", group);
    console.log(people.map((person) => person["name"]), joined.length);
  });
  // ChatClient extends realtime.Client: names sent with send(name, ...) (model events, Celery progress) are taken.
  connection.on("TaskProgress", (progress: { done: number; total: number }) => console.log(progress.done));
  await connection.start();
  const people = await connection.invoke("Join", "lobby");
  for (const person of people) console.log(person["name"], person["tabs"]);
  const transport: string = await connection.invoke("Transport");
  await connection.send("Say", "hello");
  connection.stream("Count", 300, 10).subscribe({ next: (n) => console.log(n.toFixed(), transport) });
  // @ts-expect-error TS2345: no such hub method
  await connection.invoke("Leave", "lobby");
  // @ts-expect-error TS2345: names are checked as the wire spells them (the server would match this one)
  await connection.invoke("join", "lobby");
  // @ts-expect-error TS2345: Say takes text
  await connection.send("Say", 42);
  // @ts-expect-error TS2554: Count takes a total and an interval
  connection.stream("Count", 10);
  // @ts-expect-error TS2345: Count is a stream, which stream() calls
  await connection.invoke("Count", 10, 50);
  // @ts-expect-error TS2322: Transport resolves with a string
  const wrong: number = await connection.invoke("Transport");
  // @ts-expect-error TS2345: a Message handler gets the user's name, a string
  connection.on("Message", (user: number) => console.log(user + 1, wrong));
  // @ts-expect-error TS2339: a PresenceChanged handler gets group, joined and left
  connection.on("PresenceChanged", ({ room }) => console.log(room));
}
