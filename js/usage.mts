// Compiled (never run) by the browser tests with `tsc -p js`: the declarations cover what the README shows.
import {
  HttpTransportType,
  HubConnectionBuilder,
  HubConnectionState,
  LogLevel,
  Subject,
  exponentialBackoff,
  type HubConnection,
} from "../realtime/static/realtime/realtime.mjs";
import { MessagePackHubProtocol } from "../realtime/static/realtime/realtime-msgpack.mjs";

async function demo(): Promise<void> {
  const connection: HubConnection = new HubConnectionBuilder()
    .withUrl("/hubs/chat", {
      accessTokenFactory: async () => "token",
      transport: HttpTransportType.WebSockets | HttpTransportType.LongPolling,
      headers: { "X-Client": "demo" },
    })
    .withAutomaticReconnect(exponentialBackoff({ max: 10_000 }))
    .withStatefulReconnect({ bufferSize: 200_000 })
    .configureLogging(LogLevel.Information)
    .build();
  connection.on("Message", (user: string, text: string) => console.log(user, text));
  connection.on("GetNumber", () => 42);
  connection.onreconnected((id) => console.log(id?.length));
  connection.onclose((error) => console.log(error?.message));
  await connection.start();
  const count: number = await connection.invoke<number>("Count", 3);
  await connection.send("Say", "hi");
  const subscription = connection.stream<number>("Counter", 10).subscribe({ next: (n) => console.log(n + count) });
  subscription.dispose();
  const upload = new Subject<string>();
  const total = connection.invoke<number>("UploadStream", upload);
  upload.next("a");
  upload.complete();
  async function* words(): AsyncGenerator<string> {
    yield "b";
  }
  await connection.invoke("UploadStream", words());
  console.log(await total, connection.state === HubConnectionState.Connected, connection.connectionId);
  await connection.fetch("/announce", { method: "POST", body: new FormData() });
  await new HubConnectionBuilder() // in Node: { WebSocket: require("ws"), EventSource: require("eventsource") }
    .withUrl("http://127.0.0.1:8000/hubs/chat", { WebSocket, EventSource, headers: { "X-Client": "node" } })
    .build()
    .stop();
  // @ts-expect-error: WebSocket takes a class, not an instance
  new HubConnectionBuilder().withUrl("/hubs/chat", { WebSocket: new WebSocket("ws://127.0.0.1/") });
  await new HubConnectionBuilder()
    .withUrl("/hubs/chat", "LongPolling")
    .withHubProtocol(new MessagePackHubProtocol())
    .withAutomaticReconnect([0, 1000])
    .build()
    .stop();
  // The declarations are not `any`: tsc fails on an unused @ts-expect-error, so these mistakes must be caught.
  // @ts-expect-error: no such method
  connection.invok("Say");
  // @ts-expect-error: the buffer size is a number of bytes
  new HubConnectionBuilder().withStatefulReconnect({ bufferSize: "100kB" });
  // @ts-expect-error: a stream item handler gets a number here
  connection.stream<number>("Counter").subscribe({ next: (n: string) => n });
  // @ts-expect-error: the state is an enum member
  connection.state = "Up";
  // Typed by declarations as `manage.py realtime_typescript` writes them (tests/browser/test_typescript.py
  // compiles generated ones): the untyped calls above stay as they are.
  interface CounterServer {
    Count(start: number, label?: string | null): number;
    Counter(count: number): AsyncIterable<number>;
  }
  interface CounterClient {
    Counted(total: number): void;
    Confirm(question: string): boolean;
  }
  const typed = new HubConnectionBuilder().withUrl("/hubs/counter").build<CounterServer, CounterClient>();
  const counted: number = await typed.invoke("Count", 1, null);
  await typed.send("Count", 2);
  typed.stream("Counter", 3).subscribe({ next: (n) => console.log(n + counted) });
  typed.on("Counted", (total) => console.log(total + 1));
  typed.on("Confirm", async (question) => question.length > 0);
  const annotated: HubConnection<CounterServer, CounterClient> = new HubConnectionBuilder().build();
  annotated.off("Counted");
  // @ts-expect-error: Count takes a number
  typed.invoke("Count", "1");
  // @ts-expect-error: Counter is a stream: stream() calls it
  typed.invoke("Counter", 3);
  // @ts-expect-error: Confirm answers a boolean
  typed.on("Confirm", () => "yes");
  const classic: typeof window.realtime.HubConnectionBuilder = HubConnectionBuilder;
  const inWorker: typeof globalThis.realtimeMsgpack.MessagePackHubProtocol = MessagePackHubProtocol;
  console.log(classic, inWorker);
}

void demo;
