"""Push to hub clients from anywhere: views, model signals, Celery tasks, management commands."""

from __future__ import annotations

from typing import Any, Generic, overload

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .clients import ClientT, HubClients
from .groups import GroupManager
from .hubs import Hub
from .presence import HubPresence


class HubContext(Generic[ClientT]):
    """The ``IHubContext`` analog: ``clients`` to send to, ``groups`` for memberships, ``presence`` for who is in.

    Of a typed hub (``Hub[ChatClient]``), ``clients`` targets are typed as its client protocol.
    """

    __slots__ = ("hub", "clients", "groups", "presence")

    def __init__(self, hub: type[Hub[ClientT]]) -> None:
        self.hub = hub
        self.clients: HubClients[ClientT] = HubClients(hub)
        self.groups = GroupManager(hub)
        self.presence = HubPresence(hub)


def resolve_hub(hub: type[Hub] | str) -> type[Hub]:
    """``hub`` itself, or the class its import path names; ``TypeError`` unless it is a ``Hub`` subclass."""
    found: object = hub
    if isinstance(hub, str):
        try:
            found = import_string(hub)
        except ImportError as exc:
            raise ImproperlyConfigured(f"Cannot import hub {hub!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Hub)):
        raise TypeError(f"{hub!r} is not a Hub subclass (or the import path of one).")
    return found


@overload
def get_hub_context(hub: type[Hub[ClientT]]) -> HubContext[ClientT]: ...


@overload
def get_hub_context(hub: str) -> HubContext[Any]: ...


def get_hub_context(hub: type[Hub[Any]] | str) -> HubContext[Any]:
    """The hub context of ``hub`` (a ``Hub`` subclass or its import path); works in any process that shares
    the channel layer. Raises ``TypeError`` for anything but a hub.

    Example::

        get_hub_context(ChatHub).clients.group("lobby").send("ReceiveMessage", "server", "hi")
        await get_hub_context(ChatHub).clients.all.asend("ReceiveMessage", "server", "hi")
        get_hub_context(ChatHub).presence.connection_ids_sync("room")   # in a view or a Celery task
    """
    return HubContext(resolve_hub(hub))
