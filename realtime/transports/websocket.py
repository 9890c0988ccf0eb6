"""The WebSockets transport: a plain ASGI app whose socket owns its connection.

:class:`WebsocketApp` serves one endpoint; each upgrade it accepts gets a :class:`WebsocketTransport` (what
the connection writes through) and a handler from the endpoint, fed by a lean loop over ``receive`` (no
layer channel of its own, no ``await_many_dispatch``): everything addressed to the connection from
elsewhere reaches it through the process's connection table.
"""

from __future__ import annotations

import asyncio
import logging

from ..endpoints import ConnectionHandlerLike, ConnectionInfo, Endpoint, Resumable
from ..protocol.negotiate import WEBSOCKETS
from ..registry import new_id
from ..request import RequestInfo
from ..types import Receive, Scope, Send
from . import claim

logger = logging.getLogger("realtime.transports.websocket")

CLEAN_CLOSE_CODES = frozenset({1000, 1001})
NAME = WEBSOCKETS


def pushes_back(receive: Receive) -> bool:
    """Whether the server stops reading the socket while the application does not call ``receive``.

    uvicorn pauses reading (TCP then pushes the client back). Daphne, and Channels' test communicators,
    hand the application ``get`` of an unbounded ``asyncio.Queue`` and queue every frame whatever the
    application does: there, only the application's own bounds protect the server's memory.
    """
    queue = getattr(receive, "__self__", None)
    return not (isinstance(queue, asyncio.Queue) and queue.maxsize <= 0)


class WebsocketTransport:
    """One accepted WebSocket, as its connection writes to it: text frames for JSON, binary for MessagePack."""

    __slots__ = ("_send", "closed", "can_pause", "resume_token")

    name = NAME
    transfer_formats = frozenset({"Text", "Binary"})
    keep_alive = True

    def __init__(self, send: Send, *, can_pause: bool, resume_token: str | None = None) -> None:
        self._send = send
        self.closed = False
        self.can_pause = can_pause
        self.resume_token = resume_token
        """The connection token, when negotiate granted stateful reconnect: a new socket may take this one's place."""

    async def send(self, frame: str | bytes) -> None:
        """Write one frame."""
        if not self.closed:
            key = "text" if isinstance(frame, str) else "bytes"
            await self._send({"type": "websocket.send", key: frame})

    async def close(self) -> None:
        """Close the socket with 1000 (after a Close message, when the server ends the connection)."""
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": 1000})


class WebsocketApp:
    """The ASGI app that serves ``endpoint`` over WebSockets (routed by ``realtime.routing``)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or (await receive())["type"] != "websocket.connect":
            return
        token = RequestInfo.from_scope(scope).query_value("id") or ""
        resumed: Resumable | None = None
        try:
            claim.require(self.endpoint, NAME)
            await claim.admit(self.endpoint, scope)
            entry = await claim.claim(self.endpoint, scope, token, NAME) if token else None
            if token and entry is None:  # the connection has its WebSocket: stateful reconnect resumes it on this one
                resumed = await claim.resumable(self.endpoint, scope, token)
        except claim.Refusal as refusal:
            await self._reject(scope, send, refusal)
            return
        await send({"type": "websocket.accept"})
        stateful = resumed is not None or (entry is not None and entry.stateful)
        transport = WebsocketTransport(send, can_pause=pushes_back(receive), resume_token=token if stateful else None)
        handler: ConnectionHandlerLike
        if resumed is not None:
            if not await resumed.resume(transport):  # it ended meanwhile: the client's reconnect fails and it stops
                await transport.close()
                return
            handler = resumed
        else:
            connection_id = entry.connection_id if entry is not None else new_id()
            handler = self.endpoint.create(transport, ConnectionInfo.from_scope(scope, connection_id))
            handler.open()
        error: Exception | None = None
        try:  # every frame to the handler until the socket ends (inline: one coroutine frame less per connection)
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    if transport.closed:  # replaced by a newer socket, or closed by the server: read no more
                        continue
                    data = message.get("bytes")
                    await handler.receive(data if data is not None else message.get("text") or "")
                elif kind == "websocket.disconnect":
                    code = message.get("code", 1005)
                    if code not in CLEAN_CLOSE_CODES and not transport.closed:
                        error = ConnectionError(f"WebSocket closed with status code {code}.")
                    break
        finally:
            transport.closed = True
            await self._end(handler, transport, token, error)

    @staticmethod
    async def _end(
        handler: ConnectionHandlerLike, transport: WebsocketTransport, token: str, error: Exception | None
    ) -> None:
        """The socket ended: a resumable connection may go on without it; any other ends here."""
        held = claim.held(token) if transport.resume_token else None
        if held is not None and held is handler and await held.lost(transport, error):
            return
        try:
            await handler.closed(error)
        finally:
            if token:
                await claim.release(token)

    async def _reject(self, scope: Scope, send: Send, refusal: claim.Refusal) -> None:
        """Refuse the upgrade with an HTTP status when the server supports it, else a close (HTTP 403)."""
        logger.info("realtime: refused a WebSocket for %s: %s %s", self.endpoint.name, refusal.status, refusal.body)
        if "websocket.http.response" in scope.get("extensions", {}):
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": refusal.body.encode()})
        else:
            await send({"type": "websocket.close", "code": 1008})
