"""The Server-Sent Events transport: the SSE GET request owns its connection.

Server → client frames are written as unnamed events (``data:`` lines) on the open response; client →
server data arrives by POST, on any process, and is routed here. The response ends when the server
closes the connection, or when the client goes away (an abrupt end unless a Close message came first).
"""

from __future__ import annotations

import asyncio

from ..protocol.event_stream import SSE_PREAMBLE, format_event
from ..protocol.negotiate import SERVER_SENT_EVENTS
from ..types import Receive, Send
from .owner import HttpOwner

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache,no-store"),
    (b"pragma", b"no-cache"),
    (b"content-encoding", b"identity"),
    (b"x-accel-buffering", b"no"),
]
QUEUED_EVENTS = 64
"""Events waiting for the socket; past this, writers wait (and the connection's outbox bound applies)."""


class SseTransport(HttpOwner):
    """One Server-Sent Events connection, owned by its GET request."""

    name = SERVER_SENT_EVENTS
    transfer_formats = frozenset({"Text"})
    keep_alive = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._events: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUED_EVENTS)
        self._writing = True

    async def send(self, frame: str | bytes) -> None:
        """Queue one frame as one event."""
        if self._writing:
            await self._events.put(format_event(frame))

    async def close(self) -> None:
        """End the stream after the frames already queued."""
        if self._writing:
            await self._events.put(None)

    async def serve(self, send: Send, receive: Receive) -> None:
        """Answer the GET: headers, the ``:\\r\\n`` preamble, then events until either side ends."""
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": SSE_PREAMBLE, "more_body": True})
        self.start()
        writer = asyncio.create_task(self._write(send))
        watcher = asyncio.create_task(disconnected(receive))
        error: Exception | None = None
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not writer.done():
                error = ConnectionError("The Server-Sent Events client went away.")
        finally:
            self._writing = False
            for task in (writer, watcher):
                task.cancel()
            await asyncio.gather(writer, watcher, return_exceptions=True)
            await self.finish(error)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write(self, send: Send) -> None:
        while (event := await self._events.get()) is not None:
            await send({"type": "http.response.body", "body": event, "more_body": True})


async def disconnected(receive: Receive) -> None:
    """Return when the client disconnects (ignoring any request body)."""
    while (await receive())["type"] != "http.disconnect":
        pass
