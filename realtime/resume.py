"""Stateful reconnect of one hub connection: what it keeps for a replay, and whether a socket carries it now.

A connection granted stateful reconnect (negotiate ``useStatefulReconnect``, handshake version 2, WebSockets)
gets a :class:`Resume`. Every sequenced frame it writes is kept (:meth:`Resume.admit`) until the client
acknowledges it; a writer waits while ``STATEFUL_RECONNECT_BUFFER_SIZE`` bytes are unacknowledged. When the
socket drops, the connection is *detached*, not ended: hub methods keep running, groups and presence stay,
and what is written meanwhile is kept. A new socket for the same connection token within
``DISCONNECT_TIMEOUT`` takes the old one's place (:meth:`Resume.attach`): the server sends ``Sequence`` and
replays what the client has not acknowledged, the client does the same, and each side drops what it already
processed (``realtime.protocol.stateful``). After the window, the connection ends as an ordinary disconnect.

With a durable store (``realtime.resume_store``), everything the owner keeps is also written there first, so
another process can take the connection over if this one dies (``realtime.takeover``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .eager import start_eagerly
from .protocol.base import Frame
from .protocol.messages import AckMessage, CompletionMessage, HubMessage, SequenceMessage
from .protocol.stateful import SEQUENCED, ReceivedSequence, SentFrames
from .types import Transport

if TYPE_CHECKING:
    from .connection import HubConnection
    from .resume_store import RedisResumeStore

logger = logging.getLogger("realtime.resume")

ACK_INTERVAL = 1.0
"""Seconds between two Acks at the most (the official clients' rate)."""
TRIM_DELAY = 10.0
"""Seconds an acknowledged frame stays in the durable store: a process taking over tells by its log entry that
the frame was delivered, however late the message that carried it reached the owner."""


class Tagged:
    """A frame queued on a resumable connection with what the connection must know of it: whether it carries a
    sequence id (not a Ping, Ack, Sequence or Close), the log entry it came from, the call its Completion ends."""

    __slots__ = ("frame", "sequenced", "log", "call")

    def __init__(self, frame: Frame, *, sequenced: bool = True, log: str = "", call: str = "") -> None:
        self.frame = frame
        self.sequenced = sequenced
        self.log = log
        self.call = call

    def __len__(self) -> int:
        return len(self.frame)


class Resume:
    """The stateful-reconnect state of one connection."""

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
        self.epoch = 0
        """Sockets attached so far: a frame kept before an attach is written by its replay."""
        self.replayed = 0
        """The last sequence id the latest replay wrote: a frame kept during the replay may be written by it."""
        self.expire: Callable[[], Awaitable[None]] | None = None
        """Ends the connection when the window passed (set by the dispatcher, run by the keep-alive clock)."""
        self.evict: Callable[[], Awaitable[None]] | None = None
        """Lets the connection go when another process took it over (set by the dispatcher)."""
        self.store: RedisResumeStore | None = None
        self.owner = ""
        """This process's channel, the owner the durable store knows (with a store)."""
        self.seen_logs: set[str] | None = None
        """After a takeover, the log entries delivered so far (a message may come both from the log and the layer);
        ``None`` otherwise."""
        self._room: asyncio.Event | None = None
        self._acked_at = 0.0
        self._acks: deque[tuple[float, int]] = deque()  # (when, acked id): what the store may drop, later
        self._items = b""
        self._groups: dict[str, float] = {}

    @property
    def attached(self) -> bool:
        """Whether a socket carries the connection and takes new frames now (not detached, not replaying)."""
        return self.detached_at is None and not self.replaying

    # -- writing ------------------------------------------------------------------------------------------

    def tag(self, message: HubMessage, frame: Frame) -> Frame | Tagged:
        """How :meth:`HubConnection.send` queues ``message``: what the write path must know of it."""
        if message.type not in SEQUENCED:
            return Tagged(frame, sequenced=False)
        if isinstance(message, CompletionMessage) and self.store is not None:
            return Tagged(frame, call=message.invocation_id)
        return frame

    async def admit(self, item: Frame | Tagged, ending: asyncio.Future[Any]) -> Frame | None:
        """The frame to write to the socket now, or ``None``: a Ping while no socket is there, a sequenced frame
        kept for the replay on the next socket, a duplicate of a logged message, or the connection ended."""
        tagged = item if isinstance(item, Tagged) else None
        frame = tagged.frame if tagged is not None else item
        if tagged is not None and not tagged.sequenced:
            return frame if self.attached else None
        log = tagged.log if tagged is not None else ""
        if log and self.seen_logs is not None:
            if log in self.seen_logs:
                return None
            self.seen_logs.add(log)
        kept = await self._keep(frame, ending, log, tagged.call if tagged is not None else "")
        if kept is None:
            return None
        sequence_id, epoch = kept
        # a socket attached since the frame was kept, or a replay under way when it was, wrote it already: written
        # once, by whichever came first (with a store, the replay may reach it while its write to Redis is awaited)
        return frame if epoch == self.epoch and self.attached and sequence_id > self.replayed else None

    async def _keep(self, frame: Frame, ending: asyncio.Future[Any], log: str, call: str) -> tuple[int, int] | None:
        """Keep a sequenced frame for a replay (in the durable store first, if any), after waiting while the buffer
        is full; its sequence id and the :attr:`epoch` it was kept in, or ``None`` if the connection ended (or was
        taken over)."""
        while self.sent.full:
            if self._room is None:
                self._room = asyncio.Event()
            room = asyncio.ensure_future(self._room.wait())
            try:
                await asyncio.wait((room, ending), return_when=asyncio.FIRST_COMPLETED)
            finally:
                room.cancel()
            if ending.done():
                return None
        sequence_id, epoch = self.sent.add(frame), self.epoch
        if self.store is not None and not await self.store.keep(self.token, self.owner, sequence_id, frame, log, call):
            self._evicted()
            return None
        return sequence_id, epoch

    # -- what the client sends --------------------------------------------------------------------------------

    async def accept(self, message: HubMessage) -> bool:
        """Count a sequenced message of the client; ``False`` for one processed before (a replayed duplicate).
        With a store, the count is written before the message is handled: a process taking over knows it."""
        if not self.received.accept():
            return False
        if self.store is None:
            return True
        call = getattr(message, "invocation_id", None) or ""
        if await self.store.received(self.token, self.owner, self.received.latest, call):
            return True
        self._evicted()
        return False

    def ack(self, sequence_id: int, spawn: Callable[[Awaitable[Any]], Any]) -> None:
        """An Ack from the client; wakes writers waiting for room. Raises ``RemoteProtocolError`` when out of range."""
        self.sent.ack(sequence_id)
        if self._room is not None and not self.sent.full:
            self._room.set()
            self._room = None
        if self.store is not None:
            now = time.monotonic()
            self._acks.append((now, sequence_id))
            trim = 0
            while self._acks and now - self._acks[0][0] >= TRIM_DELAY:
                trim = self._acks.popleft()[1] + 1
            spawn(self.store.acked(self.token, self.owner, sequence_id, trim))

    # -- durable state ----------------------------------------------------------------------------------------

    def joined(self, layer_group: str, spawn: Callable[[Awaitable[Any]], Any], *, at: float | None = None) -> None:
        """The connection joined a hub group (its layer group), now or ``at`` (UNIX time, when taken over)."""
        if self.store is not None:
            self._groups[layer_group] = time.time() if at is None else at
            spawn(self._saved(self.store.set(self.token, self.owner, "groups", json.dumps(self._groups))))

    def restore_groups(self, groups: dict[str, float]) -> None:
        """The hub groups (layer group -> when it joined) of a connection taken over."""
        self._groups = dict(groups)

    def left(self, layer_group: str, spawn: Callable[[Awaitable[Any]], Any]) -> None:
        """The connection left a hub group."""
        if self.store is not None and self._groups.pop(layer_group, None) is not None:
            spawn(self._saved(self.store.set(self.token, self.owner, "groups", json.dumps(self._groups))))

    def save_items(self, items: dict[Any, Any] | None, spawn: Callable[[Awaitable[Any]], Any]) -> None:
        """``context.items`` after a call or hook: written when it changed (values that pickle cannot take are
        left out, with a warning)."""
        if self.store is None or items is None:
            return
        try:
            blob = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            logger.warning("realtime: context.items of a stateful connection cannot be kept durably: %s", exc)
            return
        if blob != self._items:
            self._items = blob
            spawn(self._saved(self.store.set(self.token, self.owner, "items", blob)))

    async def _saved(self, write: Awaitable[bool]) -> None:
        if not await write:
            self._evicted()

    def _evicted(self) -> None:
        if self.evict is not None:
            evict, self.evict = self.evict, None
            asyncio.ensure_future(evict())

    # -- the socket ---------------------------------------------------------------------------------------

    def tick(self, connection: HubConnection, now: float) -> bool:
        """The keep-alive clock's duties of stateful reconnect; ``True`` while detached (no socket to keep alive)."""
        if self.detached_at is not None:
            if now - self.detached_at >= self.window and self.expire is not None:
                expire, self.expire = self.expire, None
                connection.spawn(expire())
            return True
        if self.received.ack_due and self.attached and now - self._acked_at >= ACK_INTERVAL:
            self._acked_at = now
            self.received.acked = self.received.latest
            assert connection.protocol is not None
            connection.enqueue_frame(
                connection.protocol.write(AckMessage(sequence_id=self.received.latest)), sequenced=False
            )
        return False

    def detach(self) -> None:
        """The socket is gone: keep the connection for :attr:`window` seconds."""
        if self.detached_at is None:
            self.detached_at = time.monotonic()
        self.replaying = False

    async def attach(self, connection: HubConnection, transport: Transport) -> None:
        """Go on over ``transport``, the client's new socket: close the old one if it still looks open, announce
        with ``Sequence`` the first frame the client has not acknowledged, and replay from it.

        Frames written meanwhile are only kept (:attr:`replaying`) and replayed here too: the replay ends once none
        is left unsent, and :attr:`replaying` is cleared without an await after the last check.
        """
        assert connection.protocol is not None
        old, connection.transport = connection.transport, transport
        connection.last_received = connection.last_sent = time.monotonic()
        if old is not transport:
            start_eagerly(old.close(), connection.spawn)
        self.detached_at = None
        self.replaying = True
        self.epoch += 1
        next_id = self.sent.first_unacked_id()
        self.replayed = next_id - 1
        try:
            await transport.send(connection.protocol.write(SequenceMessage(sequence_id=next_id)))
            while (frame := self.sent.frame(next_id)) is not None:
                await transport.send(frame)
                self.replayed = next_id
                next_id += 1
        except Exception:
            logger.debug("realtime: replay to %s failed", connection.connection_id, exc_info=True)
            if transport is connection.transport:
                self.detach()
            return
        if transport is connection.transport:
            self.replaying = False
