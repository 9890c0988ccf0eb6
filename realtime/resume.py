"""Stateful reconnect of one hub connection: what it keeps for a replay, and whether a socket carries it now.

A connection granted stateful reconnect (negotiate ``useStatefulReconnect``, handshake version 2, WebSockets)
gets a :class:`Resume`. Every sequenced frame it writes is kept (:meth:`Resume.keep`) until the client
acknowledges it; a writer waits while ``STATEFUL_RECONNECT_BUFFER_SIZE`` bytes are unacknowledged. When the
socket drops, the connection is *detached*, not ended: hub methods keep running, groups and presence stay,
and what is written meanwhile is kept. A new socket for the same connection token within
``DISCONNECT_TIMEOUT`` takes the old one's place: the server sends ``Sequence`` and replays what the client
has not acknowledged, the client does the same, and each side drops what it already processed
(``realtime.protocol.stateful``). After the window, the connection ends as an ordinary disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .protocol.base import Frame
from .protocol.stateful import ReceivedSequence, SentFrames
from .types import Transport

logger = logging.getLogger("realtime.resume")

ACK_INTERVAL = 1.0
"""Seconds between two Acks at the most (the official clients' rate)."""


class Unsequenced:
    """A frame that carries no sequence id (Ping, Ack, Sequence, Close), as queued on a resumable connection."""

    __slots__ = ("frame",)

    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)


class Resume:
    """The stateful-reconnect state of one connection."""

    __slots__ = ("token", "window", "sent", "received", "detached_at", "replaying", "expire", "_room", "_acked_at")

    def __init__(self, token: str, *, buffer_size: int, window: float) -> None:
        self.token = token
        """The connection token a reconnecting socket presents."""
        self.window = window
        """Seconds a detached connection waits for its client (``DISCONNECT_TIMEOUT``)."""
        self.sent = SentFrames(buffer_size)
        self.received = ReceivedSequence()
        self.detached_at: float | None = None
        """When the socket was lost (``time.monotonic()``); ``None`` while one carries the connection."""
        self.replaying = False
        """While the frames kept are being written to a new socket: new frames are only kept meanwhile."""
        self.expire: Callable[[], Awaitable[None]] | None = None
        """Ends the connection when the window passed (set by the dispatcher, run by the keep-alive clock)."""
        self._room: asyncio.Event | None = None
        self._acked_at = 0.0

    @property
    def attached(self) -> bool:
        """Whether a socket carries the connection and takes new frames now (not detached, not replaying)."""
        return self.detached_at is None and not self.replaying

    async def keep(self, frame: Frame, ending: asyncio.Future[Any]) -> bool:
        """Keep a sequenced frame for a replay, after waiting while the buffer is full; ``False`` if the connection
        ended while waiting (the frame is then dropped with it)."""
        while self.sent.full:
            if self._room is None:
                self._room = asyncio.Event()
            room = asyncio.ensure_future(self._room.wait())
            try:
                await asyncio.wait((room, ending), return_when=asyncio.FIRST_COMPLETED)
            finally:
                room.cancel()
            if ending.done():
                return False
        self.sent.add(frame)
        return True

    def ack(self, sequence_id: int) -> None:
        """An Ack from the client; wakes writers waiting for room. Raises ``RemoteProtocolError`` when out of range."""
        self.sent.ack(sequence_id)
        if self._room is not None and not self.sent.full:
            self._room.set()
            self._room = None

    def ack_due(self, now: float) -> int | None:
        """The sequence id to acknowledge now, if any (at most one Ack per :data:`ACK_INTERVAL`)."""
        if not self.received.ack_due or not self.attached or now - self._acked_at < ACK_INTERVAL:
            return None
        self._acked_at = now
        self.received.acked = self.received.latest
        return self.received.latest

    async def replay(self, transport: Transport, sequence: Frame) -> bool:
        """Write ``sequence`` (the ``Sequence`` message of the first unacknowledged id) and every frame kept from
        that id on to ``transport``; ``False`` when the socket failed meanwhile.

        Frames written by the connection during the replay are only kept (:attr:`replaying`), and replayed here
        too: it ends once none is left unsent, and the caller clears :attr:`replaying` without awaiting.
        """
        self.detached_at = None
        self.replaying = True
        next_id = self.sent.first_unacked_id()
        try:
            await transport.send(sequence)
            while (frame := self.sent.frame(next_id)) is not None:
                await transport.send(frame)
                next_id += 1
        except Exception:
            logger.debug("realtime: replay over a new socket failed", exc_info=True)
            return False
        return True

    def detach(self) -> None:
        """The socket is gone: keep the connection for :attr:`window` seconds."""
        if self.detached_at is None:
            self.detached_at = time.monotonic()
        self.replaying = False

    def expired(self, now: float) -> bool:
        """Whether the client did not come back within the window."""
        return self.detached_at is not None and now - self.detached_at >= self.window
