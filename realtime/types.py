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
    """What a hub connection needs from the transport that carries it, and what the transport can do."""

    name: str
    """``WebSockets``, ``ServerSentEvents`` or ``LongPolling``."""
    transfer_formats: frozenset[str]
    keep_alive: bool
    """Whether pings flow and the client timeout applies (not on long polling, whose polls show liveness)."""
    can_pause: bool
    """Whether not reading pushes the client back (see ``realtime.slots``); where it cannot, a client that
    exceeds a bound is closed."""
    resume_token: str | None
    """The connection token when the connection may resume on a new transport (stateful reconnect), else ``None``."""

    async def send(self, frame: str | bytes) -> None:
        """Write one finished chunk to the client."""

    async def close(self) -> None:
        """End the transport (WebSocket close 1000, end of stream...)."""
