"""Group membership: add a connection to a named hub group, or remove it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

from . import lifetime, local, names

if TYPE_CHECKING:
    from .hubs import Hub

GROUP_CHANGE_TIMEOUT = 10.0


class GroupManager:
    """``self.groups`` in hubs and ``get_hub_context(Hub).groups`` elsewhere.

    Works for connections owned by any process; memberships end when the connection closes (a
    reconnect is a new connection and must join again, as in SignalR).
    """

    __slots__ = ("hub", "guard")

    def __init__(self, hub: type[Hub], *, guard: Callable[[str, str], Awaitable[bool]] | None = None) -> None:
        self.hub = hub
        self.guard = guard

    async def add(self, connection_id: str, group: str) -> None:
        """Add ``connection_id`` to ``group``; returns once sends to the group reach it.

        Raises ``PermissionDenied`` when the hub's ``can_join_group`` refuses (inside hub methods).
        """
        if self.guard is not None and not await self.guard(connection_id, group):
            raise PermissionDenied(f"Joining group {group!r} is not allowed.")
        await self._change(connection_id, group, add=True)

    async def remove(self, connection_id: str, group: str) -> None:
        """Remove ``connection_id`` from ``group``."""
        await self._change(connection_id, group, add=False)

    discard = remove

    async def _change(self, connection_id: str, group: str, *, add: bool) -> None:
        layer_group = names.group(self.hub.hub_name(), group)
        connection = local.find(connection_id)
        if connection is not None:
            if add:
                await local.table().join(connection, layer_group)
            else:
                local.table().leave(connection, layer_group)
            return
        event = {"type": lifetime.GROUP, "connection_id": connection_id, "group": layer_group, "add": add}
        try:
            await lifetime.request(names.connection(connection_id), event, timeout=GROUP_CHANGE_TIMEOUT)
        except TimeoutError:
            raise LookupError(f"Connection '{connection_id}' is not connected to any server.") from None
