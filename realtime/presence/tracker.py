"""The owning process's side of presence: its connections' entries, their heartbeat, the sweeper, the diffs.

One :class:`Tracker` per connection table (per server process). Every presence write about a connection
happens in the process that owns it, under that connection's lock, so writes about one connection never
overtake each other. Every ``PRESENCE_LIVENESS_INTERVAL`` seconds (a *beat*) the tracker marks its
process alive for ``PRESENCE_LIVENESS_TTL`` seconds (one cheap write, whatever the number of entries),
retries failed removals, and sweeps the entries of processes whose liveness expired, announcing them as
``left``. Every ``PRESENCE_TTL / 3`` seconds, and at once if its process had been given up for dead, a
beat also pushes its entries' own expiry forward, writing back any the store lost. A store outage never
fails a connection: failed writes come back with a later beat, failed removals are retried.

A connection taken over from a process that did not answer (stateful reconnect) takes its entries with it,
unannounced: it never left, so no ``left`` and no second ``joined``, and the sweep of the old process leaves
them alone. That process, if it was only slow, lets the connection go without removing or announcing anything
(the store removes an entry only for the process that owns it). Entries swept before the takeover (it came
more than ``PRESENCE_LIVENESS_TTL`` after the old process's last beat) were announced as ``left``: the takeover
writes the hub and user entries again, not the group entries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from .. import local, loops
from ..clients import HubClients
from ..conf import configured_backend, hub_option, realtime_settings
from ..participants import take_part
from .base import (
    GROUP,
    HUB,
    USER,
    PresenceBackend,
    PresenceEntry,
    PresenceScope,
    check_group_name,
    normalize_metadata,
)

if TYPE_CHECKING:
    from ..connection import HubConnection
    from ..hubs import Hub

logger = logging.getLogger("realtime.presence")

MAX_RETRIES = 10_000
"""Failed removals kept for retry; beyond that the oldest are left to expire with their process."""


def tracks(hub: type[Hub]) -> bool:
    """Whether ``hub`` tracks presence (``track_presence``, else ``TRACK_PRESENCE``)."""
    return bool(hub_option(hub, "TRACK_PRESENCE"))


def store() -> PresenceBackend:
    """The configured presence backend (``REALTIME["PRESENCE_BACKEND"]``), created once per process."""
    return configured_backend("PRESENCE_BACKEND")


def ttl() -> float:
    """Seconds an entry lives without a refresh from its process (``PRESENCE_TTL``)."""
    return float(realtime_settings.PRESENCE_TTL)


def liveness_ttl() -> float:
    """Seconds a process counts as alive after its last beat (``PRESENCE_LIVENESS_TTL``)."""
    return float(realtime_settings.PRESENCE_LIVENESS_TTL)


def beat_interval() -> float:
    """Seconds between beats: ``PRESENCE_LIVENESS_INTERVAL``, or less if refreshes are due more often."""
    return max(min(float(realtime_settings.PRESENCE_LIVENESS_INTERVAL), ttl() / 3), 0.05)


@dataclass(eq=False, slots=True)
class Tracked:
    """A connection of this process whose hub tracks presence."""

    hub: type[Hub]
    entry: PresenceEntry
    """Its hub and user entry (the metadata from ``Hub.presence_metadata``)."""
    groups: dict[str, PresenceEntry] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    def scopes(self) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Every scope the connection has an entry in, with that entry."""
        name = self.hub.hub_name()
        found = [(PresenceScope(name, HUB, ""), self.entry)]
        if self.entry.user_id is not None:
            found.append((PresenceScope(name, USER, self.entry.user_id), self.entry))
        found += [(PresenceScope(name, GROUP, group), entry) for group, entry in self.groups.items()]
        return found

    def current(self, scope: PresenceScope) -> PresenceEntry | None:
        """The entry the connection should have in ``scope`` now, or ``None``."""
        return self.groups.get(scope.name) if scope.kind == GROUP else self.entry


class Tracker:
    """Presence of the connections this process owns (see the module docstring)."""

    def __init__(self) -> None:
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.connections: dict[str, Tracked] = {}
        self._retry: deque[tuple[type[Hub], str, list[PresenceScope]]] = deque(maxlen=MAX_RETRIES)
        self._hubs: dict[str, type[Hub] | None] = {}
        self.refreshed = time.monotonic()
        """When the last refresh of this process's entries started (monotonic clock)."""

    # -- the connection's life --------------------------------------------------------------------

    async def connected(self, connection: HubConnection, metadata: Mapping[str, Any] | None = None) -> Tracked:
        """Enter a connection that finished its handshake in its hub (and user) scope; starts the heartbeat."""
        limit = int(realtime_settings.PRESENCE_MAX_METADATA_SIZE)
        entry = PresenceEntry(
            connection.connection_id, connection.user_id, time.time(), normalize_metadata(metadata, limit)
        )
        tracked = self.connections[connection.connection_id] = Tracked(connection.hub, entry)
        self._hubs[connection.hub.hub_name()] = connection.hub
        loops.services().start("presence", self.run)
        async with tracked.lock:
            await self._write(tracked, connection.connection_id, tracked.scopes())
        return tracked

    async def adopt(self, connection: HubConnection, metadata: Mapping[str, Any] | None = None) -> Tracked:
        """Go on with a connection taken over from another process: its entries become this process's, unannounced
        (it never left); the hub and user entries are written again if the store lost them (``metadata``)."""
        connection_id = connection.connection_id
        try:
            taken = await store().take(self.process, connection_id, ttl(), liveness_ttl())
        except Exception:
            logger.warning("realtime: presence of %s not taken over; the heartbeat rewrites it", connection_id)
            taken = []
        limit = int(realtime_settings.PRESENCE_MAX_METADATA_SIZE)
        fresh = PresenceEntry(connection_id, connection.user_id, time.time(), normalize_metadata(metadata, limit))
        entry = next((found for scope, found in taken if scope.kind == HUB), fresh)
        groups = {scope.name: found for scope, found in taken if scope.kind == GROUP}
        tracked = self.connections[connection_id] = Tracked(connection.hub, entry, groups)
        self._hubs[connection.hub.hub_name()] = connection.hub
        loops.services().start("presence", self.run)
        kept = {scope for scope, _ in taken}
        async with tracked.lock:
            missing = [(scope, found) for scope, found in tracked.scopes() if scope not in kept]
            if missing:
                await self._write(tracked, connection_id, missing)
        return tracked

    def let_go(self, connection_id: str) -> None:
        """Forget a connection another process took over, without a write: its entries are that process's now."""
        tracked = self.connections.pop(connection_id, None)
        if tracked is not None:
            tracked.closed = True

    async def join(
        self,
        connection: HubConnection,
        group: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        admit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Enter ``connection`` in ``group`` and announce it there (no diff if it is already in).

        ``PresenceError`` for an empty group name or oversize metadata, before anything changed. ``admit`` (the
        layer join, which may refuse with ``GroupError``) runs once the join is accepted, before it is written
        and announced.
        """
        connection_id = connection.connection_id
        check_group_name(group)
        tracked = self.connections.get(connection_id)
        if tracked is None:  # only if tracking was switched on while it was connected
            if local.find(connection_id) is None:
                return
            tracked = await self.connected(connection)
        async with tracked.lock:
            limit = int(realtime_settings.PRESENCE_MAX_METADATA_SIZE)
            merged = normalize_metadata(metadata, limit, base=tracked.entry.metadata)
            if tracked.closed:
                return
            if admit is not None:
                await admit()
            entry = replace(tracked.entry, metadata=merged)
            if tracked.groups.get(group) == entry:
                return
            tracked.groups[group] = entry
            added = await self._write(
                tracked, connection_id, [(PresenceScope(tracked.hub.hub_name(), GROUP, group), entry)]
            )
            if added[0]:
                await self.announce(tracked.hub, group, joined=[connection_id])

    async def leave(self, connection_id: str, group: str) -> None:
        """Remove the connection from ``group`` and announce it there (nothing happens if it was not in)."""
        tracked = self.connections.get(connection_id)
        if tracked is None:
            return
        async with tracked.lock:
            if tracked.groups.pop(group, None) is None:
                return
            removed = await self._remove(tracked, connection_id, [PresenceScope(tracked.hub.hub_name(), GROUP, group)])
            if removed[0]:
                await self.announce(tracked.hub, group, left=[connection_id])

    async def disconnected(self, connection_id: str) -> None:
        """Remove every entry of a connection that ended; announce it as ``left`` in each of its groups."""
        tracked = self.connections.pop(connection_id, None)
        if tracked is None:
            return
        async with tracked.lock:
            tracked.closed = True
            scopes = [scope for scope, _ in tracked.scopes()]
            removed = await self._remove(tracked, connection_id, scopes)
            for scope, gone in zip(scopes, removed, strict=True):
                if gone and scope.kind == GROUP:
                    await self.announce(tracked.hub, scope.name, left=[connection_id])

    def groups_of(self, connection_id: str) -> list[str]:
        """The groups a connection of this process is in (``[]`` for one it does not track)."""
        tracked = self.connections.get(connection_id)
        return list(tracked.groups) if tracked is not None else []

    # -- store access -----------------------------------------------------------------------------

    async def _write(
        self, tracked: Tracked, connection_id: str, entries: list[tuple[PresenceScope, PresenceEntry]]
    ) -> list[bool]:
        try:
            return await store().join(self.process, connection_id, entries, ttl(), liveness_ttl())
        except Exception:
            logger.warning(
                "realtime: presence write for %s failed; the heartbeat retries it", connection_id, exc_info=True
            )
            return [False] * len(entries)

    async def _remove(self, tracked: Tracked, connection_id: str, scopes: list[PresenceScope]) -> list[bool]:
        try:
            return await store().leave(self.process, connection_id, scopes)
        except Exception:
            logger.warning("realtime: presence removal for %s failed; will retry", connection_id, exc_info=True)
            self._retry.append((tracked.hub, connection_id, scopes))
            return [False] * len(scopes)

    async def announce(
        self, hub: type[Hub], group: str, *, joined: Sequence[str] = (), left: Sequence[str] = ()
    ) -> None:
        """Send ``{"group", "joined", "left"}`` to the group's members under the hub's ``presence_event``."""
        event = hub_option(hub, "PRESENCE_EVENT")
        if not event:
            return
        try:
            await (
                HubClients(hub).group(group).asend(event, {"group": group, "joined": list(joined), "left": list(left)})
            )
        except Exception:
            logger.warning("realtime: presence diff for group %r of %s not sent", group, hub.hub_name(), exc_info=True)

    # -- heartbeat and sweeper --------------------------------------------------------------------

    async def run(self) -> None:
        """Beat every :func:`beat_interval` seconds, for as long as the connection table lives."""
        while True:
            interval = beat_interval()
            await asyncio.sleep(interval)
            due = time.monotonic() - self.refreshed >= ttl() / 3 - interval / 2  # the beat nearest to TTL/3
            try:
                await self.beat(refresh=due)
            except Exception:
                logger.exception("realtime: presence heartbeat failed; will retry")

    async def beat(self, *, refresh: bool = True) -> None:
        """One beat: mark this process alive, retry failed removals, refresh this process's entries (if
        ``refresh``, or if the process had been given up for dead), sweep dead processes' entries."""
        revived = await store().alive(self.process, liveness_ttl())
        await self._retry_removals()
        if refresh or revived:
            started = time.monotonic()
            await self._refresh()
            self.refreshed = started
        await self._sweep()

    async def _retry_removals(self) -> None:
        for _ in range(len(self._retry)):
            hub, connection_id, scopes = self._retry.popleft()
            tracked = self.connections.get(connection_id)
            if tracked is None:
                await self._retry_removal(hub, connection_id, scopes)
                continue
            async with tracked.lock:  # still connected: keep what it joined again since
                await self._retry_removal(hub, connection_id, [s for s in scopes if tracked.current(s) is None])

    async def _retry_removal(self, hub: type[Hub], connection_id: str, scopes: list[PresenceScope]) -> None:
        try:
            removed = await store().leave(self.process, connection_id, scopes)
        except Exception:
            self._retry.append((hub, connection_id, scopes))
            raise
        for scope, gone in zip(scopes, removed, strict=True):
            if gone and scope.kind == GROUP:
                await self.announce(hub, scope.name, left=[connection_id])

    async def _refresh(self) -> None:
        items = [(scope, cid) for cid, tracked in list(self.connections.items()) for scope, _ in tracked.scopes()]
        missing: dict[str, list[PresenceScope]] = defaultdict(list)
        for index in await store().refresh(self.process, items, ttl()):
            missing[items[index][1]].append(items[index][0])
        for connection_id, scopes in missing.items():
            tracked = self.connections.get(connection_id)
            if tracked is None:
                continue
            async with tracked.lock:
                entries = [(scope, entry) for scope in scopes if (entry := tracked.current(scope)) is not None]
                if tracked.closed or not entries:
                    continue
                added = await self._write(tracked, connection_id, entries)
                for (scope, _), new in zip(entries, added, strict=True):
                    if new and scope.kind == GROUP:
                        await self.announce(tracked.hub, scope.name, joined=[connection_id])

    async def _sweep(self) -> None:
        left: dict[tuple[str, str], list[str]] = defaultdict(list)
        for scope, entry in await store().sweep(self.process):
            if scope.kind == GROUP:
                left[scope.hub, scope.name].append(entry.connection_id)
        for (hub_name, group), connection_ids in left.items():
            hub = self._hub(hub_name)
            if hub is not None:
                await self.announce(hub, group, left=sorted(connection_ids))

    def _hub(self, name: str) -> type[Hub] | None:
        """The hub class of ``name`` (its import path), to announce sweeps of hubs this process never served."""
        if name not in self._hubs:
            try:
                self._hubs[name] = import_string(name)
            except ImportError:
                logger.warning("realtime: cannot import hub %r; its swept presence entries are not announced", name)
                self._hubs[name] = None
        return self._hubs[name]


_trackers = loops.PerLoop(Tracker)


def tracker() -> Tracker:
    """The tracker of the running event loop (of this process)."""
    return _trackers.get()


class _Presence:
    """Presence's part in each connection's life: enter it after the handshake, remove it after the end."""

    async def connected(self, connection: HubConnection) -> None:
        if tracks(connection.hub):
            await tracker().connected(connection, await connection.hub(connection).presence_metadata())

    async def disconnected(self, connection: HubConnection) -> None:
        if tracks(connection.hub):
            await tracker().disconnected(connection.connection_id)

    async def adopted(self, connection: HubConnection) -> None:
        if tracks(connection.hub):
            await tracker().adopt(connection, await connection.hub(connection).presence_metadata())

    async def let_go(self, connection: HubConnection) -> None:
        if tracks(connection.hub):
            tracker().let_go(connection.connection_id)


take_part(_Presence())
