// The typed hub of the conformance server (/typedhub in ../shared/conformance.md), declared by `manage.py
// realtime_typescript`: test_typescript.py points the import at the conformance hubs' declarations when they have
// the hub (else at a stand-in of its contract in tests/browser/typed_hub.py) and the names at its types.
// Compiled, never run: each line under a ts-expect-error directive must fail, with the code it names, without it.
import { HubConnectionBuilder } from "./realtime.mjs";
import type { TypedHubClient, TypedHubServer } from "./typed-hubs.js";

export async function typedHub(): Promise<void> {
  const connection = new HubConnectionBuilder().withUrl("/typedhub").build<TypedHubServer, TypedHubClient>();
  const hello: string = await connection.invoke("SayHello", "you");
  const sum: number = await connection.invoke("AddNumbers", 1, 2);
  await connection.invoke("Greet", "you");
  connection.on("Greeted", (user: string) => console.log(user, hello, sum));
  // @ts-expect-error TS2345: AddNumbers takes numbers
  await connection.invoke("AddNumbers", 1, "2");
  // @ts-expect-error TS2345: the wire name is SayHello
  await connection.invoke("say_hello", "you");
  // @ts-expect-error TS2345: a Greeted handler gets a string
  connection.on("Greeted", (user: number) => user);
}
