"""Push to hub clients from anywhere: views, model signals, Celery tasks, management commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .clients import HubClients
from .groups import GroupManager
from .presence import HubPresence

if TYPE_CHECKING:
    from .hubs import Hub


class HubContext:
    """The ``IHubContext`` analog: ``clients`` to send to, ``groups`` for memberships, ``presence`` for who is in."""

    __slots__ = ("hub", "clients", "groups", "presence")

    def __init__(self, hub: type[Hub]) -> None:
        self.hub = hub
        self.clients = HubClients(hub)
        self.groups = GroupManager(hub)
        self.presence = HubPresence(hub)


def get_hub_context(hub: type[Hub]) -> HubContext:
    """The hub context of ``hub``; works in any process that shares the channel layer.

    Example::

        get_hub_context(ChatHub).clients.group("lobby").send("ReceiveMessage", "server", "hi")
        await get_hub_context(ChatHub).clients.all.asend("ReceiveMessage", "server", "hi")
        get_hub_context(ChatHub).presence.connection_ids_sync("room")   # in a view or a Celery task
    """
    return HubContext(hub)
