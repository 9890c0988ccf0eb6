"""The WebSockets transport: a Channels consumer that owns its connection.

It reads its socket in a lean loop (no layer channel of its own, no ``await_many_dispatch``):
everything addressed to the connection reaches it through the process's connection table.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from channels.consumer import AsyncConsumer

from .. import local
from ..auth import scope_user
from ..endpoints import ConnectionInfo, Endpoint, hub_endpoint
from ..hubs import Hub
from ..origins import origin_allowed
from ..registry import new_id, registry
from ..request import RequestInfo
from ..types import Receive, Scope, Send

logger = logging.getLogger("realtime.transports.websocket")

CLEAN_CLOSE_CODES = frozenset({1000, 1001})
NAME = "WebSockets"


def pushes_back(receive: Receive) -> bool:
    """Whether the server stops reading the socket while the application does not call ``receive``.

    uvicorn pauses reading (TCP then pushes the client back). Daphne, and Channels' test communicators,
    hand the application ``get`` of an unbounded ``asyncio.Queue`` and queue every frame whatever the
    application does: there, only the application's own bounds protect the server's memory.
    """
    queue = getattr(receive, "__self__", None)
    return not (isinstance(queue, asyncio.Queue) and queue.maxsize <= 0)


class WebsocketTransport(AsyncConsumer):
    """Serve one endpoint over WebSockets; route it with ``WebsocketTransport.for_endpoint(endpoint)``."""

    endpoint: ClassVar[Endpoint]
    name = NAME
    transfer_formats = frozenset({"Text", "Binary"})
    keep_alive = True
    can_pause = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._send = send
        self._closed = False
        self.can_pause = pushes_back(receive)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        request = RequestInfo.from_scope(scope)
        if NAME not in self.endpoint.transports:
            await self._reject(404, f"{NAME} transport not supported by this end point type")
            return
        if not origin_allowed(scope):
            await self._reject(403, "Origin not allowed.")
            return
        status = await self.endpoint.authorize(scope)
        if status is not None:
            await self._reject(status, "")
            return
        token = request.query_value("id") or ""
        user_id = scope_user(scope)[1]
        connection_id = await self._claim(token, user_id) if token else new_id()
        if connection_id is None:
            return
        await send({"type": "websocket.accept"})
        handler = self.endpoint.create(self, ConnectionInfo.from_scope(scope, connection_id))
        try:
            await self._serve(handler, receive, token)
        finally:
            if token:
                local.table().claimed.pop(token, None)
                await registry().release(token)

    async def _claim(self, token: str, user_id: str | None) -> str | None:
        """The negotiated connection id for ``token``; rejects the upgrade and returns ``None`` if refused."""
        owner = await local.table().channel.start()
        claim = await registry().claim(token, NAME, owner)
        if claim is None or claim.entry.endpoint != self.endpoint.name:
            await self._reject(404, "No Connection with that ID")
        elif not claim.claimed:
            if claim.entry.transport == NAME:
                await self._reject(409, "")
            else:
                await self._reject(400, "Cannot change transports mid-connection")
        elif claim.entry.user_id != user_id:
            await self._reject(403, "")
        else:
            table = local.table()
            table.claimed[token] = claim.entry
            table.start_housekeeping()
            return claim.entry.connection_id
        return None

    async def _serve(self, handler: Any, receive: Receive, token: str) -> None:
        handler.open()
        error: Exception | None = None
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    data = message.get("bytes")
                    await handler.receive(data if data is not None else message.get("text") or "")
                elif kind == "websocket.disconnect":
                    code = message.get("code", 1005)
                    if code not in CLEAN_CLOSE_CODES and not self._closed:
                        error = ConnectionError(f"WebSocket closed with status code {code}.")
                    break
        finally:
            self._closed = True
            await handler.closed(error)

    async def _reject(self, status: int, body: str) -> None:
        """Refuse the upgrade with an HTTP status when the server supports it, else a close (HTTP 403)."""
        logger.info("realtime: refused a WebSocket for %s: %s %s", self.endpoint.name, status, body)
        if "websocket.http.response" in self.scope.get("extensions", {}):
            headers = [(b"content-type", b"text/plain")]
            await self._send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await self._send({"type": "websocket.http.response.body", "body": body.encode()})
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
    def for_endpoint(cls, endpoint: Endpoint, **initkwargs: Any) -> Any:
        """The ASGI app serving ``endpoint`` over WebSockets."""
        consumer = type(f"WebsocketTransport[{endpoint.name}]", (cls,), {"endpoint": endpoint})
        return consumer.as_asgi(**initkwargs)

    @classmethod
    def for_hub(cls, hub: type[Hub], **initkwargs: Any) -> Any:
        """The ASGI app serving ``hub`` over WebSockets."""
        return cls.for_endpoint(hub_endpoint(hub), **initkwargs)
