"""Server-Sent Events views: any async iterator as an ``EventSource`` stream, and topics with replay.

Streams: :class:`EventStreamResponse` writes the :class:`ServerSentEvent` items of an async iterator as a
``text/event-stream`` (headers that keep proxies from buffering, a first chunk at once, a comment after
``SSE_HEARTBEAT_INTERVAL`` seconds of silence). It is an async ``StreamingHttpResponse``: under an ASGI
server Django cancels it as soon as the client goes away, so the iterator's ``finally`` runs at once.
:class:`EventStreamView` adds hub-style authentication and permission classes.

Topics: :func:`apublish` / :func:`publish` and :class:`TopicStreamView`.

Theory of operation (topics). Publishing appends the event to the topic's history (``realtime.history``,
which assigns its id) and then sends it once over the channel layer to the group ``names.topic(topic)``.
Each process that streams a topic has one *feed* for it: its process channel is in that group
(``LocalTable.listen``) and the feed hands each event, encoded once, to the open streams of the topic
in this process, in id order. Layer messages of two publishers can cross, or be lost; ids are
consecutive, so the feed notices a gap and reads the missing events from the history first. A new
stream registers with the feed, *then* reads the history after its ``Last-Event-ID``, then drops what
the feed gave it meanwhile with an id it replayed: nothing lost, nothing twice. A stream whose client
reads too slowly (``MAX_OUTBOUND_BYTES`` waiting) is ended; the client reconnects and replays the rest.
When the id is older than the history keeps, or unknown, the stream starts with a ``stream-reset``
event instead (:data:`RESET_EVENT`) so the page can refetch its state.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views import View
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from . import lifetime, local, names
from .clients import run_sync
from .conf import realtime_settings
from .exceptions import RealtimeError
from .history import Replay, StoredEvent, history
from .permissions import allowed, check_permissions
from .protocol.sse_format import format_comment, format_sse
from .protocol.values import dumps

logger = logging.getLogger("realtime.sse")

__all__ = [
    "RESET_EVENT",
    "EventStreamResponse",
    "EventStreamView",
    "EventTooLarge",
    "ServerSentEvent",
    "TopicError",
    "TopicStreamView",
    "apublish",
    "publish",
]

RESET_EVENT = "stream-reset"
"""Event type sent instead of a replay the history cannot give; data ``{"lastEventId": <asked>}``, id the
topic's newest id. The page should refetch its state; the stream goes on live."""
LAST_EVENT_ID_PARAM = "lastEventId"
"""Query parameter standing in for the ``Last-Event-ID`` header (the header wins)."""
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
_EVENT_ID = re.compile(r"[0-9]{1,18}")


class TopicError(RealtimeError, ValueError):
    """A topic name that ``REALTIME["SSE_TOPIC_PATTERN"]`` does not allow."""


class EventTooLarge(RealtimeError, ValueError):
    """An event above ``REALTIME["SSE_MAX_EVENT_SIZE"]`` bytes."""


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


# -- authentication --------------------------------------------------------------------------------------


class EventStreamView(View):
    """Base class of SSE views: DRF authentication and permission classes, then :meth:`events`.

    Override :meth:`events` (an async generator of :class:`ServerSentEvent`)::

        class Clock(EventStreamView):
            permission_classes = [IsAuthenticated]

            async def events(self, request):
                while True:
                    yield ServerSentEvent(datetime.now().isoformat(), event="tick")
                    await asyncio.sleep(1)

    ``authentication_classes`` are asked in order, as in a DRF view (by default a JWT from the
    ``Authorization`` header or ``?access_token=``, then the session user); credentials they reject make the
    request anonymous. ``permission_classes`` then get DRF's ``Request`` and this view (``self.kwargs`` holds
    the URL arguments). A refused request gets 401 (anonymous; with ``WWW-Authenticate`` when the first
    authentication class names a scheme) or 403 (authenticated) with an empty body.
    """

    http_method_names = ["get", "options"]
    authentication_classes: ClassVar[list[type] | None] = None
    """DRF authentication classes; ``None``: ``REALTIME["SSE_AUTHENTICATION_CLASSES"]``."""
    permission_classes: ClassVar[list[Any] | None] = None
    """DRF permission classes; ``None``: ``REALTIME["DEFAULT_PERMISSION_CLASSES"]``."""
    heartbeat_interval: float | None = None
    """``None``: ``REALTIME["SSE_HEARTBEAT_INTERVAL"]``."""
    retry_ms: int | None = None
    """``None``: ``REALTIME["SSE_RETRY_MS"]``."""

    user: Any = None
    user_id: str | None = None
    auth: Any = None
    """What the authentication class that succeeded returned with the user (simplejwt's validated token)."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Django's ``as_view``; permission classes of the former signature are refused here, naming the view."""
        permissions = initkwargs.get("permission_classes", cls.permission_classes)
        if permissions is not None:
            check_permissions(permissions, f"{cls.__qualname__}.permission_classes")
        return super().as_view(**initkwargs)

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Authorize, then stream :meth:`events`."""
        refusal = await self.authorize(request)
        if refusal is not None:
            return refusal
        return self.stream(self.events(request, *args, **kwargs))

    async def authorize(self, request: HttpRequest) -> HttpResponse | None:
        """Authenticate (``self.user``, ``self.user_id``, ``self.auth``) and check the permission classes; a
        refusal or ``None``.

        Raises ``ImproperlyConfigured`` outside an ASGI server.
        """
        if not hasattr(request, "scope"):
            raise ImproperlyConfigured(WSGI_ERROR)
        authenticated = Request(request, authenticators=[cls() for cls in self.get_authentication_classes()])
        await database_sync_to_async(self._authenticate)(authenticated)
        if await allowed(self.get_permission_classes(), authenticated, self):
            return None
        if getattr(self.user, "is_authenticated", False):
            return HttpResponse(status=403)
        refusal = HttpResponse(status=401)
        if authenticated.authenticators:
            challenge = authenticated.authenticators[0].authenticate_header(authenticated)
            if challenge:
                refusal["WWW-Authenticate"] = challenge
        return refusal

    def _authenticate(self, request: Request) -> None:
        """Run the authentication classes (in a worker thread: they may use the database)."""
        try:
            self.user, self.auth = request.user, request.auth
        except APIException as exc:  # rejected credentials: anonymous, as for hubs
            detail = exc.detail.get("detail", exc.detail) if isinstance(exc.detail, dict) else exc.detail
            logger.info("realtime: rejected the credentials of a request to %s: %s", request.path, detail)
            self.user, self.auth = request.user, None
        self.user_id = realtime_settings.USER_ID_PROVIDER(self.user)

    def get_authentication_classes(self) -> list[type]:
        """This view's authentication classes (``SSE_AUTHENTICATION_CLASSES`` unless set)."""
        classes = self.authentication_classes
        return list(realtime_settings.SSE_AUTHENTICATION_CLASSES if classes is None else classes)

    def get_permission_classes(self) -> list[Any]:
        """This view's permission classes (``DEFAULT_PERMISSION_CLASSES`` unless set)."""
        classes = self.permission_classes
        return list(realtime_settings.DEFAULT_PERMISSION_CLASSES if classes is None else classes)

    def stream(self, events: AsyncIterable[ServerSentEvent | bytes | str], heartbeat: float | None = None) -> Any:
        """An :class:`EventStreamResponse` of ``events`` with this view's heartbeat and retry."""
        beat = self.heartbeat_interval if heartbeat is None else heartbeat
        return EventStreamResponse(events, heartbeat=beat, retry=self.retry_ms)

    def events(self, request: HttpRequest, *args: Any, **kwargs: Any) -> AsyncIterator[ServerSentEvent]:
        """The events to stream: override it with an async generator of :class:`ServerSentEvent` items."""
        raise ImproperlyConfigured(
            f"{type(self).__name__} must define events(self, request, ...): an async generator of ServerSentEvent."
        )


# -- topics ----------------------------------------------------------------------------------------------


def check_topic(topic: Any) -> str:
    """``topic`` if ``SSE_TOPIC_PATTERN`` allows it, else :class:`TopicError`."""
    pattern = realtime_settings.SSE_TOPIC_PATTERN
    if not isinstance(topic, str) or re.fullmatch(pattern, topic) is None:
        raise TopicError(f"Topic name {topic!r} is not allowed: topic names must match {pattern}.")
    return topic


def _encode(item: StoredEvent) -> bytes:
    return format_sse(item.data, event=item.event, id=str(item.id))


def _reset(asked: int, last_id: int) -> tuple[int, bytes]:
    data = to_json({"lastEventId": str(asked)})
    return last_id, format_sse(data, event=RESET_EVENT, id=str(last_id))


async def _resume(topic: str, after: int) -> tuple[Replay, list[tuple[int, bytes]]]:
    """What a stream or feed that has seen ``topic`` up to id ``after`` gets next: ``(replay, [(id, chunk)])``.

    The kept events after ``after``. When the history no longer reaches back that far, a reset event first:
    when ``after`` is older than the history's epoch and the epoch keeps all it had (the history was
    forgotten, by its TTL or a Redis restart, and began anew), at the epoch's start and followed by all of
    it; else at the newest id. A replay of more than
    ``MAX_OUTBOUND_BYTES`` is a reset at the newest id too (the page refetches instead).
    """
    replay = await history().since(topic, after)
    if replay.complete:
        chunks = [(item.id, _encode(item)) for item in replay.events]
    else:
        epoch = await history().since(topic, 0) if replay.last_id else replay
        if epoch.complete and epoch.events and after < epoch.events[0].id:
            chunks = [_reset(after, epoch.events[0].id - 1), *((item.id, _encode(item)) for item in epoch.events)]
        else:
            chunks = [_reset(after, replay.last_id)]
    if sum(len(chunk) for _, chunk in chunks) > int(realtime_settings.MAX_OUTBOUND_BYTES):
        chunks = [_reset(after, replay.last_id)]
    return replay, chunks


async def apublish(topic: str, data: Any, event: str | None = None) -> str:
    """Publish ``data`` (sent as JSON) to ``topic`` as an event of type ``event`` (``None``: ``message``).

    Stores it in the topic's history, then delivers it to every stream of the topic in every process
    that shares the channel layer. Returns the event's id. Works in any async code, hub methods included.
    Once stored it is published: if the channel layer then fails, a warning is logged and the streams
    read the event from the history at their next check (``SSE_HEARTBEAT_INTERVAL``).

    Raises:
        TopicError: a topic name that ``SSE_TOPIC_PATTERN`` does not allow.
        EventTooLarge: data and event type above ``SSE_MAX_EVENT_SIZE`` bytes.
        ValueError: an empty event type or one with a line break; NaN or an infinity in ``data``.
        TypeError: data that is not JSON (:mod:`realtime.protocol.values` says what is).
    """
    check_topic(topic)
    if event is not None and (not isinstance(event, str) or not event or "\n" in event or "\r" in event):
        raise ValueError(f"An SSE event type must be a non-empty string on one line, got {event!r}.")
    text = to_json(data)
    size = len(text.encode()) + len((event or "").encode())
    limit = int(realtime_settings.SSE_MAX_EVENT_SIZE)
    if size > limit:
        raise EventTooLarge(f"The event is {size} bytes; SSE_MAX_EVENT_SIZE allows {limit}.")
    event_id = await history().append(topic, event, text)
    group = names.topic(topic)
    try:
        await lifetime.send_to_group(
            group, {"type": lifetime.TOPIC, "group": group, "id": event_id, "event": event, "data": text}
        )
    except Exception:  # stored: the streams read it from the history (a retry would publish it twice)
        logger.warning(
            "realtime: SSE event %s of %r is stored, but the channel layer refused it: streams get it from the "
            "history within SSE_HEARTBEAT_INTERVAL",
            event_id,
            topic,
            exc_info=True,
        )
    return str(event_id)


def publish(topic: str, data: Any, event: str | None = None) -> str:
    """Sync twin of :func:`apublish`, for views, signal receivers, Celery tasks and scripts.

    Raises ``RuntimeError`` inside a running event loop (use ``await apublish(...)`` there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "realtime.sse.publish() is the sync API and cannot run inside an event loop: "
            "use 'await realtime.sse.apublish(...)' instead."
        )
    private = lifetime.uses_private_loop()

    async def once() -> str:
        try:
            return await apublish(topic, data, event)
        finally:
            if private:
                await history().release_loop()

    result: str = run_sync(once)
    return result


class _Subscriber:
    """One open topic stream: encoded events the feed handed it and the stream has not yet written."""

    __slots__ = ("after", "ended", "_items", "_size", "_limit", "_waiter")

    def __init__(self, limit: int) -> None:
        self.after = 0
        """The id of the newest event this stream has, from its replay or the feed."""
        self.ended = False
        self._items: list[tuple[int, bytes]] = []
        self._size = 0
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def push(self, event_id: int, chunk: bytes) -> None:
        """Queue one encoded event (from the feed); past the limit the stream ends (its client is too slow)."""
        if self.ended:
            return
        self._items.append((event_id, chunk))
        self._size += len(chunk)
        if self._size > self._limit:
            self.ended, self._items = True, []
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self) -> bytes | None:
        """The queued events after :attr:`after`, as one chunk; ``None`` once ended."""
        while not self.ended:
            if self._items:
                items, self._items, self._size = self._items, [], 0
                chunks = [chunk for event_id, chunk in items if event_id > self.after]
                self.after = max(self.after, items[-1][0])
                if chunks:
                    return b"".join(chunks)
                continue
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return None


class _Feed:
    """This process's subscription to one topic: events in id order, encoded once, to every local stream."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.group = names.topic(topic)
        self.table = local.table()
        self.feeds = _feeds.setdefault(asyncio.get_running_loop(), {})
        """The running loop's feeds, this one included until it closes."""
        self.subscribers: set[_Subscriber] = set()
        self.cursor = 0
        """The id of the newest event handed to the subscribers."""
        self.ready = False
        self._started: asyncio.Future[None] | None = None
        self._pending: list[StoredEvent] = []
        self._filling: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the topic's layer group and read the newest id (once; every caller awaits the same start)."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.table.listen(self.group, self.on_event)
        self.cursor = (await history().since(self.topic, None)).last_id
        self.ready = True
        self._fill_soon()  # what arrived meanwhile
        interval = float(realtime_settings.SSE_HEARTBEAT_INTERVAL)
        if interval > 0:
            self._watching = asyncio.ensure_future(self._watch(interval))

    async def _watch(self, interval: float) -> None:
        """Read the history past the cursor every ``interval``: an event whose layer message was lost, with no
        later event to reveal the gap, reaches the streams within one interval."""
        while True:
            await asyncio.sleep(interval)
            if self._filling is None:
                self._filling = asyncio.ensure_future(self._fill(check=True))

    def on_event(self, event: dict[str, Any]) -> None:
        """A ``lifetime.TOPIC`` event from the layer: hand it on now if it is the next one, else sort it out."""
        item = StoredEvent(event["id"], event.get("event"), event["data"])
        if self.ready and self._filling is None and item.id <= self.cursor + 1:
            if item.id == self.cursor + 1:
                self._emit(item.id, _encode(item))
            return  # an id it already handed on
        self._pending.append(item)
        if self.ready:
            self._fill_soon()

    def _emit(self, event_id: int, chunk: bytes) -> None:
        self.cursor = event_id
        for subscriber in self.subscribers:
            subscriber.push(event_id, chunk)

    def _fill_soon(self) -> None:
        if self._filling is None and self._pending:
            self._filling = asyncio.ensure_future(self._fill())

    async def _fill(self, *, check: bool = False) -> None:
        """Hand on the pending events in id order, reading what is missing before them from the history
        (``check``: and whatever the history has past the cursor)."""
        try:
            if check:
                await self._catch_up()
            while self._pending:
                if min(item.id for item in self._pending) > self.cursor + 1:
                    await self._catch_up()
                pending, self._pending = sorted(self._pending, key=lambda item: item.id), []
                for item in pending:
                    if item.id > self.cursor:  # a gap the history could not fill is accepted
                        self._emit(item.id, _encode(item))
        finally:
            self._filling = None

    async def _catch_up(self) -> None:
        try:
            replay, chunks = await _resume(self.topic, self.cursor)
        except Exception:
            logger.warning("realtime: reading the SSE history of %r failed; going on", self.topic, exc_info=True)
            return
        if not replay.complete:
            if not replay.last_id:
                return  # the history was forgotten and nothing came since: the next epoch's first event says so
            logger.warning("realtime: SSE topic %r: the history does not reach back to id %s", self.topic, self.cursor)
        for event_id, chunk in chunks:
            self._emit(event_id, chunk)

    def close(self) -> None:
        """Stop listening (the last stream of the topic in this process ended)."""
        if self.feeds.get(self.topic) is self:
            del self.feeds[self.topic]
        self.table.unlisten(self.group, self.on_event)
        for task in (self._filling, self._started, self._watching):
            if task is not None and not task.done():
                task.cancel()


_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Feed]] = weakref.WeakKeyDictionary()


def _feed(topic: str) -> _Feed:
    feeds = _feeds.setdefault(asyncio.get_running_loop(), {})
    found = feeds.get(topic)
    if found is None:
        found = feeds[topic] = _Feed(topic)
    return found


def _unsubscribe(feed: _Feed, subscriber: _Subscriber) -> None:
    feed.subscribers.discard(subscriber)
    if not feed.subscribers:
        feed.close()


async def subscribe(topic: str, last_event_id: int | None, *, heartbeat: float | None = None) -> TopicStream:
    """The encoded events of ``topic``: the replay after ``last_event_id`` (or a reset), then live, with a
    comment after ``heartbeat`` seconds of silence (``None``: ``SSE_HEARTBEAT_INTERVAL``; ``0``: none).

    Returns once subscribed and replayed (so errors surface before the response starts).
    """
    feed = _feed(topic)
    subscriber = _Subscriber(int(realtime_settings.MAX_OUTBOUND_BYTES))
    feed.subscribers.add(subscriber)  # before any await: the feed must not close under us
    try:
        await feed.start()
        first: list[bytes] = []
        if last_event_id is None:
            subscriber.after = feed.cursor
        else:
            replay, chunks = await _resume(topic, last_event_id)
            subscriber.after = replay.last_id
            first = [chunk for _, chunk in chunks]
    except BaseException:
        _unsubscribe(feed, subscriber)
        raise
    interval = float(realtime_settings.SSE_HEARTBEAT_INTERVAL if heartbeat is None else heartbeat)
    return TopicStream(feed, subscriber, b"".join(first), interval)


class TopicStream:
    """The encoded events of one topic stream, an async iterator of ``bytes`` (see :func:`subscribe`).

    ``aclose()``, the end of the stream, or its collection (a response dropped before it was ever sent)
    unsubscribes it, once.
    """

    __slots__ = ("_subscriber", "_topic", "_first", "_heartbeat", "_release", "__weakref__")

    def __init__(self, feed: _Feed, subscriber: _Subscriber, first: bytes, heartbeat: float) -> None:
        self._subscriber = subscriber
        self._topic = feed.topic
        self._first = first
        self._heartbeat = heartbeat if heartbeat > 0 else None
        self._release = weakref.finalize(self, _unsubscribe, feed, subscriber)
        self._release.atexit = False

    def __aiter__(self) -> TopicStream:
        return self

    async def __anext__(self) -> bytes:
        """The replay first, then the live events as they come; ``HEARTBEAT`` after a quiet interval."""
        if self._first:
            chunk, self._first = self._first, b""
            return chunk
        try:
            async with asyncio.timeout(self._heartbeat):
                chunk = await self._subscriber.next()
        except TimeoutError:
            return HEARTBEAT
        if chunk is None:
            if self._release.alive:
                logger.info("realtime: ended a stream of SSE topic %r: its client reads too slowly", self._topic)
            self._release()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Unsubscribe (idempotent)."""
        self._release()


def parse_event_id(value: str | None) -> int | None:
    """A ``Last-Event-ID`` as an int (``None`` when absent or empty); ``ValueError`` when malformed."""
    if not value:
        return None
    if _EVENT_ID.fullmatch(value) is None:
        raise ValueError(f"Malformed Last-Event-ID {value[:40]!r}: event ids of this stream are decimal integers.")
    return int(value)


class TopicStreamView(EventStreamView):
    """``GET``: the SSE stream of one topic (the URL argument ``topic``), with replay after ``Last-Event-ID``.

    ``urls.py``::

        path("sse/<str:topic>", TopicStreamView.as_view())
        path("news", TopicStreamView.as_view(topic="news", permission_classes=[IsAuthenticated]))

    Answers 400 for a topic name ``SSE_TOPIC_PATTERN`` refuses or a malformed ``Last-Event-ID`` (header,
    or ``?lastEventId=``), 404 for a topic ``topics`` does not list, 401/403 from the permission classes.
    """

    topic: str | None = None
    """A fixed topic (else the URL argument ``topic``)."""
    topics: Iterable[str] | Callable[[str], bool] | None = None
    """The topics this view streams: names, or a predicate; ``None``: any allowed name."""

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Check the topic and the ``Last-Event-ID``, authorize, then stream."""
        if not hasattr(request, "scope"):
            raise ImproperlyConfigured(WSGI_ERROR)
        topic = self.topic or kwargs.get("topic")
        try:
            check_topic(topic)
            last = request.headers.get("Last-Event-ID") or request.GET.get(LAST_EVENT_ID_PARAM)
            last_event_id = parse_event_id(last)
        except ValueError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        assert topic is not None
        if not self.streams(topic):
            return HttpResponse(f"Unknown topic {topic!r}.", status=404, content_type="text/plain; charset=utf-8")
        self.topic = topic
        refusal = await self.authorize(request)
        if refusal is not None:
            return refusal
        try:
            events = await subscribe(topic, last_event_id, heartbeat=self.heartbeat_interval)
        except Exception:
            logger.exception("realtime: subscribing to SSE topic %r failed", topic)
            return HttpResponse("The event history is unavailable.", status=503, content_type="text/plain")
        return self.stream(events, heartbeat=0)  # the topic stream sends its own heartbeats

    def streams(self, topic: str) -> bool:
        """Whether this view serves ``topic`` (``topics``)."""
        if self.topics is None:
            return True
        if callable(self.topics):
            return bool(self.topics(topic))
        return topic in self.topics
