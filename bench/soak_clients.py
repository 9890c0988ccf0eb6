"""The soak run's hub clients: ``bench.scaleout``'s WebSocket, SSE and long-polling clients, reading every
message type (invocations, stream items, Completions, Close), with server streams, upload streams and an abrupt
drop (``abort``: sockets aborted, no Close message, no close frame, no DELETE)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.common import PING, RS, STEP_TIMEOUT
from bench.scaleout import HttpConnection, HubClient, LongPollingClient, SseClient, WebSocketClient

KEEPALIVE = 10.0  # seconds between Pings (the server closes a connection silent for CLIENT_TIMEOUT, 30 s)


class SoakClient(HubClient):
    """``bench.scaleout``'s transport clients, reading every message type: invocations go to ``on_invocation``,
    stream items and Completions of server streams to a queue per stream. ``abort`` drops the connection
    without a Close (sockets aborted)."""

    def __init__(self, port: int, path: str, on_invocation: Callable[[str, list[Any], float], None]) -> None:
        super().__init__(port, None, path=path)
        self.on_invocation = on_invocation
        self.streams: dict[str, asyncio.Queue[tuple[str, Any]]] = {}
        self.ended: tuple[float, str] | None = None
        """When (``perf_counter``) and why the connection ended on its own (not by ``close`` or ``abort``)."""

    def on_data(self, data: str, arrived: float) -> None:
        if not self.handshake.done():
            if not data.startswith("{}" + RS):
                self.handshake.set_exception(RuntimeError(f"bad {self.transport} handshake reply: {data[:200]!r}"))
                self.handshake.exception()  # open() raises it; nobody else needs to hear of it
                return
            self.handshake.set_result(None)
            data = data[3:]
        for record in data.split(RS):
            if record:
                self._dispatch(json.loads(record), arrived)

    def _dispatch(self, message: dict[str, Any], arrived: float) -> None:
        kind, invocation_id = message.get("type"), message.get("invocationId")
        queue = self.streams.get(invocation_id) if invocation_id is not None else None
        if kind == 1:
            self.on_invocation(message["target"], message.get("arguments", []), arrived)
        elif kind == 2 and queue is not None:
            queue.put_nowait(("item", message.get("item")))
        elif kind == 3 and queue is not None:
            queue.put_nowait(("end", message.get("error")))
        elif kind == 3:
            future = self.pending.pop(invocation_id, None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RuntimeError(f"invocation failed: {message['error']}"))
                else:
                    future.set_result(message.get("result"))
        elif kind == 7:
            self.reader_failed(RuntimeError(f"server sent Close: {message.get('error')}"))

    def reader_failed(self, exc: BaseException) -> None:
        if self.ended is None:
            self.ended = (time.perf_counter(), self.end_reason(exc))
        waiting = [future for future in [self.handshake, *self.pending.values()] if not future.done()]
        super().reader_failed(exc)
        for future in waiting:
            future.exception()  # whoever awaits it still gets it; an abandoned one is not logged
        for queue in self.streams.values():
            queue.put_nowait(("end", f"reader ended: {exc!r}"))

    def end_reason(self, exc: BaseException) -> str:
        return repr(exc)[:200]

    def next_id(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    async def server_stream(
        self, target: str, arguments: list[Any], *, take: int | None = None, cancel: bool = True
    ) -> list[Any]:
        """A server stream: its items until its Completion, or only ``take`` items (then CancelInvocation if
        ``cancel``). An error Completion raises."""
        invocation_id = self.next_id()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.streams[invocation_id] = queue
        items: list[Any] = []
        try:
            await self.send(message_text(type=4, invocationId=invocation_id, target=target, arguments=arguments))
            async with asyncio.timeout(STEP_TIMEOUT):
                while take is None or len(items) < take:
                    kind, value = await queue.get()
                    if kind == "end":
                        if value is not None:
                            raise RuntimeError(f"stream {target} failed: {value}")
                        return items
                    items.append(value)
            if cancel:
                await self.send(message_text(type=5, invocationId=invocation_id))
            return items
        finally:
            self.streams.pop(invocation_id, None)

    async def upload(self, target: str, items: list[Any]) -> Any:
        """Invoke ``target`` with one client-to-server stream of ``items``; its result."""
        invocation_id = self.next_id()
        stream_id = f"u{invocation_id}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[invocation_id] = future
        try:
            await self.send(
                message_text(type=1, invocationId=invocation_id, target=target, arguments=[], streamIds=[stream_id])
            )
            for item in items:
                await self.send(message_text(type=2, invocationId=stream_id, item=item))
            await self.send(message_text(type=3, invocationId=stream_id))
            async with asyncio.timeout(STEP_TIMEOUT):
                return await future
        finally:
            self.pending.pop(invocation_id, None)

    async def abort(self) -> None:
        """Drop the connection: abort its sockets (no Close message, no close frame, no DELETE)."""
        for connection in self._sockets():
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
        await self._stop_reader()

    def _sockets(self) -> list[Any]:
        raise NotImplementedError


class SoakWebSocket(SoakClient, WebSocketClient):
    def end_reason(self, exc: BaseException) -> str:
        ws = getattr(self, "ws", None)
        code = f"close code {ws.close_code} {ws.close_reason!r}: " if ws is not None else ""
        return f"{code}{exc!r}"[:200]

    def _sockets(self) -> list[Any]:
        return [getattr(self, "ws", None)]


class SoakSse(SoakClient, SseClient):
    def _sockets(self) -> list[Any]:
        return [writer(getattr(self, "stream", None)), writer(self.poster)]


class SoakLongPolling(SoakClient, LongPollingClient):
    def _sockets(self) -> list[Any]:
        return [writer(getattr(self, "poller", None)), writer(self.poster)]


def writer(connection: HttpConnection | None) -> Any:
    return connection.writer if connection is not None else None


CLIENTS: dict[str, type[SoakClient]] = {"websockets": SoakWebSocket, "sse": SoakSse, "longpolling": SoakLongPolling}


def message_text(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":")) + RS


def new_client(
    transport: str, port: int, path: str, on_invocation: Callable[[str, list[Any], float], None], post_port: int
) -> SoakClient:
    """A client of ``transport`` on ``port``; HTTP transports negotiate and POST to ``post_port`` (the other
    process for half of them: the registry routes those requests to the owner)."""
    client = CLIENTS[transport](port, path, on_invocation)
    if isinstance(client, SoakSse | SoakLongPolling):
        client.poster = HttpConnection(post_port)
    return client


class Live:
    """Every open client, pinged every ``KEEPALIVE`` seconds (the server closes a silent one after 30 s)."""

    def __init__(self) -> None:
        self.clients: set[SoakClient] = set()

    def by_transport(self) -> dict[str, int]:
        return dict(Counter(client.transport for client in self.clients))

    async def ping_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KEEPALIVE):
                    await stop.wait()
            pinged = [c for c in self.clients if c.transport != "longpolling"]
            await asyncio.gather(*(ping(client) for client in pinged))


async def ping(client: SoakClient) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await client.send(PING)
