"""One hub connection: identity, the single write path, keep-alive clocks and pending client results.

Theory of operation
-------------------
A transport (WebSocket consumer, SSE request, long-polling owner) creates a ``HubConnection`` and a
``HubDispatcher`` and feeds inbound bytes to the dispatcher. Everything written to the client goes
through :meth:`HubConnection.send_frame` (awaitable, used by the connection's own tasks) or
:meth:`HubConnection.enqueue_frame` (non-blocking, used by the process fan-out loop). Both append to
one outbox drained by one writer at a time, so frames never interleave and a slow client never stalls
anyone else: past ``MAX_OUTBOUND_BYTES`` queued, the connection is closed with an error.

The process's keep-alive clock (``realtime.keepalive``) ticks every connection: :meth:`HubConnection.tick`
enforces the handshake timeout, sends a Ping when nothing was written for ``KEEP_ALIVE_INTERVAL`` and closes
the connection when nothing was read for ``CLIENT_TIMEOUT``, except while the server itself stopped reading
(``reading_paused``: every invocation slot busy, see ``realtime.slots``), as ASP.NET does. A write that
fails means the transport is gone: the connection counts as closing from then on, which also wakes a
receive path that waits for a slot, so it reads the transport's end.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import keepalive
from .conf import hub_option, realtime_settings
from .eager import start_eagerly
from .exceptions import ClientResultError
from .protocol import errors, handshake
from .protocol.base import Frame, HubProtocol
from .protocol.messages import CloseMessage, CompletionMessage, HubMessage, PingMessage
from .request import RequestInfo
from .results import PendingResults
from .resume import Resume, Tagged
from .types import Transport

if TYPE_CHECKING:
    from .hubs import Hub

logger = logging.getLogger("realtime.connection")

current_invocation: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "realtime_current_invocation", default=None
)
"""The task running the current hub method call (so ``context.abort()`` can wait for its answer)."""


NO_GROUPS: frozenset[str] = frozenset()
"""The hub groups of a connection in none (shared: since Python 3.10 each ``frozenset()`` is a new 216-byte object)."""
NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})
"""The claims of every connection opened without an access token (read-only, shared)."""


class State(enum.Enum):
    """Where a connection is in its life."""

    HANDSHAKING = "handshaking"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


class HubConnection:
    """The server side of one client connection to one hub.

    Slotted and lazy (outbox, background tasks): thousands of idle connections are the common case.
    """

    __slots__ = (
        "hub",
        "expires",
        "claims",
        "transport",
        "connection_id",
        "user",
        "user_id",
        "request",
        "_items",
        "protocol",
        "state",
        "hub_groups",
        "reading_paused",
        "max_outbound_bytes",
        "_outbox",
        "_outbox_bytes",
        "_writing",
        "_results",
        "resume",
        "_background",
        "_opened",
        "last_sent",
        "last_received",
        "_timeouts",
        "_ending",
    )

    def __init__(
        self,
        hub: type[Hub],
        transport: Transport,
        *,
        connection_id: str,
        user: Any = None,
        user_id: str | None = None,
        request: RequestInfo | None = None,
        expires: float | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        self.hub = hub
        # when the access token the connection was opened with expires (UNIX time), or None
        self.expires = expires if expires is not None and realtime_settings.CLOSE_ON_TOKEN_EXPIRY else None
        self.claims: Mapping[str, Any] = claims or NO_CLAIMS
        self.transport = transport
        self.connection_id = connection_id
        self.user = user
        self.user_id = user_id
        self.request = request or RequestInfo()
        self._items: dict[Any, Any] | None = None
        self.protocol: HubProtocol | None = None
        self.state = State.HANDSHAKING
        self.hub_groups: set[str] | frozenset[str] = NO_GROUPS
        """Layer groups of the hub groups it is in (a set from its first join: idle connections hold none)."""
        self.reading_paused = False
        """True while the receive path waits for a slot (the client timeout is not enforced then)."""
        self.max_outbound_bytes: int = hub_option(hub, "MAX_OUTBOUND_BYTES")
        self._outbox: deque[Frame] | None = None
        self._outbox_bytes = 0
        self._writing = False
        self._results: PendingResults | None = None  # created with the first client result
        self.resume: Resume | None = None
        """Stateful reconnect, when granted (``realtime.resume``)."""
        self._background: set[asyncio.Task[Any]] | None = None
        self._opened = self.last_sent = self.last_received = time.monotonic()
        self._timeouts = keepalive.timeouts_of(hub)
        self._ending: asyncio.Future[None] | None = None

    @property
    def items(self) -> dict[Any, Any]:
        """Per-connection storage shared by every invocation (created on first use: idle connections hold none)."""
        if self._items is None:
            self._items = {}
        return self._items

    @property
    def items_if_used(self) -> dict[Any, Any] | None:
        """:attr:`items` if hub code ever used it, else ``None``."""
        return self._items

    def __repr__(self) -> str:
        return f"<HubConnection {self.connection_id} {self.hub.__name__} {self.state.value}>"

    # -- writing -------------------------------------------------------------------------------

    def encode(self, message: HubMessage) -> Frame:
        """Encode ``message`` with this connection's hub protocol."""
        assert self.protocol is not None, "no hub protocol before the handshake"
        return self.protocol.write(message)

    async def send(self, message: HubMessage) -> None:
        """Encode and write one message, in order with everything else written to this connection."""
        frame = self.encode(message)
        await self.send_frame(frame if self.resume is None else self.resume.tag(message, frame))

    async def send_frame(self, frame: Frame | Tagged) -> None:
        """Write a finished frame; returns once it is handed to the transport or queued behind a writer."""
        if self.state is State.CLOSED:
            return
        if self._writing:
            self._queue(frame)
            return
        self._writing = True
        try:
            await self._write(frame)
            if self._outbox:  # written behind this one meanwhile (no coroutine for the common empty case)
                await self._drain()
        finally:
            self._writing = False

    def enqueue_frame(self, frame: Frame | Tagged, *, sequenced: bool = True) -> None:
        """Queue a finished frame without waiting (fan-out path); ``sequenced``: an Invocation, not a Ping.

        The write starts at once; only a write that has to wait for the socket continues in a task.
        """
        if self.state is State.CLOSED:
            return
        if not sequenced and self.resume is not None:
            frame = Tagged(frame, sequenced=False)
        if self._writing:
            self._queue(frame)
        else:
            start_eagerly(self.send_frame(frame), self.spawn)

    def deliver(self, frames: Mapping[str, Frame], log: str = "") -> None:
        """Queue the frame of a broadcast encoded for this connection's protocol (``log``: its entry in the
        durable log of stateful reconnect, if any)."""
        if self.protocol is not None and self.state is State.CONNECTED:
            frame = frames.get(self.protocol.name)
            if frame is None:
                logger.warning("realtime: broadcast has no %s frame for %s", self.protocol.name, self.connection_id)
                return
            self.enqueue_frame(frame if not log or self.resume is None else Tagged(frame, log=log))

    def _queue(self, frame: Frame | Tagged) -> None:
        if self._outbox is None:
            self._outbox = deque()
        self._outbox.append(frame)
        self._outbox_bytes += len(frame)
        if self._outbox_bytes > self.max_outbound_bytes and self.state is State.CONNECTED:
            logger.warning(
                "realtime: closing %s: %d bytes queued for a client that does not keep up",
                self.connection_id,
                self._outbox_bytes,
            )
            self._outbox = None
            self._outbox_bytes = 0
            self.spawn(self.abort("Connection closed with an error. The client is too slow to keep up."))

    async def _drain(self) -> None:
        while self._outbox:
            frame = self._outbox.popleft()
            self._outbox_bytes -= len(frame)
            await self._write(frame)
        self._outbox = None  # idle connections keep no queue

    async def _write(self, item: Frame | Tagged) -> None:
        if self.state is State.CLOSED:
            return
        resume = self.resume
        if resume is not None:
            item = await resume.admit(item, self.ending())  # type: ignore[assignment]
            if item is None:
                return  # kept for the replay on the client's next socket (or nothing to write: see Resume.admit)
        self.last_sent = time.monotonic()
        transport = self.transport
        try:
            await transport.send(item)  # type: ignore[arg-type]
        except Exception:  # the transport is gone; its disconnect event ends (or detaches) the connection
            logger.debug("realtime: write to %s failed", self.connection_id, exc_info=True)
            if resume is not None:
                if transport is self.transport:
                    resume.detach()
            elif self.state is State.CONNECTED:
                self.state = State.CLOSING
                self._ended()

    # -- life cycle ----------------------------------------------------------------------------

    def ending(self) -> asyncio.Future[None]:
        """A future that is done once the connection is no longer connected (closing or closed)."""
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_future()
            if self.state in (State.CLOSING, State.CLOSED):
                self._ending.set_result(None)
        return self._ending

    def _ended(self) -> None:
        if self._ending is not None and not self._ending.done():
            self._ending.set_result(None)

    def start_timers(self) -> None:
        """Start ticking on the process's keep-alive clock (called when the transport opens)."""
        keepalive.watch(self, min(self._timeouts))

    def handshake_done(self, protocol: HubProtocol) -> None:
        """Switch to ``protocol``: from now on the keep-alive and client-timeout duties apply."""
        self.protocol = protocol
        self.state = State.CONNECTED
        self.last_received = time.monotonic()

    def tick(self, now: float, stalled: float = 0.0) -> None:
        """Do the clock duties due at ``now`` (``time.monotonic()``); called by the keep-alive clock.

        ``stalled``: seconds the process just stood still, which do not count as the client's silence.
        """
        if stalled:
            self._opened += stalled
            self.last_received += stalled
        handshake_timeout, keep_alive, client_timeout = self._timeouts
        if self.state is State.HANDSHAKING:
            if now - self._opened >= handshake_timeout:
                self.spawn(self.fail_handshake(errors.HANDSHAKE_CANCELED))
            return
        if self.state is not State.CONNECTED:
            return
        if self.resume is not None and self.resume.tick(self, now):
            return  # detached: no socket to keep alive
        if self.expires is not None and time.time() >= self.expires:
            logger.info("realtime: the access token of %s expired; closing", self.connection_id)
            self.spawn(self.abort(errors.CLOSE_TOKEN_EXPIRED, allow_reconnect=True))
        elif not self.transport.keep_alive:
            return
        elif now - self.last_received >= client_timeout and not self.reading_paused:
            logger.info("realtime: %s sent nothing for %.1f s; closing", self.connection_id, client_timeout)
            self.spawn(self.abort(errors.CLOSE_CLIENT_TIMEOUT, allow_reconnect=True))
        elif now - self.last_sent >= keep_alive:
            assert self.protocol is not None
            self.enqueue_frame(self.protocol.write(PingMessage()), sequenced=False)
            self.last_sent = now

    async def fail_handshake(self, error: str) -> None:
        """Answer the handshake with ``error`` and end the transport."""
        if self.state is not State.HANDSHAKING:
            return
        self.state = State.CLOSING
        self._ended()
        await self._write(handshake.handshake_response(error).decode("utf-8"))
        await self.transport.close()

    async def abort(self, error: str | None = None, *, allow_reconnect: bool = False) -> None:
        """Close from the server side: send a Close message (with ``error`` if given), then end the transport."""
        if self.state in (State.CLOSING, State.CLOSED):
            return
        connected = self.state is State.CONNECTED
        self.state = State.CLOSING
        self._ended()
        if connected:
            self._outbox = None
            await self._write(self.encode(CloseMessage(error=error, allow_reconnect=allow_reconnect)))
        await self.transport.close()

    async def close_transport(self) -> None:
        """End the transport without a Close message (the client asked to close)."""
        if self.state not in (State.CLOSING, State.CLOSED):
            self.state = State.CLOSING
            self._ended()
            await self.transport.close()

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``awaitable`` as a task owned by this connection (cancelled when it closes)."""
        task = asyncio.ensure_future(awaitable)
        if self._background is None:
            self._background = set()
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def cleanup(self) -> None:
        """Stop timers and owned tasks, fail pending client results (called once, at disconnect)."""
        self.state = State.CLOSED
        self._ended()
        keepalive.unwatch(self)
        current = asyncio.current_task()
        tasks = [task for task in self._background or () if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._results is not None:
            self._results.fail_all()

    # -- client results ------------------------------------------------------------------------

    async def invoke_client(self, target: str, arguments: list[Any], *, timeout: float) -> Any:
        """Invoke ``target`` on this client and wait for its result.

        Raises ``ClientResultError`` with the client's error text, ``TimeoutError`` after ``timeout``.
        """
        if self.state is not State.CONNECTED:
            raise ClientResultError(f"Connection '{self.connection_id}' is not connected.")
        limit = int(hub_option(self.hub, "MAX_PENDING_CLIENT_RESULTS"))
        if self._results is None:
            self._results = PendingResults()
        if len(self._results) >= limit:
            raise ClientResultError(f"Connection '{self.connection_id}' already has {limit} client results pending.")
        return await self._results.invoke(self, target, arguments, timeout)

    def resolve_result(self, message: CompletionMessage) -> bool:
        """Complete a pending client result; ``False`` when ``message`` answers none."""
        return self._results is not None and self._results.resolve(message)
