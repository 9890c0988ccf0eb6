"""The WebSockets transport: a plain ASGI app whose socket owns its connection.

:class:`WebsocketApp` serves one endpoint; each upgrade it accepts gets a :class:`WebsocketTransport` (what
the connection writes through) and a handler from the endpoint, fed by a lean loop over ``receive`` (no
layer channel of its own, no ``await_many_dispatch``): everything addressed to the connection from
elsewhere reaches it through the process's connection table.
"""

from __future__ import annotations

import asyncio
import logging

from .. import lifetime
from ..endpoints import ConnectionHandlerLike, ConnectionInfo, Endpoint, Resumable
from ..protocol.negotiate import WEBSOCKETS
from ..registry import new_id
from ..request import RequestInfo
from ..types import Receive, Scope, Send
from . import claim
from .relay import RelayedSocket

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


def _abnormal(disconnect: dict, closed_here: bool) -> Exception | None:
    """The error of a socket that ended without a clean close (``None`` for a clean one, or one closed here)."""
    code = disconnect.get("code", 1005)
    if code in CLEAN_CLOSE_CODES or closed_here:
        return None
    return ConnectionError(f"WebSocket closed with status code {code}.")


class WebsocketApp:
    """The ASGI app that serves ``endpoint`` over WebSockets (routed by ``realtime.routing``)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or (await receive())["type"] != "websocket.connect":
            return
        token = RequestInfo.of(scope).query_value("id") or ""
        resumed: Resumable | None = None
        relayed: RelayedSocket | None = None
        try:
            claim.require(self.endpoint, NAME)
            await claim.admit(self.endpoint, scope)
            entry = await claim.claim(self.endpoint, scope, token, NAME) if token else None
            if token and entry is None:  # the connection has its WebSocket: stateful reconnect resumes it on this one
                resumed, relayed = await self._resume_target(scope, token)
        except claim.Refusal as refusal:
            await self._reject(scope, send, refusal)
            return
        await send({"type": "websocket.accept"})
        if relayed is not None:
            await self._relay(relayed, receive, send)
            return
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
        del scope, entry  # the connection took what it needs: its scope (middleware's copy, session) is freed
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
                    error = _abnormal(message, transport.closed)
                    break
        finally:
            transport.closed = True
            await claim.socket_ended(handler, transport, token, error)

    async def _resume_target(self, scope: Scope, token: str) -> tuple[Resumable | None, RelayedSocket | None]:
        """The connection held here that the new socket resumes, or the relay to its owner in another process."""
        entry = await claim.resumable(self.endpoint, scope, token)
        held = claim.held(token)
        if held is not None:
            return held, None
        if entry.owner == await lifetime.process_channel().start():
            raise claim.Refusal(409)  # not granted yet: its first socket is still shaking hands
        relayed = RelayedSocket(entry.owner, token)
        try:
            await relayed.attach()
        except claim.Refusal:  # the owner does not answer: take the connection over if the durable store has it
            adopted = await self.endpoint.adopt(token, entry, scope) if self.endpoint.adopt is not None else None
            if adopted is None:
                raise
            return adopted, None
        return None, relayed

    @staticmethod
    async def _relay(relayed: RelayedSocket, receive: Receive, send: Send) -> None:
        """Carry a socket whose connection lives in another process: frames to and from its owner."""
        relayed.open(send)
        error: Exception | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    if not relayed.closed:
                        data = message.get("bytes")
                        await relayed.forward(data if data is not None else message.get("text") or "")
                elif message["type"] == "websocket.disconnect":
                    error = _abnormal(message, relayed.closed)
                    break
        finally:
            await relayed.ended(error)

    async def _reject(self, scope: Scope, send: Send, refusal: claim.Refusal) -> None:
        logger.info("realtime: refused a WebSocket for %s: %s %s", self.endpoint.name, refusal.status, refusal.body)
        await refuse(scope, send, refusal.status, refusal.body.encode())


async def refuse(scope: Scope, send: Send, status: int, body: bytes) -> None:
    """Refuse a WebSocket upgrade with an HTTP status when the server supports it, else a close (HTTP 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": claim.TEXT})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
