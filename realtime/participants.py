"""What takes part in every hub connection's life besides the hub: presence registers here, the dispatcher calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .connection import HubConnection


class Participant(Protocol):
    """Something above the connection that takes part in each hub connection's life (presence does)."""

    async def connected(self, connection: HubConnection) -> None:
        """After the handshake, before ``on_connected``."""

    async def disconnected(self, connection: HubConnection) -> None:
        """After ``on_disconnected``, before the connection leaves its groups."""

    async def adopted(self, connection: HubConnection) -> None:
        """This process took the connection over from one that did not answer (stateful reconnect): it goes on
        here as it was, in its groups again, with no handshake and no ``on_connected``."""

    async def let_go(self, connection: HubConnection) -> None:
        """Another process took the connection over: drop what this process holds for it, without ending it."""


participants: list[Participant] = []
"""The participants in every hub connection's life, in the order they registered (:func:`take_part`)."""


def take_part(participant: Participant) -> None:
    """Register ``participant`` for every hub connection from now on (once; the module that defines it does)."""
    if participant not in participants:
        participants.append(participant)
