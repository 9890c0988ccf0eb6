"""Group membership: add a connection to a named hub group, or remove it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied

from . import events, lifetime, local, loops, names, presence
from .conf import hub_option, realtime_settings
from .exceptions import GroupError, HubError

if TYPE_CHECKING:
    from .connection import HubConnection
    from .hubs import Hub

GROUP_CHANGE_TIMEOUT = 10.0


class GroupManager:
    """``self.groups`` in hubs and ``get_hub_context(Hub).groups`` elsewhere.

    Works for connections owned by any process; memberships end when the connection closes (a
    reconnect is a new connection and must join again, as in SignalR). For hubs that track presence,
    every change also updates the connection's presence entry and announces it to the group.
    """

    __slots__ = ("hub", "guard")

    def __init__(self, hub: type[Hub], *, guard: Callable[[str, str], Awaitable[bool]] | None = None) -> None:
        self.hub = hub
        self.guard = guard

    async def add(self, connection_id: str, group: str, *, metadata: Mapping[str, Any] | None = None) -> None:
        """Add ``connection_id`` to ``group``; returns once sends to the group reach it.

        ``metadata`` (a JSON object; hubs that track presence only) goes into the connection's presence
        entry in this group, over what the hub's ``presence_metadata()`` gave. Raises ``PermissionDenied``
        when the hub's ``can_join_group`` refuses (inside hub methods); ``GroupError`` for a connection already
        in ``MAX_GROUPS`` groups; ``PresenceError`` for an empty group name or oversize metadata.
        """
        if metadata is not None and not presence.tracks(self.hub):
            raise presence.PresenceError(f"{self.hub.__qualname__} does not track presence: metadata needs it.")
        if self.guard is not None and not await self.guard(connection_id, group):
            raise PermissionDenied(f"Joining group {group!r} is not allowed.")
        await self._change(connection_id, group, add=True, metadata=metadata)

    async def remove(self, connection_id: str, group: str) -> None:
        """Remove ``connection_id`` from ``group``."""
        await self._change(connection_id, group, add=False)

    discard = remove

    async def _change(
        self, connection_id: str, group: str, *, add: bool, metadata: Mapping[str, Any] | None = None
    ) -> None:
        connection = local.find(connection_id)
        if connection is not None:
            await apply_change(connection, group, add=add, metadata=metadata)
            return
        if add and presence.tracks(self.hub):  # refuse bad input here rather than in the owner
            presence.check_group_name(group)
            metadata = presence.normalize_metadata(metadata, int(realtime_settings.PRESENCE_MAX_METADATA_SIZE))
        event = events.group_change(connection_id, group, add=add, metadata=metadata)
        try:
            reply = await lifetime.request(names.connection(connection_id), event, timeout=GROUP_CHANGE_TIMEOUT)
        except TimeoutError:
            raise LookupError(f"Connection '{connection_id}' is not connected to any server.") from None
        if reply.get("error"):
            raise (GroupError if reply.get("limit") else presence.PresenceError)(reply["error"])


async def apply_change(
    connection: HubConnection, group: str, *, add: bool, metadata: Mapping[str, Any] | None = None
) -> None:
    """Change a membership in the process that owns ``connection``: its layer group, and its presence."""
    layer_group = names.group(connection.hub.hub_name(), group)
    if add and presence.tracks(connection.hub):
        await presence.tracker().join(connection, group, metadata, admit=lambda: _join(connection, layer_group))
    elif add:
        await _join(connection, layer_group)
    else:
        local.table().leave(connection, layer_group)
        if presence.tracks(connection.hub):
            await presence.tracker().leave(connection.connection_id, group)


async def _join(connection: HubConnection, layer_group: str) -> None:
    """Join ``layer_group`` unless that would put the connection in more than ``MAX_GROUPS`` hub groups.

    Counted and joined without an await in between, so concurrent joins cannot pass the bound together.
    """
    if layer_group not in connection.hub_groups:
        limit = int(hub_option(connection.hub, "MAX_GROUPS"))
        if len(connection.hub_groups) >= limit:
            raise GroupError(f"Connection '{connection.connection_id}' is already in {limit} groups (MAX_GROUPS).")
    await local.table().join(connection, layer_group)


async def _answer_group(event: events.Event) -> None:
    """Apply a group change another process asked for (a connection of this one); reply with refusals."""
    connection = local.find(event["connection_id"])
    if connection is None:
        return
    reply: dict[str, Any] = {}
    try:
        await apply_change(connection, event["name"], add=event["add"], metadata=event.get("metadata"))
    except HubError as exc:  # PresenceError or GroupError
        reply = {"error": str(exc), "limit": isinstance(exc, GroupError)}
    await lifetime.send(event["reply_channel"], events.result(**reply))


lifetime.route(events.GROUP, lambda event: loops.services().spawn(_answer_group(event)))
