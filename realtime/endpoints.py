"""Endpoints: what runs on top of a transport (the ASP.NET ``ConnectionHandler`` analog).

A transport (WebSockets, Server-Sent Events, long polling) moves chunks of bytes; an endpoint turns a
new connection into a handler that receives those chunks and writes its own. Hubs are one kind of
endpoint (:func:`hub_endpoint`); subclass :class:`ConnectionHandler` for a raw one::

    class EchoHandler(ConnectionHandler):
        async def receive(self, data):
            await self.send(data)

    http_routes, websocket_routes = connection_routes({"echo": EchoHandler})
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .conf import realtime_settings
from .request import RequestInfo
from .types import Scope, Transport
from .users import scope_user

if TYPE_CHECKING:
    from .registry import Entry


class ConnectionHandlerLike(Protocol):
    """What a transport drives: ``open`` once, ``receive`` per chunk, ``closed`` once at the end."""

    def open(self) -> None: ...

    async def receive(self, data: bytes | str) -> None: ...

    async def closed(self, exception: Exception | None = None) -> None: ...


class Resumable(ConnectionHandlerLike, Protocol):
    """A handler whose connection survives the loss of its WebSocket (stateful reconnect)."""

    async def lost(self, transport: Transport, exception: Exception | None) -> bool:
        """``transport`` ended; ``True`` when the connection goes on without it (waiting for, or already on,
        another socket), ``False`` when it ends (then :meth:`ConnectionHandlerLike.closed` follows)."""
        ...

    async def resume(self, transport: Transport) -> bool:
        """Go on over ``transport``, a new socket for the connection; ``False`` when the connection has ended."""
        ...


@dataclass(frozen=True)
class ConnectionInfo:
    """Who opened a connection, and from which request."""

    connection_id: str
    user: Any = None
    user_id: str | None = None
    request: RequestInfo = RequestInfo()
    expires: float | None = None
    """When the access token used to connect expires (UNIX time)."""
    claims: dict[str, Any] = field(default_factory=dict)
    """The claims of that access token."""

    @classmethod
    def from_scope(cls, scope: Scope, connection_id: str) -> ConnectionInfo:
        """The info of a connection opened by the request ``scope``."""
        user, user_id = scope_user(scope)
        request = RequestInfo.from_scope(scope)  # a view of its own: the connection keeps no parsed headers while idle
        return cls(connection_id, user, user_id, request, scope.get("auth_expires"), scope.get("auth_claims") or {})


async def allow_all(scope: Scope) -> int | None:
    """The default authorization of raw endpoints: everyone may connect."""
    return None


@dataclass(frozen=True)
class Endpoint:
    """A routable endpoint: identity across processes, transports, handler factory and authorization."""

    name: str
    transports: tuple[str, ...]
    create: Callable[[Transport, ConnectionInfo], ConnectionHandlerLike]
    authorize: Callable[[Scope], Awaitable[int | None]] = allow_all
    """Checked on negotiate and every transport request: ``None`` to allow, else the HTTP status."""
    min_negotiate_version: int = 0
    """Lowest negotiate version answered (``MIN_NEGOTIATE_VERSION``): 1 refuses version 0, whose connection
    token is the public connection id."""
    stateful_reconnect: bool = False
    """Grant stateful reconnect to clients that ask (hubs: ``STATEFUL_RECONNECT``; WebSockets only)."""
    adopt: Callable[[str, Entry, Scope], Awaitable[Resumable | None]] | None = None
    """Take over a stateful connection whose owner died, from the durable store (hubs: ``realtime.takeover``)."""


class ConnectionHandler:
    """Base class of raw (non-hub) endpoints: bytes in, bytes out, over any transport.

    Override :meth:`receive` (and optionally :meth:`on_connected` / :meth:`on_disconnected`).
    """

    transports: ClassVar[list[str] | None] = None
    """Transports this endpoint accepts; ``None`` means ``REALTIME["TRANSPORTS"]``."""

    def __init__(self, transport: Transport, info: ConnectionInfo) -> None:
        self.transport = transport
        self.info = info
        self._lock = asyncio.Lock()

    @classmethod
    def endpoint(cls) -> Endpoint:
        """The :class:`Endpoint` serving this handler class."""
        transports = cls.transports if cls.transports is not None else realtime_settings.TRANSPORTS
        name = f"{cls.__module__}.{cls.__qualname__}"
        minimum = int(realtime_settings.MIN_NEGOTIATE_VERSION)
        return Endpoint(name, tuple(transports), cls, min_negotiate_version=minimum)

    @property
    def connection_id(self) -> str:
        """The public id of this connection."""
        return self.info.connection_id

    def open(self) -> None:
        """Called by the transport when it is open; starts :meth:`on_connected`."""
        self._connected = asyncio.ensure_future(self.on_connected())

    async def receive(self, data: bytes | str) -> None:
        """Called with each chunk the client sent."""

    async def send(self, data: bytes | str) -> None:
        """Write one chunk to the client (in order with every other write)."""
        async with self._lock:
            await self.transport.send(data)

    async def abort(self) -> None:
        """Close the connection from the server side."""
        await self.transport.close()

    async def closed(self, exception: Exception | None = None) -> None:
        """Called by the transport when the connection ended."""
        await self._connected
        await self.on_disconnected(exception)

    async def on_connected(self) -> None:
        """Called when the connection opened."""

    async def on_disconnected(self, exception: Exception | None) -> None:
        """Called when the connection ended; ``exception`` is ``None`` for a clean end."""
