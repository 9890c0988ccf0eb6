"""The process-local connection table: the connections this process owns, and the layer groups they are in.

There is one table per event loop (one per server process in production). When a connection joins a
layer group, the table tells the process channel (``lifetime.process_channel``) that it wants that group;
every frame that arrives for a group is handed here to the group's local members, the same finished
frame to each (a batch of captured changes: one frame per member holding every change it may see, see
``protocol.batch``). The table owns the ``FRAME``, ``CAPTURE`` and ``CLOSE`` layer events, and asks its
clients to reconnect when the channel reports that messages to this process may have been lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from . import events, lifetime, names
from .connection import HubConnection, State
from .loops import PerLoop
from .protocol import errors
from .protocol.base import Frame
from .protocol.batch import FrameBatch

logger = logging.getLogger("realtime.local")


class LocalTable:
    """Connections owned by this process, and their layer-group memberships."""

    def __init__(self) -> None:
        self.connections: dict[str, HubConnection] = {}
        self.members: dict[str, set[HubConnection]] = {}
        self.captured: dict[str, int] = {}
        """The newest captured change delivered to each layer group (a publisher taking over resends some)."""

    async def add(self, connection: HubConnection) -> None:
        """Register a connection that finished its handshake and join its standard layer groups."""
        self.connections[connection.connection_id] = connection
        channel = lifetime.process_channel()
        await channel.join(names.connection(connection.connection_id))  # delivered by id: no member set each
        for group in _standard_groups(connection):
            self.members.setdefault(group, set()).add(connection)
            await channel.join(group)

    def remove(self, connection: HubConnection) -> None:
        """Forget a closed connection and its memberships."""
        for group in list(connection.hub_groups):
            self.leave(connection, group)
        for group in _standard_groups(connection):
            self._forget(connection, group)
        if self.connections.get(connection.connection_id) is connection:
            del self.connections[connection.connection_id]
            lifetime.process_channel().leave(names.connection(connection.connection_id))

    async def join(self, connection: HubConnection, group: str) -> None:
        """Add ``connection`` to the layer group of a hub group; returns once the process channel is in it."""
        if group in connection.hub_groups:
            return
        if isinstance(connection.hub_groups, frozenset):
            connection.hub_groups = set()
        self.members.setdefault(group, set()).add(connection)
        connection.hub_groups.add(group)
        if connection.resume is not None:
            connection.resume.joined(group, connection.spawn)
        await lifetime.process_channel().join(group)

    def leave(self, connection: HubConnection, group: str) -> None:
        """Remove ``connection`` from the layer group of a hub group."""
        groups = connection.hub_groups
        if group in groups and isinstance(groups, set):
            groups.discard(group)
            self._forget(connection, group)
            if connection.resume is not None:
                connection.resume.left(group, connection.spawn)

    def _forget(self, connection: HubConnection, group: str) -> None:
        members = self.members.get(group)
        if members is not None and connection in members:
            members.discard(connection)
            if not members:
                del self.members[group]
                self.captured.pop(group, None)
            lifetime.process_channel().leave(group)

    def recipients(self, group: str, exclude: list[str] | None = None) -> list[HubConnection]:
        """The local members of layer ``group`` (a hub's, a user's, a group's, a connection's) but ``exclude``."""
        connection_id = names.connection_id_of(group)
        if connection_id is not None:
            owner = self.connections.get(connection_id)
            found: tuple[HubConnection, ...] = (owner,) if owner is not None else ()
        else:
            found = tuple(self.members.get(group, ()))
        if not exclude:
            return list(found)
        return [connection for connection in found if connection.connection_id not in exclude]

    def deliver(self, group: str, frames: Mapping[str, Frame], exclude: list[str] | None = None, log: str = "") -> int:
        """Hand ``frames`` to every local member of ``group`` except ``exclude``; returns the count (``log``: the
        entry of the send in the durable log of stateful reconnect, if any)."""
        recipients = self.recipients(group, exclude)
        for connection in recipients:
            connection.deliver(frames, log)
        return len(recipients)

    def deliver_changes(self, group: str, changes: Sequence[Sequence[Any]]) -> int:
        """Hand captured ``changes`` (``[event id, users, frames]``, in commit order) to the local members of
        ``group``, each change once per event id, each member one frame holding every change its user may see
        (one per change on a resumable connection: its sequence ids count frames); returns the frames queued."""
        last = self.captured.get(group, 0)
        fresh = [(users, frames) for event_id, users, frames in changes if event_id > last]
        if not fresh:
            return 0
        self.captured[group] = max(last, changes[-1][0])
        batch = FrameBatch(fresh)
        count = 0
        for connection in self.recipients(group):
            protocol = connection.protocol
            if protocol is None or connection.state is not State.CONNECTED:
                continue
            if connection.resume is None:
                frame = batch.joined(protocol.name, connection.user_id)
                found = [frame] if frame is not None else []
            else:
                found = batch.frames(protocol.name, connection.user_id)
            for frame in found:
                connection.enqueue_frame(frame)
            count += len(found)
        return count

    def close(self, group: str, reason: str | None, exclude: list[str] | None = None) -> int:
        """Close every local member of ``group`` except ``exclude`` with a Close message carrying ``reason``."""
        recipients = self.recipients(group, exclude)
        for connection in recipients:
            connection.spawn(connection.abort(reason))
        return len(recipients)


def _standard_groups(connection: HubConnection) -> list[str]:
    """The layer groups every connection of its hub (and of its user) is in, besides its own."""
    hub = connection.hub.hub_name()
    groups = [names.hub_all(hub)]
    if connection.user_id is not None:
        groups.append(names.user(hub, connection.user_id))
    return groups


_tables: PerLoop[LocalTable] = PerLoop(LocalTable)


def table() -> LocalTable:
    """The connection table of the running event loop."""
    return _tables.get()


def find(connection_id: str) -> HubConnection | None:
    """The connection with ``connection_id`` if this process owns it and it is connected."""
    found = _tables.current()
    connection = found.connections.get(connection_id) if found else None
    return connection if connection is not None and connection.state is State.CONNECTED else None


def _on_frame(event: dict[str, Any]) -> None:
    found = _tables.current()
    if found is not None:
        found.deliver(event["group"], event["frames"], event.get("exclude"), event.get("log", ""))


def _on_capture(event: dict[str, Any]) -> None:
    found = _tables.current()
    if found is not None:
        found.deliver_changes(event["group"], event["changes"])


def _on_close(event: dict[str, Any]) -> None:
    found = _tables.current()
    if found is not None:
        found.close(event["group"], event["reason"], event.get("exclude"))


def _messages_lost() -> None:
    """The layer may have dropped messages to this process: ask every client to reconnect (no silent gap)."""
    found = _tables.current()
    connections = [c for c in found.connections.values() if c.state is State.CONNECTED] if found else []
    logger.warning(
        "realtime: the channel layer may have lost messages to this process; asking %d clients to reconnect",
        len(connections),
    )
    for connection in connections:
        connection.spawn(connection.abort(errors.CLOSE_MESSAGES_LOST, allow_reconnect=True))


lifetime.route(events.FRAME, _on_frame)
lifetime.route(events.CLOSE, _on_close)
lifetime.route(events.CAPTURE, _on_capture)
lifetime.on_gap(_messages_lost)
