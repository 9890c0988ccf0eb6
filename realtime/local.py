"""The process-local connection table: which connections this process owns and which layer groups they are in.

There is one table per event loop (one per server process in production). It owns the process's layer
channel (``lifetime.ProcessChannel``): when a connection joins a layer group the process channel joins it
once, and every layer event that arrives is fanned out here to the local members, handing the same
finished frame to each of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from . import lifetime, names
from .conf import realtime_settings
from .connection import HubConnection, State
from .exceptions import ClientResultError, GroupError, HubError
from .loops import PerLoop
from .protocol import errors
from .protocol.messages import CompletionMessage, InvocationMessage
from .protocol.msgpack import MessagePackHubProtocol
from .registry import Entry, registry

logger = logging.getLogger("realtime.local")

HOUSEKEEPING_INTERVAL = 10.0
_wire = MessagePackHubProtocol(max_message_size=None)


def pack_message(message: InvocationMessage | CompletionMessage) -> bytes:
    """Encode a message for a trip over the layer (MessagePack keeps bytes and datetimes intact)."""
    return bytes(_wire.write(message))


def unpack_message(data: bytes) -> Any:
    """Decode what :func:`pack_message` encoded."""
    (message,) = _wire.decoder().feed(data)
    return message


class LocalTable:
    """Connections owned by this process, and their layer-group memberships."""

    def __init__(self) -> None:
        self.connections: dict[str, HubConnection] = {}
        self.owners: dict[str, Any] = {}
        """HTTP-transport owners (SSE, long polling) by connection token."""
        self.claimed: dict[str, Entry] = {}
        """Registry entries of every connection this process owns, by token (refreshed here)."""
        self.members: dict[str, set[HubConnection]] = {}
        self.listeners: dict[str, set[Callable[[dict[str, Any]], None]]] = {}
        """Callbacks of ``lifetime.TOPIC`` events by layer group (one per SSE topic streamed here)."""
        self.channel = lifetime.ProcessChannel(self._on_event, on_gap=self._messages_lost)
        self._housekeeping: asyncio.Task[None] | None = None
        self._services: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def add(self, connection: HubConnection) -> None:
        """Register a connection that finished its handshake and join its standard layer groups."""
        self.connections[connection.connection_id] = connection
        hub = connection.hub.hub_name()
        await self.join(connection, names.connection(connection.connection_id))
        await self.join(connection, names.hub_all(hub))
        if connection.user_id is not None:
            await self.join(connection, names.user(hub, connection.user_id))
        self.start_housekeeping()

    def start_housekeeping(self) -> None:
        """Start the periodic pruning and refreshing of layer groups and registry entries (once)."""
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._housekeep(), name="realtime-housekeeping")

    def start_service(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``loop()`` as a background task of this table, once per ``name`` (e.g. presence heartbeats).

        It lives as long as the table: :meth:`close` cancels it.
        """
        if name not in self._services:
            self._services[name] = asyncio.create_task(loop(), name=f"realtime-{name}")

    def remove(self, connection: HubConnection) -> None:
        """Forget a closed connection and its memberships (the layer side is pruned lazily)."""
        for group in connection.layer_groups:
            self._leave(connection, group)
        connection.layer_groups.clear()
        if self.connections.get(connection.connection_id) is connection:
            del self.connections[connection.connection_id]

    async def join(self, connection: HubConnection, group: str) -> None:
        """Add ``connection`` to layer ``group``; returns once the process channel is in it."""
        self.members.setdefault(group, set()).add(connection)
        connection.layer_groups.add(group)
        await self.channel.join(group)

    def leave(self, connection: HubConnection, group: str) -> None:
        """Remove ``connection`` from layer ``group``."""
        connection.layer_groups.discard(group)
        self._leave(connection, group)

    def _leave(self, connection: HubConnection, group: str) -> None:
        members = self.members.get(group)
        if members is not None:
            members.discard(connection)
            if not members:
                del self.members[group]

    async def listen(self, group: str, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(event)`` for each ``lifetime.TOPIC`` event sent to layer ``group``; returns once the
        process channel is in the group."""
        self.listeners.setdefault(group, set()).add(listener)
        self.start_housekeeping()
        await self.channel.join(group)

    def unlisten(self, group: str, listener: Callable[[dict[str, Any]], None]) -> None:
        """Stop calling ``listener`` (the layer side is pruned lazily, as for connections)."""
        listeners = self.listeners.get(group)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self.listeners[group]

    def deliver(self, group: str, frames: dict[str, Any], exclude: list[str] | None = None) -> int:
        """Hand ``frames`` to every local member of ``group`` except ``exclude``; returns the count."""
        members = self.members.get(group)
        if not members:
            return 0
        count = 0
        for connection in list(members):
            if exclude and connection.connection_id in exclude:
                continue
            connection.deliver(frames)
            count += 1
        return count

    # -- layer events ----------------------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == lifetime.FRAME:
            self.deliver(event["group"], event["frames"], event.get("exclude"))
        elif kind == lifetime.INVOKE:
            self._spawn(self._answer_invoke(event))
        elif kind == lifetime.GROUP:
            self._spawn(self._answer_group(event))
        elif kind in (lifetime.TRANSPORT_DATA, lifetime.POLL, lifetime.DELETE):
            self._spawn(self._answer_transport(event))
        elif kind == lifetime.TOPIC:
            for listener in list(self.listeners.get(event["group"], ())):
                listener(event)
        elif kind == lifetime.ABORT:
            connection = self.connections.get(event["connection_id"])
            if connection is not None:
                connection.spawn(connection.abort(event.get("error")))
        else:
            logger.warning("realtime: ignoring unknown layer event type %r", kind)

    def _messages_lost(self) -> None:
        """The layer may have dropped messages to this process: ask every client to reconnect (no silent gap)."""
        connections = [c for c in self.connections.values() if c.state is State.CONNECTED]
        logger.warning(
            "realtime: the channel layer may have lost messages to this process; asking %d clients to reconnect",
            len(connections),
        )
        for connection in connections:
            connection.spawn(connection.abort(errors.CLOSE_MESSAGES_LOST, allow_reconnect=True))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_invoke(self, event: dict[str, Any]) -> None:
        connection = self.connections.get(event["connection_id"])
        if connection is None:
            return
        message: InvocationMessage = unpack_message(event["message"])
        answer: dict[str, Any] = {"type": lifetime.RESULT}
        try:
            result = await connection.invoke_client(message.target, message.arguments, timeout=event["timeout"])
            reply = CompletionMessage.with_result("0", result)
        except (ClientResultError, TimeoutError) as exc:
            reply = CompletionMessage.with_error("0", str(exc) or type(exc).__name__)
            if isinstance(exc, TimeoutError):
                answer["timed_out"] = True  # the caller raises TimeoutError, as for a local connection
        await lifetime.send(event["reply_channel"], {**answer, "message": pack_message(reply)})

    async def _answer_transport(self, event: dict[str, Any]) -> None:
        """Run a POST body, a poll or a DELETE routed here from another process, and send back the outcome."""
        owner = self.owners.get(event["token"])
        if owner is None:
            reply = {"type": lifetime.RESULT, "status": 404, "body": b"No Connection with that ID"}
        elif event["type"] == lifetime.TRANSPORT_DATA:
            await lifetime.send(event["reply_channel"], {"type": lifetime.RESULT, "ack": True})
            reply = {"type": lifetime.RESULT, "status": await owner.post(event["data"]), "body": b""}
        elif event["type"] == lifetime.POLL:
            status, body = await owner.poll(event["timeout"])
            reply = {"type": lifetime.RESULT, "status": status, "body": body}
        else:
            await owner.delete()
            reply = {"type": lifetime.RESULT, "status": 202, "body": b""}
        await lifetime.send(event["reply_channel"], reply)

    async def _answer_group(self, event: dict[str, Any]) -> None:
        """Apply a group change asked for by another process (with presence); reply with refusals."""
        from .groups import apply_change  # groups builds on this module

        connection = self.connections.get(event["connection_id"])
        if connection is None:
            return
        reply = {"type": lifetime.RESULT}
        try:
            await apply_change(connection, event["name"], add=event["add"], metadata=event.get("metadata"))
        except HubError as exc:  # PresenceError or GroupError
            reply["error"] = str(exc)
            reply["limit"] = isinstance(exc, GroupError)
        await lifetime.send(event["reply_channel"], reply)

    async def _housekeep(self) -> None:
        """Leave layer groups that lost their last local member; re-add the rest before they expire."""
        refresh_every = float(realtime_settings.GROUP_REFRESH_INTERVAL)
        interval = min(HOUSEKEEPING_INTERVAL, float(realtime_settings.REGISTRY_TTL) / 3)
        since_refresh = 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.channel.prune(lambda group: group in self.members or group in self.listeners)
                await registry().refresh(self.claimed)
                since_refresh += interval
                if since_refresh >= refresh_every:
                    since_refresh = 0.0
                    await self.channel.refresh()
            except Exception:
                logger.exception("realtime: housekeeping of the process channel failed; will retry")

    async def close(self) -> None:
        """Close every connection's tasks and leave the layer (tests, shutdown)."""
        tasks = [t for t in [self._housekeeping, *self._services.values(), *self._tasks] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.channel.close()


_tables = PerLoop(LocalTable)


def table() -> LocalTable:
    """The connection table of the running event loop."""
    return _tables.get()


def find(connection_id: str) -> HubConnection | None:
    """The connection with ``connection_id`` if this process owns it and it is connected."""
    found = _tables.current()
    connection = found.connections.get(connection_id) if found else None
    return connection if connection is not None and connection.state is State.CONNECTED else None
