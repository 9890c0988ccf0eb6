"""Bounded per-topic event history for the SSE topic views: ids, replay after a ``Last-Event-ID``.

Every published event is appended here first; the backend assigns its id. Ids are integers, consecutive
within a topic's *epoch* (``n``, ``n + 1``, ...), so a reader can tell when it missed one; an epoch starts
at the clock in microseconds (when the topic's history is created, or created again after it was lost
or expired), so ids only grow, across processes and restarts. The newest ``SSE_HISTORY_SIZE`` events of
each topic are kept; a topic nobody published to for ``SSE_HISTORY_TTL`` seconds is forgotten.

- :class:`MemoryHistory`: one process (the embedded default).
- :class:`RedisHistory`: every process with the same ``REALTIME["REDIS_URL"]``; one Redis stream per
  topic (``realtime:sse:<topic>``), entry ids ``<n>-0``, trimmed exactly to the size.

``since(topic, 0)`` means "from the start": complete while nothing of the epoch has been trimmed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..conf import configured_backend, realtime_settings
from ..redis_client import LoopClients


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One published event: its id, its SSE event type (``None``: ``message``), its data (JSON text) and who may
    receive it (``None``: every stream of the topic; else user identifiers: captured rows, ``realtime.capture``)."""

    id: int
    event: str | None
    data: str
    users: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """What :meth:`HistoryBackend.since` found."""

    events: list[StoredEvent]
    """The kept events with an id above the one asked for, oldest first."""
    last_id: int
    """The newest id of the topic (0: nothing published, or forgotten)."""
    complete: bool
    """``False`` when ``events`` is not everything after that id: it is older than the history keeps, or
    unknown (above ``last_id``: from before a restart of the history, or from another topic)."""


class HistoryBackend(Protocol):
    """The interface of SSE history backends (``REALTIME["SSE_HISTORY_BACKEND"]``)."""

    async def append(self, topic: str, event: str | None, data: str) -> int:
        """Store one event and return its id."""
        ...

    async def since(self, topic: str, after: int | None) -> Replay:
        """The events of ``topic`` after id ``after`` (``None``: only ``last_id``)."""
        ...

    async def release_loop(self) -> None:
        """Close what the running (short-lived) event loop opened."""
        ...


def _size() -> int:
    return int(realtime_settings.SSE_HISTORY_SIZE)


def _ttl() -> float:
    return float(realtime_settings.SSE_HISTORY_TTL)


def _replay(newer: list[StoredEvent], first_id: int | None, last_id: int, after: int, untrimmed: bool) -> Replay:
    """A replay of ``newer`` (the kept events after ``after``), complete unless ``after`` is out of range.

    ``first_id`` is the oldest kept id (``None``: nothing kept); ``untrimmed`` says it starts the epoch.
    Both backends decide here.
    """
    first = last_id + 1 if first_id is None else first_id
    complete = after <= last_id and (after >= first - 1 or (after == 0 and untrimmed))
    return Replay(newer if complete else [], last_id, complete)


def epoch_start() -> int:
    """The first id of a new epoch: the clock in microseconds (ids of earlier epochs are all below it)."""
    return time.time_ns() // 1000


class _Log:
    __slots__ = ("entries", "seed", "last_id", "touched")

    def __init__(self, size: int, seed: int) -> None:
        self.entries: deque[StoredEvent] = deque(maxlen=size)
        self.seed = seed
        self.last_id = seed - 1
        self.touched = time.monotonic()


class MemoryHistory:
    """History kept in this process (thread-safe: sync publishes may run in other threads)."""

    PRUNE_EVERY = 60.0

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._lock = threading.Lock()
        self._pruned = time.monotonic()

    async def append(self, topic: str, event: str | None, data: str) -> int:
        """Store one event and return its id (the topic's previous id + 1)."""
        with self._lock:
            log = self._logs.get(topic)  # before pruning: a new epoch's ids start above the old one's
            self._prune()
            if log is None or log.touched + _ttl() < time.monotonic():
                seed = max(epoch_start(), log.last_id + 1 if log is not None else 0)
                log = self._logs[topic] = _Log(_size(), seed)
            log.last_id += 1
            log.entries.append(StoredEvent(log.last_id, event, data))
            log.touched = time.monotonic()
            return log.last_id

    async def since(self, topic: str, after: int | None) -> Replay:
        """The events of ``topic`` after id ``after``."""
        with self._lock:
            self._prune()
            log = self._logs.get(topic)
            if log is None or log.touched + _ttl() < time.monotonic():
                return Replay([], 0, True) if after is None else _replay([], None, 0, after, True)
            if after is None:
                return Replay([], log.last_id, True)
            first = log.entries[0].id
            skip = max(0, after - first + 1)  # ids are consecutive
            newer = list(itertools.islice(log.entries, skip, None))
            return _replay(newer, first, log.last_id, after, first == log.seed)

    def _prune(self) -> None:
        """Forget topics idle longer than ``SSE_HISTORY_TTL`` (checked on every call, at most once a minute;
        lock held): what stays is bounded by the topics published to within the TTL."""
        now = time.monotonic()
        if now - self._pruned >= self.PRUNE_EVERY:
            self._pruned = now
            cutoff = now - _ttl()
            for name in [name for name, log in self._logs.items() if log.touched < cutoff]:
                del self._logs[name]

    async def release_loop(self) -> None:
        """Nothing to close."""


_APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local n, first
if last[1] then
  n = tonumber(string.match(last[1][1], '^%d+')) + 1
else
  local t = redis.call('TIME')
  n = tonumber(t[1]) * 1000000 + tonumber(t[2])
  first = 1
end
local fields = {'d', ARGV[4]}
if ARGV[3] ~= '' then fields[#fields + 1] = 'e'; fields[#fields + 1] = ARGV[3] end
if first then fields[#fields + 1] = 'f'; fields[#fields + 1] = '1' end
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], string.format('%.0f', n) .. '-0', unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
"""
"""Append one event: the id after the newest entry, or a new epoch (Redis ``TIME`` in microseconds, below
2**53 so Lua's numbers hold it exactly) marked ``f`` on its first entry."""


def _stored(entry: tuple[str, dict[str, str]]) -> StoredEvent:
    entry_id, fields = entry
    return StoredEvent(int(entry_id.partition("-")[0]), fields.get("e") or None, fields.get("d", ""))


class RedisHistory:
    """History shared by every process through Redis streams (``REALTIME["REDIS_URL"]``).

    Appending is one Lua script: the next id comes from the stream's newest entry, so ids stay consecutive
    and ordered whichever process publishes.
    """

    prefix = "realtime:sse:"

    def __init__(self) -> None:
        self._clients = LoopClients("RedisHistory")
        self._redis = self._clients.get

    async def append(self, topic: str, event: str | None, data: str) -> int:
        """Store one event and return its id."""
        ttl = int(_ttl() * 1000)
        return int(await self._redis().eval(_APPEND, 1, self.prefix + topic, _size(), ttl, event or "", data))

    async def since(self, topic: str, after: int | None) -> Replay:
        """The events of ``topic`` after id ``after`` (one transaction: oldest, newest, the range)."""
        key = self.prefix + topic
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.xrevrange(key, "+", "-", count=1)
            if after is not None:
                pipe.xrange(key, "-", "+", count=1)
                pipe.xrange(key, f"{after + 1}-0", "+", count=_size())
            replies = await pipe.execute()
        last_id = _stored(replies[0][0]).id if replies[0] else 0
        if after is None:
            return Replay([], last_id, True)
        first = replies[1][0] if replies[1] else None
        first_id = _stored(first).id if first is not None else None
        untrimmed = first is not None and first[1].get("f") == "1"
        return _replay([_stored(entry) for entry in replies[2]], first_id, last_id, after, untrimmed)

    async def release_loop(self) -> None:
        """Close the running loop's client (a sync publish outside a server made that loop for one call)."""
        await self._clients.close_current()


def history() -> HistoryBackend:
    """The configured history backend (``REALTIME["SSE_HISTORY_BACKEND"]``), created once per process."""
    return configured_backend("SSE_HISTORY_BACKEND")


_topic_backends: list[tuple[Callable[[str], bool], HistoryBackend]] = []


def register_topics(owns: Callable[[str], bool], backend: HistoryBackend) -> None:
    """Let ``backend`` keep the history of the topics ``owns`` accepts (the change-capture outbox does so for
    captured topics; their events are published by the database, never by ``apublish``)."""
    _topic_backends.append((owns, backend))


def history_of(topic: str) -> HistoryBackend:
    """The history backend of ``topic``: one that :func:`register_topics` gave it, else :func:`history`."""
    for owns, backend in _topic_backends:
        if owns(topic):
            return backend
    return history()
