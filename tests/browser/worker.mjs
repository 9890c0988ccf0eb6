// A module worker for test_clients.py::test_module_worker: our client where there is no `window` or `document`.
// The page posts {transport}; the worker connects to the relative URL "/testhub" (resolved against the
// worker's own location), invokes, streams, stops, and posts back what it saw.
import { HttpTransportType, HubConnectionBuilder, LogLevel } from "/clienttest/realtime/realtime.mjs";

self.onmessage = async ({ data: { transport } }) => {
  try {
    const connection = new HubConnectionBuilder()
      .withUrl("/testhub", { transport: HttpTransportType[transport] })
      .configureLogging(LogLevel.Error)
      .build();
    await connection.start();
    const items = [];
    await new Promise((resolve, reject) =>
      connection.stream("Stream").subscribe({ next: (item) => items.push(item), complete: resolve, error: reject }),
    );
    const result = {
      globals: [typeof window, typeof document],
      baseUrl: connection.baseUrl === `${location.origin}/testhub`,
      echo: await connection.invoke("Echo", "from a worker"),
      transport: await connection.invoke("GetActiveTransportName"),
      items,
    };
    await connection.stop();
    self.postMessage({ result, state: connection.state });
  } catch (error) {
    self.postMessage({ error: `${error}` });
  }
};
