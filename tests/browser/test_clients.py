"""The same scenarios with our client (realtime.mjs) and the official @microsoft/signalr browser bundle.

Each scenario is one ``page.evaluate`` against the conformance server (shared/conformance.md); the page
exposes the client under test as ``R`` and the helpers of helpers.js as ``T``.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.timeout(90)

CLIENTS = ["realtime", "official"]
TRANSPORTS = ["WebSockets", "ServerSentEvents", "LongPolling"]


@pytest.fixture(params=CLIENTS)
def client(request) -> str:
    return request.param


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


def run(page, script: str, arg=None):
    return page.evaluate(script, arg)


def test_echo_and_clean_stop(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/testhub", { transport });
          const closed = T.next(c, "onclose");
          const echo = await c.invoke("Echo", "你好，世界！");
          const active = await c.invoke("GetActiveTransportName");
          const idMatches = (await c.invoke("GetCallerConnectionId")) === c.connectionId;
          await c.stop();
          return { echo, active, idMatches, closed: await closed, state: c.state, id: c.connectionId };
        }""",
        transport,
    )
    assert result == {
        "echo": "你好，世界！",
        "active": transport,
        "idMatches": True,
        "closed": "undefined",
        "state": "Disconnected",
        "id": None,
    }


def test_send_and_server_calls(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/testhub", { transport });
          await c.send("Echo", "not answered");
          const message = T.received(c, T.randomCase("Message"));
          await c.invoke("InvokeWithString", "hello from the server");
          const custom = T.received(c, "CustomObject");
          await c.send("SendCustomObject", { Name: "test", Value: 42 });
          return { message: await message, custom: await custom };
        }""",
        transport,
    )
    assert result == {"message": "hello from the server", "custom": {"Name": "test", "Value": 42}}


def test_server_streams_and_cancel(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/testhub", { transport });
          const items = await T.collect(c.stream("Stream"));
          const empty = await T.collect(c.stream("EmptyStream"));
          const canceled = T.received(c, "StreamCanceled");
          c.stream("InfiniteStream").subscribe({ next() {}, error() {}, complete() {} }).dispose();
          await canceled;
          return { items, empty, after: await c.invoke("Echo", "still here") };
        }""",
        transport,
    )
    assert result == {"items": ["a", "b", "c"], "empty": [], "after": "still here"}


def test_error_texts(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/testhub", { transport });
          return [
            await T.error(c.invoke("ThrowException", "An error occurred.")),
            await T.error(c.invoke("EmptyStream")),
            await T.error(T.collect(c.stream("StreamThrowException", "An error occurred."))),
            await T.error(T.collect(c.stream("Echo", "42"))),
            await T.error(c.invoke("NoSuchMethod")),
          ];
        }""",
        transport,
    )
    assert result == [
        "An unexpected error occurred invoking 'ThrowException' on the server. "
        "InvalidOperationException: An error occurred.",
        "The client attempted to invoke the streaming 'EmptyStream' method with a non-streaming invocation.",
        "An unexpected error occurred invoking 'StreamThrowException' on the server. "
        "InvalidOperationException: An error occurred.",
        "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
        "Unknown hub method 'NoSuchMethod'",
    ]


def test_upload_streams(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/testhub", { transport });
          const subject = new R.Subject();
          const concat = c.invoke("StreamingConcat", subject);
          for (const part of ["Hello ", "world", "!"]) subject.next(part);
          subject.complete();
          const failing = new R.Subject();
          const failed = T.error(c.invoke("StreamingConcat", failing));
          failing.next("x");
          failing.error(new Error("Something bad"));
          return { concat: await concat, failed: await failed };
        }""",
        transport,
    )
    assert result == {
        "concat": "Hello world!",
        "failed": "An unexpected error occurred invoking 'StreamingConcat' on the server. HubException: Something bad",
    }


def test_client_results(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const ask = async (c) => (await fetch(`/clientresult/${c.connectionId}`)).text();
          const c = await T.connect("/testhub", { transport });
          const answers = [await ask(c)];  // no handler
          c.on("Result", () => 10);
          answers.push(await ask(c));
          c.off("Result");
          c.on("Result", async () => { throw new Error("from callback"); });
          answers.push(await ask(c));
          return answers;
        }""",
        transport,
    )
    assert result == ["Client didn't provide a result.", "10", "Error: from callback"]


def test_groups_and_pushes(open_page, client):
    # Bob's invoke resolving says nothing about Alice's socket: wait for his message to reach her before
    # waiting for the view's push, or both waits take his message. The group is this run's own, so a
    # connection of an earlier run that the server is still closing cannot appear in it.
    result = run(
        open_page(client),
        """async (group) => {
          const alice = await T.connect("/chathub");
          const bob = await T.connect("/chathub");
          const joined = T.received(alice, "PresenceChanged");
          await alice.invoke("JoinGroup", group);
          const presence = await joined;
          const fromBob = T.received(alice, "ReceiveMessage");
          await bob.invoke("SendToGroup", group, "hi room");
          const bobsMessage = await fromBob;
          const fromView = T.received(alice, "ReceiveMessage");
          await fetch(`/push/group/${group}`, { method: "POST", body: JSON.stringify({ message: "from a view" }) });
          const members = await bob.invoke("GetGroupMembers", group);
          return {
            presence: presence.joined[0] === alice.connectionId && presence.group === group,
            fromBob: bobsMessage, fromView: await fromView,
            members: members.length === 1 && members[0] === alice.connectionId,
            ids: [alice.connectionId, bob.connectionId],
          };
        }""",
        f"room-{client}-{uuid.uuid4().hex[:8]}",
    )
    alice, bob = result.pop("ids")
    assert result == {
        "presence": True,
        "fromBob": [bob, "hi room"],
        "fromView": ["server", "from a view"],
        "members": True,
    }


@pytest.mark.parametrize(
    ("blocked", "expected"),
    [({"websocket": "off"}, "ServerSentEvents"), ({"websocket": "off", "eventsource": "off"}, "LongPolling")],
    ids=["no-websocket", "no-websocket-no-eventsource"],
)
def test_fallback_when_websocket_is_blocked(open_page, client, blocked, expected):
    result = run(
        open_page(client, **blocked),
        """async () => {
          const c = await T.connect("/testhub");
          return [typeof WebSocket, await c.invoke("GetActiveTransportName"), await c.invoke("Echo", "fallback")];
        }""",
    )
    assert result == ["undefined", expected, "fallback"]


def test_nowebsockets_endpoint_picks_sse(open_page, client):
    page = open_page(client)
    assert run(page, 'async () => (await T.connect("/testhub-nowebsockets")).invoke("GetActiveTransportName")') == (
        "ServerSentEvents"
    )


def test_access_token_factory(open_page, client, transport):
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/authorizedhub", { transport, tokenUrl: "/generateJwtToken" });
          const out = [await c.invoke("Echo", "secret"), await c.invoke("GetUserNameIdentifier")];
          out.push(await T.error(T.connect("/authorizedhub", { transport })));
          return out;
        }""",
        transport,
    )
    assert result == [
        "secret",
        "testuser",
        "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'",
    ]


def test_token_expiry_and_refresh(open_page, client):
    """A 2-second token expires: the server closes with allowReconnect; reconnecting fetches a fresh token.

    Tokens are short only until the first expiry: a refreshed token that expired again within 2 s could end
    the reconnected connection before the test's Echo, which no wait in the test could rule out. The flag
    is set in an onreconnecting callback, which both clients run before they reconnect."""
    result = run(
        open_page(client),
        """async () => {
          let expired = false;
          const tokenUrl = () => (expired ? "/generateJwtToken" : "/generateJwtToken?seconds=2");
          const c = await T.connect("/authorizedhub", { tokenUrl, reconnect: [0, 200, 500, 1000] });
          c.onreconnecting(() => { expired = true; });
          const firstId = c.connectionId;
          const reconnecting = await T.next(c, "onreconnecting");
          await T.next(c, "onreconnected");
          const echo = await c.invoke("Echo", "fresh");
          return { reconnecting, newId: c.connectionId !== firstId, tokens: T.tokens, echo };
        }""",
    )
    assert "Authentication token expired" in result.pop("reconnecting")
    assert result["tokens"] >= 2
    assert result == {"newId": True, "tokens": result["tokens"], "echo": "fresh"}


def test_negotiate_redirect_and_reconnect(open_page, client):
    result = run(
        open_page(client),
        """async () => {
          const c = await T.connect("/redirect", { reconnect: [0] });
          const before = await c.invoke("GetNumRedirects");
          const id = await c.invoke("GetCallerConnectionId");
          return { before: typeof before, sameId: id === c.connectionId };
        }""",
    )
    assert result == {"before": "number", "sameId": True}


def test_classic_script_build(open_page):
    page = open_page("realtime-classic")
    result = run(
        page,
        """async () => [typeof realtime.HubConnectionBuilder,
                        await (await T.connect("/testhub")).invoke("Echo", "classic")]""",
    )
    assert result == ["function", "classic"]


def test_reconnect_after_server_restart(open_page, restartable_server):
    """Both clients, with automatic reconnect, come back to a restarted server with new connection ids."""
    pages = [open_page(client, base_url=restartable_server.url) for client in CLIENTS]
    for page in pages:
        run(
            page,
            """async () => {
              window.c = await T.connect("/testhub", { reconnect: Array(60).fill(500) });
              window.firstId = c.connectionId;
              window.reconnecting = new Promise((resolve) => c.onreconnecting(resolve));
              window.reconnected = new Promise((resolve) => c.onreconnected(resolve));
            }""",
        )
    restartable_server.restart()
    for page in pages:
        result = run(
            page,
            """async () => {
              await T.within(reconnecting, "onreconnecting", 20000);
              const id = await T.within(reconnected, "onreconnected", 30000);
              return [c.state, id === c.connectionId && id !== firstId, await c.invoke("Echo", "back")];
            }""",
        )
        assert result == ["Connected", True, "back"]


@pytest.mark.parametrize("transport", ["WebSockets", "LongPolling"])
def test_messagepack(open_page, client, transport):
    """The MessagePack protocol (ours: realtime-msgpack.mjs; official: @microsoft/signalr-protocol-msgpack)."""
    result = run(
        open_page(client),
        """async (transport) => {
          const c = await T.connect("/testhub", { transport, protocol: "messagepack" });
          const complex = await c.invoke("SendComplexObject");
          const sent = { String: "hello world", IntArray: [1, 2, 3], ByteArray: new Uint8Array([1, 2, 3]),
                         Guid: "00010203-0405-0607-0706-050403020100", DateTime: new Date(Date.UTC(2000, 0, 1)) };
          const echoed = await c.invoke("EchoComplexObject", sent);
          const plain = (o) => ({ ...o, ByteArray: Array.from(o.ByteArray), DateTime: o.DateTime.toISOString() });
          const subject = new R.Subject();
          const concat = c.invoke("StreamingConcat", subject);
          subject.next("Hello "); subject.next("world"); subject.complete();
          c.on("Result", () => 10);
          return {
            echo: await c.invoke("Echo", "你好，世界！"),
            big: await c.invoke("Echo", 2 ** 40), float: await c.invoke("Echo", 1.5),
            complex: plain(complex), echoed: plain(echoed), isDate: echoed.DateTime instanceof Date,
            stream: await T.collect(c.stream("Stream")), concat: await concat,
            result: await (await fetch(`/clientresult/${c.connectionId}`)).text(),
            error: await T.error(c.invoke("ThrowException", "boom")),
          };
        }""",
        transport,
    )
    complex_ = {
        "String": "hello world",
        "IntArray": [1, 2, 3],
        "ByteArray": [1, 2, 3],
        "Guid": "00010203-0405-0607-0706-050403020100",
        "DateTime": "2000-01-01T00:00:00.000Z",
    }
    assert result == {
        "echo": "你好，世界！",
        "big": 2**40,
        "float": 1.5,
        "complex": complex_,
        "echoed": complex_,
        "isDate": True,
        "stream": ["a", "b", "c"],
        "concat": "Hello world",
        "result": "10",
        "error": "An unexpected error occurred invoking 'ThrowException' on the server. "
        "InvalidOperationException: boom",
    }


def test_messagepack_skips_sse(open_page, client):
    page = open_page(client)
    script = """async () => (await T.connect("/testhub-nowebsockets", { protocol: "messagepack" }))
                  .invoke("GetActiveTransportName")"""
    assert run(page, script) == "LongPolling"


def test_server_timeout_skip_negotiation_and_headers(open_page, client):
    result = run(
        open_page(client),
        """async () => {
          const c = await T.connect("/testhub", { transport: "WebSockets" });
          const closed = T.next(c, "onclose");
          c.serverTimeoutInMilliseconds = 1;
          await c.invoke("Echo", "").catch(() => {});
          const direct = new R.HubConnectionBuilder()
            .withUrl("/testhub", { transport: R.HttpTransportType.WebSockets, skipNegotiation: true }).build();
          T.open.push(direct);
          await direct.start();
          const polling = await T.connect("/testhub", { transport: "LongPolling", headers: { "X-HEADER": "VALUE" } });
          return {
            closed: await closed,
            skipNegotiation: [direct.connectionId, await direct.invoke("Echo", "direct")],
            header: await polling.invoke("GetHeader", "X-HEADER"),
          };
        }""",
    )
    assert result == {
        "closed": "Error: Server timeout elapsed without receiving a message from the server.",
        "skipNegotiation": [None, "direct"],
        "header": "VALUE",
    }


def test_stop_while_reconnecting(open_page, client, restartable_server):
    page = open_page(client, base_url=restartable_server.url)
    run(
        page,
        """async () => {
          window.c = await T.connect("/testhub", { reconnect: Array(60).fill(500) });
          window.reconnecting = T.next(c, "onreconnecting");
        }""",
    )
    restartable_server.stop()
    result = run(
        page,
        """async () => {
          await reconnecting;
          const closed = T.next(c, "onclose");
          await c.stop();
          return [await closed, c.state, c.connectionId];
        }""",
    )
    assert result == ["undefined", "Disconnected", None]


def test_module_worker(open_page, transport):
    """Our client in a module worker (no window, no document): a relative hub URL, invoke, stream, stop."""
    result = run(
        open_page("realtime"),
        """async (transport) => {
          const worker = new Worker("/clienttest/browser-tests/worker.mjs", { type: "module" });
          const reply = new Promise((resolve, reject) => {
            worker.onmessage = (event) => resolve(event.data);
            worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
          });
          worker.postMessage({ transport });
          try {
            return await T.within(reply, "the worker's reply");
          } finally {
            worker.terminate();
          }
        }""",
        transport,
    )
    assert result == {
        "result": {
            "globals": ["undefined", "undefined"],
            "baseUrl": True,
            "echo": "from a worker",
            "transport": transport,
            "items": ["a", "b", "c"],
        },
        "state": "Disconnected",
    }


def test_our_extras(open_page):
    """What only our client has: async iterables as upload streams, retry policies, and `connection.fetch`."""
    page = open_page("realtime")
    seen = {}

    def record(route):
        request = route.request
        seen["elsewhere" if "other.invalid" in request.url else request.method] = request.headers
        if request.headers.get("x-from") == "request":
            seen["Request"] = request.headers
        route.fulfill(status=204, headers={"Access-Control-Allow-Origin": "*"})

    page.route("**/probe", record)
    result = run(
        page,
        """async () => {
          const c = await T.connect("/testhub");
          async function* parts() { yield "async "; yield "iterable"; }
          const concat = await c.invoke("StreamingConcat", parts());
          const backoff = R.exponentialBackoff({ initial: 1000, max: 4000, retries: 5, jitter: 0 });
          const delays = [0, 1, 2, 3, 4, 5].map((n) => backoff.nextRetryDelayInMilliseconds({ previousRetryCount: n }));
          const jittered = R.retryDelays([1000], 0.2).nextRetryDelayInMilliseconds({ previousRetryCount: 0 });
          document.cookie = "csrftoken=token123; path=/";
          await c.fetch("/probe", { method: "POST", body: "x" });
          await c.fetch("/probe");
          await c.fetch(new Request("/probe", { method: "PUT", headers: { "X-From": "request" } }));
          await c.fetch(new Request("http://other.invalid/probe", { method: "POST", body: "x" }));
          return { concat, delays, jitterOk: jittered >= 800 && jittered <= 1200, id: c.connectionId };
        }""",
    )
    assert result["concat"] == "async iterable"
    assert result["delays"] == [0, 1000, 2000, 4000, 4000, None]
    assert result["jitterOk"]
    assert seen["POST"]["x-realtime-connection-id"] == result["id"]
    assert seen["POST"]["x-csrftoken"] == "token123"
    assert seen["GET"]["x-realtime-connection-id"] == result["id"]
    assert "x-csrftoken" not in seen["GET"]
    assert seen["Request"]["x-csrftoken"] == "token123"  # a Request keeps its method and headers
    assert seen["Request"]["x-realtime-connection-id"] == result["id"]
    assert "x-realtime-connection-id" not in seen["elsewhere"]  # other origins learn neither
    assert "x-csrftoken" not in seen["elsewhere"]
