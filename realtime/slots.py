"""Invocation slots: how many hub methods of one connection run at once, and how many wait for a turn.

As in ASP.NET Core SignalR, an invocation of a plain hub method needs one of the connection's
``MAX_PARALLEL_INVOCATIONS`` slots; server streams and methods that take upload streams do not (they are
bounded by ``MAX_STREAMS`` and ``MAX_UPLOAD_STREAMS`` instead, so an upload can never wait behind a slot
that its own items would free). An invocation that finds every slot busy waits for one, in arrival
order; at most ``MAX_QUEUED_INVOCATIONS`` wait per connection. While that many wait, the receive path
stops reading the transport until one starts: the client is pushed back (TCP flow control on
WebSockets, a late answer to its POST on Server-Sent Events and long polling). A server that reads and
queues every frame whatever the application does (Daphne) cannot push back; there the connection is
closed with an error instead.

A hub method that awaits a client result gives its slot back while it waits (:func:`released_slot`), so
the client's answer, read by the same receive path, can never be stuck behind it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_held: contextvars.ContextVar[InvocationSlots | None] = contextvars.ContextVar("realtime_slot", default=None)


class InvocationSlots:
    """The slots of one connection, and the count of invocations waiting for one."""

    __slots__ = ("free", "_turns", "waiting", "limit", "_room")

    def __init__(self, parallel: int, queued: int) -> None:
        self.free = parallel
        """Slots no invocation holds."""
        self._turns: deque[asyncio.Future[None]] = deque()  # invocations waiting for a slot, oldest first
        self.waiting = 0
        """Invocations admitted that do not hold a slot yet."""
        self.limit = queued
        self._room: asyncio.Event | None = None

    @property
    def full(self) -> bool:
        """Whether admitting another invocation would exceed ``MAX_QUEUED_INVOCATIONS``."""
        return self.waiting >= self.limit

    async def room(self) -> None:
        """Return once another invocation may be admitted."""
        while self.full:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def admit(self) -> Slot:
        """Count one more waiting invocation; its :meth:`Slot.run` waits for a slot and holds it."""
        self.waiting += 1
        return Slot(self)

    def _admitted(self) -> None:
        self.waiting -= 1
        if self._room is not None:
            self._room.set()

    async def acquire(self) -> None:
        """Take a slot: at once when one is free and nobody waits, else in arrival order."""
        if self.free and not self._turns:
            self.free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._turns.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if not turn.cancelled():  # (a cancelled turn stays queued until release() skips it)
                self.release()  # handed over just as the wait was cancelled: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the invocation that waited longest, else to the free ones."""
        while self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


class Slot:
    """One admitted invocation's turn: :meth:`run` waits for a free slot, holds it for a call, gives it back."""

    __slots__ = ("_slots",)

    def __init__(self, slots: InvocationSlots) -> None:
        self._slots = slots

    async def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Await ``call`` holding a slot (closed unawaited if the wait for one is cancelled)."""
        slots = self._slots
        try:
            await slots.acquire()
        except BaseException:
            call.close()
            raise
        finally:
            slots._admitted()  # also when cancelled while waiting: it no longer waits
        token = _held.set(slots)
        try:
            return await call
        finally:
            _held.reset(token)
            slots.release()


@asynccontextmanager
async def released_slot() -> AsyncIterator[None]:
    """Give the current invocation's slot back while waiting (for a client result), then take it again."""
    slot = _held.get()
    if slot is None:
        yield
        return
    slot.release()
    _held.set(None)
    try:
        yield
    finally:
        await slot.acquire()
        _held.set(slot)
