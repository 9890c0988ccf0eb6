"""Streams: client-to-server ("upload") streams, one bounded buffer per stream id read as an async iterator;
and running server-to-client streams, which a CancelInvocation may stop."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from .exceptions import HubError, RemoteProtocolError

_END = object()


class UploadStream(AsyncIterator[Any]):
    """The async iterator a hub method receives for one stream parameter.

    Items are never dropped and never block the connection's receive path: they wait here, and the
    owning :class:`StreamTracker` bounds the bytes all streams of a connection may hold.
    """

    def __init__(self, tracker: StreamTracker, stream_id: str) -> None:
        self._tracker = tracker
        self.stream_id = stream_id
        self._items: deque[tuple[Any, int]] = deque()
        self._ready = asyncio.Event()

    def _push(self, item: Any, size: int) -> None:
        self._items.append((item, size))
        self._ready.set()

    def __aiter__(self) -> UploadStream:
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item, size = self._items.popleft()
        self._tracker.buffered -= size
        if item is _END:
            self._items.appendleft((item, 0))
            raise StopAsyncIteration
        if isinstance(item, HubError):
            self._items.appendleft((_END, 0))
            raise item
        return item


class StreamTracker:
    """The upload streams of one connection, keyed by stream id.

    ``limit`` bounds the bytes buffered across all streams; a client that keeps sending past it is
    misbehaving and gets ``RemoteProtocolError`` (the connection then closes with that error).
    """

    __slots__ = ("limit", "buffered", "_streams")

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self.buffered = 0
        self._streams: dict[str, UploadStream] = {}

    def open(self, stream_ids: list[str]) -> list[UploadStream]:
        """Create the streams of a new invocation (before its task runs, so no item is missed)."""
        streams = [UploadStream(self, stream_id) for stream_id in stream_ids]
        for stream in streams:
            self._streams[stream.stream_id] = stream
        return streams

    def __contains__(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def __len__(self) -> int:
        """Upload streams open (the client has not completed them and their invocation still runs)."""
        return len(self._streams)

    def push(self, stream_id: str, item: Any, size: int) -> None:
        """Buffer one item; items for unknown or finished streams are ignored."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if self.buffered + size > self.limit:
            raise RemoteProtocolError(f"Client sent more stream data than the server buffers ({self.limit} bytes).")
        self.buffered += size
        stream._push(item, size)

    def complete(self, stream_id: str, error: str | None) -> None:
        """End a stream; with ``error`` its reader raises ``HubError(error)``."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            stream._push(_END if error is None else HubError(error), 0)

    def close(self, streams: list[UploadStream]) -> None:
        """Forget the streams of a finished invocation."""
        for stream in streams:
            if self._streams.get(stream.stream_id) is stream:
                del self._streams[stream.stream_id]
            # also for streams the client already completed (no longer registered): their unread items
            # must stop counting against the connection's buffer limit
            self.buffered -= sum(size for _, size in stream._items)
            stream._items.clear()


class ServerStream:
    """A running server-to-client stream: its invocation task, and a cancel that waits until the method started.

    A CancelInvocation that arrives before the method body was entered is applied only once it runs, so the
    method always sees its cancellation (``InfiniteStream`` of conformance scenario 6 reacts to it).
    """

    __slots__ = ("task", "_step", "_cancelled")

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.task = task
        self._step: asyncio.Future[Any] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Stop the stream now if its method runs, else as soon as it starts."""
        self._cancelled = True
        if self._step is not None:
            self.task.cancel()

    async def first_item(self, generator: AsyncIterator[Any]) -> Any:
        """Enter the stream method and return its first item (``StopAsyncIteration`` for an empty stream)."""
        step = asyncio.ensure_future(anext(generator))
        try:
            await asyncio.sleep(0)  # the step runs first: the method body is entered
        except asyncio.CancelledError:  # the connection ended right now: stop the step, let the method clean up
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
            raise
        self._step = step
        if self._cancelled:
            step.cancel()
        return await step
