"""Group membership: add a connection to a named hub group, or remove it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import lifetime, local, names

if TYPE_CHECKING:
    from .hubs import Hub

GROUP_CHANGE_TIMEOUT = 10.0


class GroupManager:
    """``self.groups`` in hubs and ``get_hub_context(Hub).groups`` elsewhere.

    Works for connections owned by any process; memberships end when the connection closes (a
    reconnect is a new connection and must join again, as in SignalR).
    """

    __slots__ = ("hub",)

    def __init__(self, hub: type[Hub]) -> None:
        self.hub = hub

    async def add(self, connection_id: str, group: str) -> None:
        """Add ``connection_id`` to ``group``; returns once sends to the group reach it."""
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
