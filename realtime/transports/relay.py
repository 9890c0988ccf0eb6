"""Stateful reconnect across processes: a connection's new WebSocket held by a process that does not own it.

A client whose socket dropped reconnects to whichever process the load balancer picks. When that is not the
owner (the process its registry entry names), the new socket stays where it arrived and is *relayed*: this
process asks the owner to take it (``RELAY_ATTACH``), forwards what the client sends in order (``RELAY_IN``)
and says when the socket ends (``RELAY_LOST``); the owner writes through a :class:`RemoteSocket`, whose frames
come back as ``RELAY_OUT``. Nothing of the connection moves: groups, presence, running calls and the replay
buffer stay with the owner. When the owner does not answer (it died), the socket is refused with 404: the
client's one reconnect attempt fails and it stops at once, never resumed with a gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from channels.exceptions import ChannelFull

from .. import events, lifetime, loops
from ..endpoints import Resumable
from ..protocol.base import Frame
from ..protocol.negotiate import WEBSOCKETS
from ..registry import new_id
from ..types import Send
from . import claim

logger = logging.getLogger("realtime.transports.relay")

ATTACH_TIMEOUT = 5.0
"""Seconds the owner has to take a relayed socket before it counts as gone."""


# -- the process that holds the socket ---------------------------------------------------------------


class RelayedSocket:
    """A client's WebSocket in this process for a connection that lives on process channel ``owner``."""

    def __init__(self, owner: str, token: str) -> None:
        self.owner = owner
        self.token = token
        self.socket_id = new_id()
        self.closed = False
        self._send: Send | None = None
        self._outbox: deque[Frame | None] = deque()  # None: close the socket
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def attach(self) -> None:
        """Ask the owner to go on over this socket; :class:`claim.Refusal` (404) when it does not."""
        _relayed.get()[self.socket_id] = self
        request = events.relay_attach(self.token, await lifetime.process_channel().start(), self.socket_id)
        try:
            reply = await lifetime.request_channel(self.owner, request, timeout=ATTACH_TIMEOUT)
        except (TimeoutError, ChannelFull):
            reply = {}
        if not reply.get("ok"):
            self._forget()
            logger.info("realtime: the owner of a stateful connection did not take its new socket")
            raise claim.Refusal(404, claim.NO_CONNECTION)

    def open(self, send: Send) -> None:
        """The socket is accepted: write what the owner sent so far, then whatever comes."""
        self._send = send
        self._writer = loops.services().spawn(self._write())

    def deliver(self, frame: Frame | None) -> None:
        """A frame from the owner (``None``: close the socket), written in the order they came."""
        self._outbox.append(frame)
        self._wake.set()

    async def _write(self) -> None:
        assert self._send is not None
        while True:
            while not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            frame = self._outbox.popleft()
            if frame is None:
                self.closed = True
                await self._send({"type": "websocket.close", "code": 1000})
                return
            key = "text" if isinstance(frame, str) else "bytes"
            await self._send({"type": "websocket.send", key: frame})

    async def forward(self, data: Frame) -> None:
        """What the client sent, to the owner."""
        await lifetime.send(self.owner, events.relay_in(self.token, self.socket_id, data))

    async def ended(self, error: Exception | None) -> None:
        """The socket ended: tell the owner (which detaches the connection, or ends it), forget the socket."""
        self._forget()
        if self._writer is not None:
            self._writer.cancel()
        try:
            await lifetime.send(self.owner, events.relay_lost(self.token, self.socket_id, error=error is not None))
        except Exception:  # the owner is gone or its channel is full: its own clock ends the connection
            logger.info("realtime: could not tell the owner that a relayed socket ended", exc_info=True)

    def _forget(self) -> None:
        table = _relayed.current()
        if table is not None and table.get(self.socket_id) is self:
            del table[self.socket_id]


_relayed: loops.PerLoop[dict[str, RelayedSocket]] = loops.PerLoop(dict)


def _on_out(event: events.Event) -> None:
    table = _relayed.current()
    relayed = table.get(event["socket"]) if table is not None else None
    if relayed is not None:
        relayed.deliver(event["frame"])


# -- the owner ----------------------------------------------------------------------------------------


class RemoteSocket:
    """The transport of a connection whose socket process channel ``relay`` holds: frames go through the layer."""

    __slots__ = ("relay", "socket_id", "resume_token", "handler", "closed", "_inbox", "_wake", "_reader")

    name = WEBSOCKETS
    transfer_formats = frozenset({"Text", "Binary"})
    keep_alive = True
    can_pause = False  # the relay's server reads the socket whatever this process does

    def __init__(self, relay: str, socket_id: str, token: str, handler: Resumable) -> None:
        self.relay = relay
        self.socket_id = socket_id
        self.resume_token: str | None = token
        self.handler = handler
        self.closed = False
        self._inbox: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._reader = loops.services().spawn(self._read())

    async def send(self, frame: Frame) -> None:
        """Write one frame (through the layer); raises when this socket is closed or the relay cannot take it."""
        if self.closed:
            raise ConnectionError("The relayed socket is closed.")
        await lifetime.send(self.relay, events.relay_out(self.socket_id, frame))

    async def close(self) -> None:
        """Close the socket where it is held (replaced by a newer one, or the server ends the connection)."""
        if not self.closed:
            self.stop()
            try:
                await lifetime.send(self.relay, events.relay_out(self.socket_id, None))
            except Exception:
                logger.info("realtime: could not close a relayed socket", exc_info=True)

    def feed(self, data: Frame) -> None:
        """What the client sent, to the connection's handler (in order)."""
        if not self.closed:
            self._inbox.append(data)
            self._wake.set()

    def stop(self) -> None:
        """Take nothing more from this socket (what is being handled finishes)."""
        self.closed = True
        self._wake.set()
        table = _remote.current()
        if table is not None and table.get(self.socket_id) is self:
            del table[self.socket_id]

    async def _read(self) -> None:
        while True:
            while not self._inbox:
                if self.closed:
                    return
                self._wake.clear()
                await self._wake.wait()
            await self.handler.receive(self._inbox.popleft())


_remote: loops.PerLoop[dict[str, RemoteSocket]] = loops.PerLoop(dict)


async def _on_attach(event: events.Event) -> None:
    """Take a socket another process holds as the transport of a stateful connection held here."""
    token, ok = event["token"], False
    handler = claim.held(token)
    if handler is not None:
        remote = RemoteSocket(event["relay"], event["socket"], token, handler)
        _remote.get()[remote.socket_id] = remote
        ok = await handler.resume(remote)
        if not ok:
            remote.stop()
    await lifetime.send(event["reply_channel"], events.result(ok=ok))


def _on_in(event: events.Event) -> None:
    table = _remote.current()
    remote = table.get(event["socket"]) if table is not None else None
    if remote is not None:
        remote.feed(event["data"])


async def _on_lost(event: events.Event) -> None:
    table = _remote.current()
    remote = table.get(event["socket"]) if table is not None else None
    if remote is not None:
        remote.stop()
        error = ConnectionError("The relayed WebSocket closed abnormally.") if event["error"] else None
        await claim.socket_ended(remote.handler, remote, event["token"], error)


lifetime.route(events.RELAY_ATTACH, lambda event: loops.services().spawn(_on_attach(event)))
lifetime.route(events.RELAY_IN, _on_in)
lifetime.route(events.RELAY_LOST, lambda event: loops.services().spawn(_on_lost(event)))
lifetime.route(events.RELAY_OUT, _on_out)
