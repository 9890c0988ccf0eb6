"""ASGI vocabulary and small aliases shared across ``realtime``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ConnectionId = str
UserId = str


class Transport(Protocol):
    """What a hub connection needs from the transport that carries it."""

    name: str
    """``WebSockets``, ``ServerSentEvents`` or ``LongPolling``."""
    transfer_formats: frozenset[str]

    async def send(self, frame: str | bytes) -> None:
        """Write one finished chunk to the client."""

    async def close(self) -> None:
        """End the transport (WebSocket close 1000, end of stream...)."""
