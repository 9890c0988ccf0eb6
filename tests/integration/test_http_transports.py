"""The HTTP transports (Server-Sent Events, long polling, POST sends, DELETE) at the wire level.

Bad input of every kind against a real conformance server under Daphne and Uvicorn, spoken with
``http.client`` and plain sockets, checked against ``shared/design/protocol.md`` (the status table of
section 1, sections 3.3-3.5): exact status codes, bodies and headers. Every test keeps well-behaved
connections on all three transports open while it misbehaves (``bystanders``), and checks at the end that
they still work.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import itertools
import json
import queue
import select
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.servers import conformance_server

pytestmark = pytest.mark.timeout(180)

RS = "\x1e"
HUB = "/testhub"
WAIT = 15.0
"""How long one expected answer may take (generous: other suites may share the machine)."""
AT_ONCE = 10.0
"""An answer "at once": far below POLL_TIMEOUT (90 s), with room for a busy machine."""
POLL_READ_TIMEOUT = 120.0
"""Socket timeout of a poll: above the server's POLL_TIMEOUT (90 s), like the JS client's 100 s."""
POST_LIMIT = 4 * 1024 * 1024
"""The default of REALTIME["MAX_POST_SIZE"]."""
DISCONNECT_TIMEOUT = 15.0
"""The server's DISCONNECT_TIMEOUT (default; the conformance server does not change it)."""
HANDSHAKE = ('{"protocol":"json","version":1}' + RS).encode()
SSE_ACCEPT = {"Accept": "text/event-stream"}
NO_CACHE_POLL_HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}

_unique = itertools.count()


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def base(request) -> Iterator[str]:
    """The base URL of a conformance server (one per ASGI server, shared by the module's tests)."""
    with conformance_server(request.param) as server:
        yield server.url


# -- HTTP ----------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def request(
    base: str,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = WAIT,
) -> Reply:
    """One HTTP request on its own connection; the whole answer."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def negotiate(base: str, hub: str = HUB) -> dict[str, Any]:
    reply = request(base, "POST", f"{hub}/negotiate?negotiateVersion=1")
    assert reply.status == 200, reply
    return json.loads(reply.body)


def poll_target(token: str, hub: str = HUB) -> str:
    return f"{hub}?id={urllib.parse.quote(token)}&_={time.time_ns()}{next(_unique)}"


def assert_refused(reply: Reply, status: int, text: str) -> None:
    """``status`` with exactly ``text`` as body (``text/plain`` when there is one)."""
    assert (reply.status, reply.text) == (status, text)
    if text:
        assert reply.headers.get("Content-Type") == "text/plain"


def parse(payload: bytes | str) -> list[dict[str, Any]]:
    """JSON hub messages of one chunk (which must end on a message boundary)."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    assert text == "" or text.endswith(RS), f"chunk does not end on a message boundary: {text!r}"
    return [json.loads(part) for part in text.split(RS) if part]


def invocation(invocation_id: str, target: str, *args: Any) -> bytes:
    return (
        json.dumps({"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)}) + RS
    ).encode()


# -- well-behaved clients (JSON protocol) --------------------------------------------------------------


class HubClient:
    """The part every transport shares: a queue of received hub messages and blocking ``invoke``."""

    transport: str

    def __init__(self) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._ids = itertools.count()
        self.closing = False
        self.reader_error: BaseException | None = None

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def next_message(self, timeout: float = WAIT) -> dict[str, Any]:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.transport}: no message within {timeout} s") from None

    def expect_handshake_reply(self) -> None:
        assert self.next_message() == {}, "the handshake reply"

    def invoke(self, target: str, *args: Any) -> Any:
        invocation_id = f"i{next(self._ids)}"
        self.send(invocation(invocation_id, target, *args))
        deadline = time.monotonic() + WAIT
        while True:
            message = self.next_message(max(0.1, deadline - time.monotonic()))
            if message.get("type") == 3 and message.get("invocationId") == invocation_id:
                assert "error" not in message, message
                return message["result"]
            if message.get("type") == 7:
                raise AssertionError(f"{self.transport}: the server closed the connection: {message}")

    def check(self) -> None:
        """The connection still works end to end."""
        assert self.reader_error is None, f"{self.transport}: reading failed: {self.reader_error!r}"
        assert self.invoke("Echo", "still here") == "still here"
        assert self.invoke("GetActiveTransportName") == self.transport


class LongPollingClient(HubClient):
    """A long-polling connection: first poll, handshake by POST, then a background thread that polls."""

    transport = "LongPolling"

    def __init__(self, base: str, hub: str = HUB, *, poll: bool = True) -> None:
        super().__init__()
        self.base = base
        self.hub = hub
        self.token = negotiate(base, hub)["connectionToken"]
        self.target = f"{hub}?id={urllib.parse.quote(self.token)}"
        self.first_poll = self.poll()
        assert (self.first_poll.status, self.first_poll.body) == (200, b""), self.first_poll
        self.send(HANDSHAKE)
        self.polls: list[Reply | BaseException] = []
        self.ended = threading.Event()
        self._thread: threading.Thread | None = None
        if poll:
            self._thread = threading.Thread(target=self._poll_loop, name=f"poll-{self.token[:6]}", daemon=True)
            self._thread.start()
            self.expect_handshake_reply()
        else:
            reply = self.poll()
            assert reply.status == 200 and reply.body.startswith(b"{}" + RS.encode()), reply

    def poll(self) -> Reply:
        return request(self.base, "GET", poll_target(self.token, self.hub), timeout=POLL_READ_TIMEOUT)

    def _poll_loop(self) -> None:
        try:
            while True:
                reply = self.poll()
                self.polls.append(reply)
                if reply.status != 200:
                    return
                for message in parse(reply.body):
                    self.messages.put(message)
        except Exception as exc:  # noqa: BLE001 - recorded for the test to see
            self.polls.append(exc)
            if not self.closing:
                self.reader_error = exc
        finally:
            self.ended.set()

    def send(self, data: bytes) -> None:
        reply = request(self.base, "POST", self.target, body=data)
        assert (reply.status, reply.body) == (200, b""), reply

    def close(self) -> None:
        self.closing = True
        reply = request(self.base, "DELETE", self.target)
        assert reply.status in (202, 404), reply
        if self._thread is not None:
            assert self.ended.wait(WAIT), "the outstanding poll did not end after DELETE"


class SseClient(HubClient):
    """A Server-Sent Events connection: the GET stream read by a background thread, sends by POST."""

    transport = "ServerSentEvents"

    def __init__(self, base: str, hub: str = HUB) -> None:
        super().__init__()
        self.base = base
        self.token = negotiate(base, hub)["connectionToken"]
        self.target = f"{hub}?id={urllib.parse.quote(self.token)}"
        url = urllib.parse.urlsplit(base)
        self._conn = http.client.HTTPConnection(url.hostname, url.port, timeout=POLL_READ_TIMEOUT)
        self._conn.request("GET", self.target, headers=SSE_ACCEPT)
        self._sock = self._conn.sock
        self.response = self._conn.getresponse()
        assert self.response.status == 200, self.response.status
        self.preamble = self.response.readline()
        self.events: list[bytes] = []
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name=f"sse-{self.token[:6]}", daemon=True)
        self._thread.start()
        self.send(HANDSHAKE)
        self.expect_handshake_reply()

    def _read_loop(self) -> None:
        try:
            raw: list[bytes] = []
            while line := self.response.readline():
                raw.append(line)
                if line == b"\r\n":
                    event = b"".join(raw)
                    raw = []
                    self.events.append(event)
                    data = [
                        ln[len(b"data: ") :].rstrip(b"\r\n")
                        for ln in event.splitlines(True)
                        if ln.startswith(b"data: ")
                    ]
                    for message in parse(b"\n".join(data)):
                        self.messages.put(message)
        except Exception as exc:  # noqa: BLE001 - close() shuts the stream under us; anything else is recorded
            if not self.closing:
                self.reader_error = exc
        finally:
            self.ended.set()

    def send(self, data: bytes) -> None:
        reply = request(self.base, "POST", self.target, body=data)
        assert (reply.status, reply.body) == (200, b""), reply

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(WAIT)


class WebSocketClient(HubClient):
    """A WebSocket connection (negotiated), read by a background thread."""

    transport = "WebSockets"

    def __init__(self, base: str, hub: str = HUB) -> None:
        super().__init__()
        self.token = negotiate(base, hub)["connectionToken"]
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(f"{base.replace('http://', 'ws://')}{hub}?id={urllib.parse.quote(self.token)}", open_timeout=WAIT)
        )
        self._thread = threading.Thread(target=self._read_loop, name=f"ws-{self.token[:6]}", daemon=True)
        self._thread.start()
        self.send(HANDSHAKE)
        self.expect_handshake_reply()

    def _read_loop(self) -> None:
        try:
            for frame in self.ws:
                for message in parse(frame):
                    self.messages.put(message)
        except Exception as exc:  # noqa: BLE001 - recorded for check()
            if not self.closing:
                self.reader_error = exc

    def send(self, data: bytes) -> None:
        self.ws.send(data.decode("utf-8"))

    def close(self) -> None:
        self.closing = True
        self._stack.close()
        self._thread.join(WAIT)


class Bystanders:
    """One well-behaved connection per transport, opened before a test misbehaves."""

    def __init__(self, base: str) -> None:
        self.clients: list[HubClient] = []
        for cls in (LongPollingClient, SseClient, WebSocketClient):
            self.clients.append(cls(base))

    def check(self) -> None:
        for client in self.clients:
            client.check()

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[attr-defined]


@pytest.fixture
def bystanders(base: str) -> Iterator[Bystanders]:
    group = Bystanders(base)
    try:
        yield group
    finally:
        group.close()


@contextlib.contextmanager
def closing(client: Any) -> Iterator[Any]:
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()


def open_sse(base: str, target: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Start an SSE GET and return as soon as the status line and headers arrived."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=WAIT)
    conn.request("GET", target, headers=SSE_ACCEPT)
    return conn, conn.getresponse()


# -- bad input -----------------------------------------------------------------------------------------


def test_unknown_token_is_404_on_every_request(base, bystanders):
    target = f"{HUB}?id=no-such-token"
    assert_refused(request(base, "GET", f"{target}&_=1"), 404, "No Connection with that ID")
    assert_refused(request(base, "GET", target, headers=SSE_ACCEPT), 404, "No Connection with that ID")
    assert_refused(request(base, "POST", target, body=HANDSHAKE), 404, "No Connection with that ID")
    assert_refused(request(base, "DELETE", target), 404, "No Connection with that ID")
    # A token is bound to the endpoint that negotiated it.
    other = negotiate(base, "/testhub-nowebsockets")["connectionToken"]
    assert_refused(request(base, "GET", poll_target(other)), 404, "No Connection with that ID")
    assert_refused(request(base, "DELETE", f"{HUB}?id={other}"), 404, "No Connection with that ID")
    bystanders.check()


@pytest.mark.parametrize("query", ["", "?id=", "?_=1", "?ID2=x"])
def test_missing_id_is_400(base, bystanders, query):
    target = f"{HUB}{query}"
    assert_refused(request(base, "GET", target), 400, "Connection ID required")
    assert_refused(request(base, "GET", target, headers=SSE_ACCEPT), 400, "Connection ID required")
    assert_refused(request(base, "POST", target, body=HANDSHAKE), 400, "Connection ID required")
    assert_refused(request(base, "DELETE", target), 400, "Connection ID required")
    bystanders.check()


def test_websocket_connection_refuses_http_requests(base, bystanders):
    with closing(WebSocketClient(base)) as ws:
        target = f"{HUB}?id={ws.token}"
        assert_refused(
            request(base, "POST", target, body=invocation("x", "Echo", "no")),
            405,
            "POST requests are not allowed for WebSocket connections.",
        )
        assert_refused(
            request(base, "DELETE", target), 400, "Cannot terminate this connection using the DELETE endpoint."
        )
        assert_refused(request(base, "GET", poll_target(ws.token)), 400, "Cannot change transports mid-connection")
        assert_refused(request(base, "GET", target, headers=SSE_ACCEPT), 400, "Cannot change transports mid-connection")
        ws.check()
    bystanders.check()


def test_sse_connection_refuses_delete_second_stream_and_polls(base, bystanders):
    with closing(SseClient(base)) as sse:
        target = f"{HUB}?id={sse.token}"
        assert_refused(
            request(base, "DELETE", target), 400, "Cannot terminate this connection using the DELETE endpoint."
        )
        # A second SSE GET while the first one is active: 409 with an empty body, at once.
        reply = request(base, "GET", target, headers=SSE_ACCEPT)
        assert (reply.status, reply.body) == (409, b"")
        assert_refused(request(base, "GET", poll_target(sse.token)), 400, "Cannot change transports mid-connection")
        # The first stream is untouched.
        sse.check()
        assert not sse.ended.is_set()
    bystanders.check()


def test_long_polling_connection_refuses_sse_and_overlong_posts(base, bystanders):
    with closing(LongPollingClient(base)) as lp:
        conn, response = open_sse(base, lp.target)
        with contextlib.closing(conn):
            assert (response.status, response.read().decode()) == (400, "Cannot change transports mid-connection")
        reply = request(base, "POST", lp.target, body=b"x" * (POST_LIMIT + 1), timeout=60)
        assert reply.status == 413, reply
        assert reply.headers.get("Content-Type") == "text/plain"
        # Refused bodies never reach the hub: the connection is intact and in order.
        lp.check()
    bystanders.check()


def test_post_body_may_batch_several_messages(base, bystanders):
    with closing(LongPollingClient(base)) as lp:
        lp.send(invocation("b1", "Echo", "one") + invocation("b2", "Echo", "two"))
        results = {}
        while len(results) < 2:
            message = lp.next_message()
            if message.get("type") == 3:
                results[message["invocationId"]] = message["result"]
        assert results == {"b1": "one", "b2": "two"}
    bystanders.check()


# -- Server-Sent Events --------------------------------------------------------------------------------


def test_sse_headers_preamble_and_framing(base, bystanders):
    with closing(SseClient(base)) as sse:
        headers = sse.response.headers
        assert headers.get("Content-Type") == "text/event-stream"
        assert headers.get("Cache-Control") == "no-cache,no-store"
        assert headers.get("Pragma") == "no-cache"
        assert headers.get("Content-Encoding") == "identity"
        assert headers.get("X-Accel-Buffering") == "no"
        assert sse.preamble == b":\r\n", "the first bytes are the comment line `:\\r\\n`"
        assert sse.events[0] == b"data: {}" + RS.encode() + b"\r\n\r\n", "the handshake reply is one whole event"
        assert sse.invoke("Echo", "framed") == "framed"
        completion = (
            json.dumps({"type": 3, "invocationId": "i0", "result": "framed"}, separators=(",", ":")) + RS
        ).encode()
        assert b"data: " + completion + b"\r\n\r\n" in sse.events, sse.events
    bystanders.check()


# -- long polling --------------------------------------------------------------------------------------


def test_first_poll_is_answered_at_once_with_no_cache_headers(base, bystanders):
    token = negotiate(base)["connectionToken"]
    started = time.monotonic()
    first = request(base, "GET", poll_target(token))
    assert time.monotonic() - started < AT_ONCE, "the first poll is answered at once"
    assert (first.status, first.body) == (200, b"")
    assert first.headers.get("Content-Type") == "application/octet-stream"
    for name, value in NO_CACHE_POLL_HEADERS.items():
        assert first.headers.get(name) == value, name
    # A poll that carries data has the same headers.
    assert request(base, "POST", f"{HUB}?id={token}", body=HANDSHAKE).status == 200
    data = request(base, "GET", poll_target(token))
    assert (data.status, data.body) == (200, b"{}" + RS.encode())
    assert data.headers.get("Content-Type") == "application/octet-stream"
    for name, value in NO_CACHE_POLL_HEADERS.items():
        assert data.headers.get(name) == value, name
    assert request(base, "DELETE", f"{HUB}?id={token}").status == 202
    bystanders.check()


def test_first_poll_has_content_length_zero(base):
    token = negotiate(base)["connectionToken"]
    first = request(base, "GET", poll_target(token))
    try:
        assert first.status == 200
        assert first.headers.get("Content-Length") == "0", dict(first.headers)
    finally:
        request(base, "DELETE", f"{HUB}?id={token}")


def _two_polls(lp: LongPollingClient, pool: concurrent.futures.Executor):
    """Start two polls; the one the server saw first is superseded (204). Returns (ended, still_waiting)."""
    polls = [pool.submit(lp.poll), pool.submit(lp.poll)]
    done, pending = concurrent.futures.wait(polls, timeout=WAIT, return_when=concurrent.futures.FIRST_COMPLETED)
    assert len(done) == 1 and len(pending) == 1, "exactly one of two concurrent polls ends"
    (ended,) = done
    (waiting,) = pending
    return ended.result(), waiting


def test_superseded_poll_ends_204_and_the_newer_poll_gets_the_data(base, bystanders):
    lp = LongPollingClient(base, poll=False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        superseded, waiting = _two_polls(lp, pool)
        assert (superseded.status, superseded.body) == (204, b"")
        lp.send(invocation("s1", "Echo", "to the newest poll"))
        reply = waiting.result(timeout=WAIT)
        assert reply.status == 200
        assert parse(reply.body) == [{"type": 3, "invocationId": "s1", "result": "to the newest poll"}]
    assert request(base, "DELETE", lp.target).status == 202
    bystanders.check()


def test_delete_ends_the_poll_and_every_later_request_is_404(base, bystanders):
    lp = LongPollingClient(base, poll=False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        # After one poll is superseded, the other one is known to be waiting on the server.
        superseded, waiting = _two_polls(lp, pool)
        assert superseded.status == 204
        deleted = request(base, "DELETE", lp.target)
        assert (deleted.status, deleted.body) == (202, b"")
        outstanding = waiting.result(timeout=WAIT)
        assert (outstanding.status, outstanding.body) == (204, b""), "the outstanding poll ends 204"
    assert_refused(request(base, "GET", poll_target(lp.token)), 404, "No Connection with that ID")
    assert_refused(
        request(base, "POST", lp.target, body=invocation("d", "Echo", "late")), 404, "No Connection with that ID"
    )
    assert_refused(request(base, "DELETE", lp.target), 404, "No Connection with that ID")
    assert_refused(request(base, "GET", lp.target, headers=SSE_ACCEPT), 404, "No Connection with that ID")
    bystanders.check()


def test_abandoned_poll_does_not_take_the_connection_down(base):
    """The JS client's stop(): abort the outstanding poll, POST a Close message, then DELETE (answered 202)."""
    lp = LongPollingClient(base, poll=False)
    url = urllib.parse.urlsplit(base)
    raw_poll = f"GET {{}} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n"
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.create_connection((url.hostname, url.port), timeout=WAIT)) for _ in range(2)
        ]
        for sock in sockets:
            sock.sendall(raw_poll.format(poll_target(lp.token)).encode())
        # The poll the server saw first is superseded and answered 204 at once; the other one is then known to
        # be waiting on the server. Its client gives up on it (the socket is closed without reading).
        readable, _, _ = select.select(sockets, [], [], WAIT)
        assert len(readable) == 1, "exactly one of two concurrent polls ends"
        assert readable[0].recv(64).startswith(b"HTTP/1.1 204 ")
    lp.send(b'{"type":7}' + RS.encode())
    reply = request(base, "DELETE", lp.target)
    assert (reply.status, reply.body) == (202, b"")


def test_unclaimed_and_unpolled_connections_expire_after_the_disconnect_timeout(base, bystanders):
    """DISCONNECT_TIMEOUT (15 s; a global setting, so this test waits for it) for both kinds of idle connection."""
    unclaimed = negotiate(base)["connectionToken"]
    unclaimed_since = time.monotonic()
    lp = LongPollingClient(base, poll=False)  # answered its last poll: no poll outstanding from now on
    unpolled_since = time.monotonic()

    # Probes that do not change the connection: DELETE on a connection no transport claimed yet is 400; an
    # SSE GET on a long-polling connection is 400. Both become 404 once the connection is disposed.
    def unclaimed_alive() -> bool:
        reply = request(base, "DELETE", f"{HUB}?id={unclaimed}")
        if reply.status == 404:
            assert reply.text == "No Connection with that ID"
            return False
        assert_refused(reply, 400, "Cannot terminate this connection using the DELETE endpoint.")
        return True

    def unpolled_alive() -> bool:
        conn, response = open_sse(base, lp.target)
        with contextlib.closing(conn):
            status, text = response.status, response.read().decode()
        if status == 404:
            assert text == "No Connection with that ID"
            return False
        assert (status, text) == (400, "Cannot change transports mid-connection")
        return True

    expired: dict[str, float] = {}
    deadline = time.monotonic() + DISCONNECT_TIMEOUT + 15
    while len(expired) < 2 and time.monotonic() < deadline:
        if "unclaimed" not in expired and not unclaimed_alive():
            expired["unclaimed"] = time.monotonic() - unclaimed_since
        if "unpolled" not in expired and not unpolled_alive():
            expired["unpolled"] = time.monotonic() - unpolled_since
        time.sleep(0.25)  # no event to await: the expiry is only observable by asking
    assert set(expired) == {"unclaimed", "unpolled"}, f"still alive after {DISCONNECT_TIMEOUT + 15} s: {expired}"
    for name, after in expired.items():
        assert DISCONNECT_TIMEOUT - 1 <= after <= DISCONNECT_TIMEOUT + 10, f"{name} expired after {after:.1f} s"
    # The long-polling bystander polled all along, so it is alive; the others sent nothing but are within
    # the 30 s client timeout.
    bystanders.check()
