"""Push to hub clients from anywhere: views, model signals, Celery tasks, management commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .clients import HubClients
from .groups import GroupManager

if TYPE_CHECKING:
    from .hubs import Hub


class HubContext:
    """The ``IHubContext`` analog: ``clients`` to send to, ``groups`` to manage memberships."""

    __slots__ = ("hub", "clients", "groups")

    def __init__(self, hub: type[Hub]) -> None:
        self.hub = hub
        self.clients = HubClients(hub)
        self.groups = GroupManager(hub)


def get_hub_context(hub: type[Hub]) -> HubContext:
    """The hub context of ``hub``; works in any process that shares the channel layer.

    Example::

        get_hub_context(ChatHub).clients.group("lobby").send("ReceiveMessage", "server", "hi")
        await get_hub_context(ChatHub).clients.all.asend("ReceiveMessage", "server", "hi")
    """
    return HubContext(hub)
