// The conformance server's hubs, typed by `manage.py realtime_typescript tests.conformance.hubs`
// (conformance-hubs.ts). Compiled, never run, by tests/browser/test_typescript.py: each line under a
// ts-expect-error directive must fail, with the code it names, without it.
import { HubConnectionBuilder, Subject } from "./realtime.mjs";
import type { ChatHubServer, TestHubServer, TypedHubClient, TypedHubServer } from "./conformance-hubs.js";

export async function conformance(): Promise<void> {
  const test = new HubConnectionBuilder().withUrl("/default").build<TestHubServer>();
  const echoed: unknown = await test.invoke("Echo", { any: ["value"] });
  test.stream("Stream").subscribe({ next: (text) => console.log(text.toUpperCase(), echoed) });
  const upload = new Subject<string>();
  const joined: Promise<string> = test.invoke("StreamingConcat", upload);
  upload.next("a");
  upload.complete();
  const header: string | null = await test.invoke("GetHeader", "User-Agent");
  const complex: Record<string, unknown> = await test.invoke("SendComplexObject");
  console.log(await joined, header, complex);

  const chat = new HubConnectionBuilder().withUrl("/chathub").build<ChatHubServer>();
  await chat.send("SendMessage", "user", "text");
  const members: string[] = await chat.invoke("GetGroupMembers", "group");
  chat.stream("Counter", 3, 10).subscribe({ next: (n) => console.log(n + members.length) });
  async function* items(): AsyncGenerator<number> {
    yield 1;
  }
  const count: number = await chat.invoke("UploadStream", items());
  chat.on("ReceiveMessage", (user: string, message: string) => console.log(user, message, count));

  // /typedhub: a typed hub (Hub[TypedClient]), so on() is checked too
  const typed = new HubConnectionBuilder().withUrl("/typedhub").build<TypedHubServer, TypedHubClient>();
  const hello: string = await typed.invoke("SayHello", "you");
  const sum: number = await typed.invoke("AddNumbers", 1, 2);
  await typed.invoke("Greet", "you");
  typed.on("Greeted", (user) => console.log(user.toUpperCase(), hello, sum));

  // @ts-expect-error TS2345: StreamingConcat takes a stream of strings
  await test.invoke("StreamingConcat", new Subject<number>());
  // @ts-expect-error TS2322: GetHeader resolves with null for a missing header
  const missing: string = await test.invoke("GetHeader", "X-Missing");
  // @ts-expect-error TS2345: SendMessage takes a user and a message, both strings
  await chat.send("SendMessage", "user", 1);
  // @ts-expect-error TS2345: names are checked as the wire spells them (the server would match this one)
  await chat.invoke("sendmessage", "user", "text");
  // @ts-expect-error TS2345: Counter is a stream, which stream() calls
  await chat.send("Counter", 3, 10);
  // @ts-expect-error TS2345: AddNumbers takes numbers (the server answers a binding failure)
  await typed.invoke("AddNumbers", 1, "2");
  // @ts-expect-error TS2345: the wire name is SayHello (naming = "pascal")
  await typed.invoke("say_hello", "you");
  // @ts-expect-error TS2345: a Greeted handler gets a string
  typed.on("Greeted", (user: number) => console.log(user + 1));
  console.log(missing);
}
