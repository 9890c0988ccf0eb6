"""Server-Sent Events: one event (:class:`ServerSentEvent`) and a streaming response of them.

:class:`EventStreamResponse` writes the items of an async iterator as a ``text/event-stream``: headers that
keep proxies from buffering, a first chunk at once, a comment after ``SSE_HEARTBEAT_INTERVAL`` seconds of
silence. It is an async ``StreamingHttpResponse``: under an ASGI server Django cancels it as soon as the
client goes away, so the iterator's ``finally`` runs at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import StreamingHttpResponse

from ..conf import realtime_settings
from ..protocol.event_stream import format_comment, format_sse
from ..protocol.values import dumps

HEARTBEAT = b":\n\n"
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each chunk on at once
    "Content-Encoding": "identity",  # GZipMiddleware and proxies leave it alone
}
WSGI_ERROR = (
    "An event stream needs an ASGI server (daphne, uvicorn...): a WSGI worker would hold it open, "
    "buffered, for as long as the client stays."
)


def to_json(value: Any) -> str:
    """``value`` as compact JSON text on one line, encoded as hubs encode it (:mod:`realtime.protocol.values`)."""
    return dumps(value)


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One item of an event stream, checked and encoded when created.

    ``data`` may span lines (one ``data:`` line each); ``comment`` alone gives a comment (ignored by
    ``EventSource``); ``id``/``retry`` without data set the last event id / reconnection delay only.

    Raises:
        ValueError: a line break in ``event`` or ``id``, a NUL in ``id``, a negative ``retry``, an
            ``event`` without ``data``, or nothing at all.
    """

    data: str | None = None
    event: str | None = None
    id: str | int | None = None
    retry: int | None = None
    comment: str | None = None
    encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoded", self._encode())

    @classmethod
    def json(cls, value: Any, *, event: str | None = None, id: str | int | None = None) -> ServerSentEvent:
        """An event whose data is ``value`` as JSON."""
        return cls(to_json(value), event=event, id=id)

    def _encode(self) -> bytes:
        head = format_comment(self.comment) if self.comment is not None else b""
        if self.data is not None:
            return head + format_sse(self.data, event=self.event, id=self.id, retry=self.retry)
        if self.event is not None:
            raise ValueError("An SSE event type needs data.")
        if self.id is None and self.retry is None:
            if self.comment is None:
                raise ValueError("An empty ServerSentEvent: give data, a comment, an id or a retry.")
            return head
        fields = format_sse("", id=self.id, retry=self.retry)  # checked there; drop its empty data line
        return head + fields[: -len(b"data: \n\n")] + b"\n"


def _chunk(item: ServerSentEvent | bytes | str) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encoded
    if isinstance(item, str):
        return ServerSentEvent(item).encoded
    return bytes(item)


_END = object()


class _Raised:
    """The error that ended an event iterator, handed from the pump to the response."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _pump(iterator: AsyncIterator[Any], queue: asyncio.Queue[Any]) -> None:
    """Iterate ``iterator`` in one task into ``queue`` (one item ahead), then ``_END`` or its error.

    One task for the whole iteration: context variables, ``with`` blocks and ``asyncio.timeout()`` that
    span the generator's ``yield`` statements work as in any coroutine.
    """
    try:
        async for item in iterator:
            await queue.put(item)
        await queue.put(_END)
    except Exception as exc:
        await queue.put(_Raised(exc))
    finally:
        await _close(iterator)


async def _stream(source: AsyncIterable[Any], heartbeat: float, retry: int | None) -> AsyncIterator[bytes]:
    """The body: a first chunk at once, then each item, and ``HEARTBEAT`` after ``heartbeat`` s of silence."""
    yield b":\n" + (f"retry: {int(retry)}\n".encode() if retry is not None else b"") + b"\n"
    iterator = aiter(source)
    if heartbeat <= 0:
        try:
            async for item in iterator:
                yield _chunk(item)
        finally:
            await _close(iterator)
        return
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
    pump = asyncio.ensure_future(_pump(iterator, queue))
    getter: asyncio.Future[Any] | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait((getter,), timeout=heartbeat)
            if not done:
                yield HEARTBEAT
                continue
            item, getter = getter.result(), None
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield _chunk(item)
    finally:
        for task in (getter, pump):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(task for task in (getter, pump) if task is not None), return_exceptions=True)


class EventStreamResponse(StreamingHttpResponse):
    """A ``text/event-stream`` response of an async iterable of :class:`ServerSentEvent` (or encoded bytes).

    Args:
        events: the items; the stream ends when they do, or when the client goes away (the iterator is
            then closed, so its ``finally`` runs).
        heartbeat: seconds of silence before a comment is sent; ``None``: ``SSE_HEARTBEAT_INTERVAL``;
            ``0``: none.
        retry: reconnection delay (ms) sent first; ``None``: ``SSE_RETRY_MS`` (which may be ``None``).

    Iterating it synchronously (a WSGI server, Django's sync test client) raises ``ImproperlyConfigured``.
    """

    def __init__(
        self,
        events: AsyncIterable[ServerSentEvent | bytes | str],
        *,
        heartbeat: float | None = None,
        retry: int | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        interval = float(realtime_settings.SSE_HEARTBEAT_INTERVAL if heartbeat is None else heartbeat)
        retry_ms = realtime_settings.SSE_RETRY_MS if retry is None else retry
        super().__init__(
            _stream(events, interval, retry_ms), status=status, headers=headers, content_type="text/event-stream"
        )
        for name, value in STREAM_HEADERS.items():
            self.headers.setdefault(name, value)

    def __iter__(self) -> Any:
        raise ImproperlyConfigured(WSGI_ERROR)
