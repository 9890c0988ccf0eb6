"""Topics: publish an event to every stream of a topic, in every process; subscribe with replay.

See the theory of operation in :mod:`realtime.eventstream`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from typing import Any

from .. import events, lifetime, names
from ..conf import realtime_settings
from ..exceptions import RealtimeError
from ..loops import PerLoop
from ..protocol.event_stream import format_sse
from ..sync import run_sync, uses_private_loop
from .history import Replay, StoredEvent, history_of
from .response import HEARTBEAT, to_json

logger = logging.getLogger("realtime.eventstream")

RESET_EVENT = "stream-reset"
"""Event type sent instead of a replay the history cannot give; data ``{"lastEventId": <asked>}``, id the
topic's newest id. The page should refetch its state; the stream goes on live."""


class TopicError(RealtimeError, ValueError):
    """A topic name that ``REALTIME["SSE_TOPIC_PATTERN"]`` does not allow."""


class EventTooLarge(RealtimeError, ValueError):
    """An event above ``REALTIME["SSE_MAX_EVENT_SIZE"]`` bytes."""


def check_topic(topic: Any) -> str:
    """``topic`` if ``SSE_TOPIC_PATTERN`` allows it, else :class:`TopicError`."""
    pattern = realtime_settings.SSE_TOPIC_PATTERN
    if not isinstance(topic, str) or re.fullmatch(pattern, topic) is None:
        raise TopicError(f"Topic name {topic!r} is not allowed: topic names must match {pattern}.")
    return topic


def _encode(item: StoredEvent) -> bytes:
    return format_sse(item.data, event=item.event, id=str(item.id))


Chunk = tuple[int, bytes, frozenset[str] | None]
"""An encoded event: its id, the SSE text, who may receive it (``None``: every stream)."""


def _chunk(item: StoredEvent) -> Chunk:
    return item.id, _encode(item), item.users


def _reset(asked: int, last_id: int) -> Chunk:
    data = to_json({"lastEventId": str(asked)})
    return last_id, format_sse(data, event=RESET_EVENT, id=str(last_id)), None


async def _resume(topic: str, after: int) -> tuple[Replay, list[Chunk]]:
    """What a stream or feed that has seen ``topic`` up to id ``after`` gets next: ``(replay, [chunk])``.

    The kept events after ``after``. When the history no longer reaches back that far, a reset event first:
    when ``after`` is older than the history's epoch and the epoch keeps all it had (the history was
    forgotten, by its TTL or a Redis restart, and began anew), at the epoch's start and followed by all of
    it; else at the newest id. A replay of more than
    ``MAX_OUTBOUND_BYTES`` is a reset at the newest id too (the page refetches instead).
    """
    replay = await history_of(topic).since(topic, after)
    if replay.complete:
        chunks = [_chunk(item) for item in replay.events]
    else:
        epoch = await history_of(topic).since(topic, 0) if replay.last_id else replay
        if epoch.complete and epoch.events and after < epoch.events[0].id:
            chunks = [_reset(after, epoch.events[0].id - 1), *map(_chunk, epoch.events)]
        else:
            chunks = [_reset(after, replay.last_id)]
    if sum(len(chunk) for _, chunk, _ in chunks) > int(realtime_settings.MAX_OUTBOUND_BYTES):
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
    event_id = await history_of(topic).append(topic, event, text)
    group = names.topic(topic)
    try:
        await lifetime.send_to_group(group, events.topic(topic, group, [(event_id, event, text, None)]))
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
            "realtime.eventstream.publish() is the sync API and cannot run inside an event loop: "
            "use 'await realtime.eventstream.apublish(...)' instead."
        )
    private = uses_private_loop()

    async def once() -> str:
        try:
            return await apublish(topic, data, event)
        finally:
            if private:
                await history_of(topic).release_loop()

    result: str = run_sync(once)
    return result


class _Subscriber:
    """One open topic stream: encoded events the feed handed it and the stream has not yet written."""

    __slots__ = ("after", "ended", "user", "_items", "_size", "_limit", "_waiter")

    def __init__(self, limit: int, user: str | None = None) -> None:
        self.user = user
        """The stream's user identifier: events for some users only reach theirs."""
        self.after = 0
        """The id of the newest event this stream has, from its replay or the feed."""
        self.ended = False
        self._items: list[tuple[int, bytes]] = []
        self._size = 0
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def may_see(self, users: frozenset[str] | None) -> bool:
        """Whether an event for ``users`` (``None``: everyone) reaches this stream."""
        return users is None or (self.user is not None and self.user in users)

    def push(self, event_id: int, chunk: bytes, users: frozenset[str] | None = None) -> None:
        """Queue one encoded event (from the feed); past the limit the stream ends (its client is too slow)."""
        if self.ended or not self.may_see(users):
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
        self.channel = lifetime.process_channel()
        self.feeds = _feeds.get()
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
        await self.channel.join(self.group)
        self.cursor = (await history_of(self.topic).since(self.topic, None)).last_id
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
        """A ``TOPIC`` message from the layer: hand each event on now if it is the next one (the id after the
        cursor, or its previous one is the cursor's), else sort it out."""
        prev = event.get("prev")
        for event_id, kind, data, users in event["items"]:
            self._on_item(StoredEvent(event_id, kind, data, None if users is None else frozenset(users)), prev)
            prev = event_id

    def _on_item(self, item: StoredEvent, prev: int | None) -> None:
        if self.ready and self._filling is None and (item.id <= self.cursor + 1 or prev == self.cursor):
            if item.id > self.cursor:
                self._emit(_chunk(item))
            return  # an id it already handed on
        self._pending.append(item)
        if self.ready:
            self._fill_soon()

    def _emit(self, chunk: Chunk) -> None:
        self.cursor = chunk[0]
        for subscriber in self.subscribers:
            subscriber.push(*chunk)

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
                        self._emit(_chunk(item))
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
        for chunk in chunks:
            self._emit(chunk)

    def close(self) -> None:
        """Stop listening (the last stream of the topic in this process ended)."""
        if self.feeds.get(self.topic) is self:
            del self.feeds[self.topic]
        if self._started is not None:
            self.channel.leave(self.group)
        for task in (self._filling, self._started, self._watching):
            if task is not None and not task.done():
                task.cancel()


_feeds: PerLoop[dict[str, _Feed]] = PerLoop(dict)
"""This process's feeds, by topic."""


def _feed(topic: str) -> _Feed:
    feeds = _feeds.get()
    found = feeds.get(topic)
    if found is None:
        found = feeds[topic] = _Feed(topic)
    return found


def _unsubscribe(feed: _Feed, subscriber: _Subscriber) -> None:
    feed.subscribers.discard(subscriber)
    if not feed.subscribers:
        feed.close()


async def subscribe(
    topic: str, last_event_id: int | None, *, heartbeat: float | None = None, user: str | None = None
) -> TopicStream:
    """The encoded events of ``topic``: the replay after ``last_event_id`` (or a reset), then live, with a
    comment after ``heartbeat`` seconds of silence (``None``: ``SSE_HEARTBEAT_INTERVAL``; ``0``: none).
    ``user``: the stream's user identifier (events for some users only reach theirs).

    Returns once subscribed and replayed (so errors surface before the response starts).
    """
    feed = _feed(topic)
    subscriber = _Subscriber(int(realtime_settings.MAX_OUTBOUND_BYTES), user)
    feed.subscribers.add(subscriber)  # before any await: the feed must not close under us
    try:
        await feed.start()
        first: list[bytes] = []
        if last_event_id is None:
            subscriber.after = feed.cursor
        else:
            replay, chunks = await _resume(topic, last_event_id)
            subscriber.after = replay.last_id
            first = [chunk for _, chunk, users in chunks if subscriber.may_see(users)]
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


def _on_topic_event(event: events.Event) -> None:
    feed = (_feeds.current() or {}).get(event["topic"])
    if feed is not None:
        feed.on_event(event)


lifetime.route(events.TOPIC, _on_topic_event)
