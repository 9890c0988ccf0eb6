"""The WebSockets transport: a Channels consumer that owns its hub connection.

It reads its socket in a lean loop (no layer channel of its own, no ``await_many_dispatch``):
everything addressed to the connection reaches it through the process's connection table.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from channels.consumer import AsyncConsumer

from ..auth import scope_user
from ..connection import HubConnection
from ..dispatcher import HubDispatcher
from ..hubs import Hub
from ..registry import new_id, registry
from ..request import RequestInfo
from ..types import Receive, Scope, Send

logger = logging.getLogger("realtime.transports.websocket")

CLEAN_CLOSE_CODES = frozenset({1000, 1001})


class HubWebsocketConsumer(AsyncConsumer):
    """Serve one hub over WebSockets; route it with ``HubWebsocketConsumer.as_asgi(hub=MyHub)``."""

    hub: ClassVar[type[Hub]]
    name = "WebSockets"
    transfer_formats = frozenset({"Text", "Binary"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._send = send
        self._closed = False
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        connection_id = await self._connection_id(scope)
        if connection_id is None:
            await self._reject(404, b"No Connection with that ID")
            return
        await send({"type": "websocket.accept"})
        await self._serve(connection_id, receive)

    async def _connection_id(self, scope: Scope) -> str | None:
        """A new id for skipNegotiation; the negotiated one for a valid ``id``; ``None`` otherwise."""
        token = RequestInfo.from_scope(scope).query_value("id")
        if not token:
            return new_id()
        entry = await registry().claim(token)
        if entry is None or entry.hub != self.hub.hub_name():
            return None
        return entry.connection_id

    async def _serve(self, connection_id: str, receive: Receive) -> None:
        user, user_id = scope_user(self.scope)
        connection = HubConnection(
            self.hub,
            self,
            connection_id=connection_id,
            user=user,
            user_id=user_id,
            request=RequestInfo.from_scope(self.scope),
        )
        dispatcher = HubDispatcher(connection)
        dispatcher.open()
        error: Exception | None = None
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    data = message.get("bytes")
                    await dispatcher.receive(data if data is not None else message.get("text") or "")
                elif kind == "websocket.disconnect":
                    code = message.get("code", 1005)
                    if code not in CLEAN_CLOSE_CODES and not self._closed:
                        error = ConnectionError(f"WebSocket closed with status code {code}.")
                    break
        finally:
            self._closed = True
            await dispatcher.closed(error)

    async def _reject(self, status: int, body: bytes) -> None:
        """Refuse the upgrade with an HTTP status when the server supports it, else a close (HTTP 403)."""
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await self._send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await self._send({"type": "websocket.http.response.body", "body": body})
        else:
            await self._send({"type": "websocket.close", "code": 1008})

    # -- Transport ---------------------------------------------------------------------------------

    async def send(self, frame: str | bytes) -> None:  # type: ignore[override]
        """Write one frame: text for JSON, binary for MessagePack."""
        if self._closed:
            return
        key = "text" if isinstance(frame, str) else "bytes"
        await self._send({"type": "websocket.send", key: frame})

    async def close(self) -> None:
        """Close the socket with 1000 (after a Close message, when the server ends the connection)."""
        if not self._closed:
            self._closed = True
            await self._send({"type": "websocket.close", "code": 1000})

    @classmethod
    def for_hub(cls, hub: type[Hub], **initkwargs: Any) -> Any:
        """The ASGI app serving ``hub``."""
        consumer = type(f"{hub.__name__}WebsocketConsumer", (cls,), {"hub": hub})
        return consumer.as_asgi(**initkwargs)
