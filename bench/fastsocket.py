"""The comparison run's WebSocket client socket: picows (C framing, callbacks) behind ``send``/``recv``/``close``.

On 2 cores the load generator shares the machine with the server, so every microsecond the client spends on
a round trip is one the server does not get: the ``websockets`` asyncio client took about 39 µs of client CPU
per echo round trip, which compressed every throughput ratio. picows frames, masks and parses in C and calls
back once per frame; this module keeps just the small awaitable surface ``bench.wire`` and ``bench.pool``
use. Messages arrive whole (continuation frames are joined); the server's pings are answered by picows.
"""

from __future__ import annotations

import asyncio
from collections import deque

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.common import STEP_TIMEOUT


class SocketClosed(ConnectionError):
    """The server closed the connection (or the transport was lost)."""


class _Listener(WSListener):
    """Queues whole messages as text; wakes the one reader waiting on them."""

    def __init__(self) -> None:
        self.messages: deque[str] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.parts: list[bytes] = []
        self.closed: str | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.CLOSE:
            self.closed = f"closed by the server: {frame.get_close_code()} {frame.get_close_message()!r}"
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()
            self._wake()
            return
        if kind is WSMsgType.PING or kind is WSMsgType.PONG:
            return  # picows answers pings itself
        if not frame.fin or self.parts:
            self.parts.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            self.messages.append(b"".join(self.parts).decode())
            self.parts.clear()
        else:
            self.messages.append(frame.get_payload_as_utf8_text())
        self._wake()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = self.closed or "connection lost"
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Socket:
    """One client connection: ``send`` text, ``recv`` the next whole message as text, ``close``."""

    def __init__(self, transport: WSTransport, listener: _Listener) -> None:
        self.transport, self.listener = transport, listener

    async def send(self, text: str) -> None:
        if self.listener.closed is not None:
            raise SocketClosed(self.listener.closed)
        self.transport.send(WSMsgType.TEXT, text.encode())

    async def recv(self, decode: bool = True) -> str:
        listener = self.listener
        while not listener.messages:
            if listener.closed is not None:
                raise SocketClosed(listener.closed)
            listener.waiter = asyncio.get_running_loop().create_future()
            try:
                await listener.waiter
            finally:
                listener.waiter = None
        return listener.messages.popleft()

    async def close(self) -> None:
        """A normal closure (1000): wait up to 2 s for the server's Close, then drop the connection."""
        transport = self.transport
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode.OK)
        try:
            async with asyncio.timeout(2):
                await transport.wait_disconnected()
        except TimeoutError:
            transport.disconnect(graceful=False)


async def connect(url: str) -> Socket:
    """Open a WebSocket to ``url`` (no compression, no client pings: the dialect keeps the connection alive)."""
    transport, listener = await ws_connect(_Listener, url, websocket_handshake_timeout=STEP_TIMEOUT)
    assert isinstance(listener, _Listener)
    return Socket(transport, listener)
