"""The client of ``bench.resume``: SignalR JSON over WebSockets, version 1 or with stateful reconnect done by hand.

A :class:`HubSocket` negotiates (``useStatefulReconnect=true`` when stateful), opens the WebSocket with the
connection token and shakes hands with version 2 (1 without stateful reconnect). With stateful reconnect it does
what the official clients' ``MessageBuffer`` does (protocol.md §13): it counts the sequenced messages it receives
(types 1-5, implicit ids from 1), drops those it processed before, acknowledges the newest at most once a second
(:class:`Acker`), keeps what it sent until the server acknowledges it, and when its socket drops it opens one new
socket for the same token at once (no negotiate, no handshake), sends ``Sequence`` and replays what the server has
not acknowledged. Version 1 runs the same code without the bookkeeping, so the two sides of a comparison differ
only in the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.common import PING, RS, STEP_TIMEOUT, now
from bench.scaleout import HttpConnection

SEQUENCED = frozenset("12345")  # the type digit of Invocation .. CancelInvocation, in '{"type":N'
ACK_INTERVAL = 1.0
PING_EVERY = 10  # Acker ticks


class HubSocket:
    """One hub connection of the bench (see the module docstring).

    ``on_invocation(record, arrived)`` gets each server Invocation the application would see (one JSON record,
    without its separator); Completions resolve :meth:`invoke`'s futures. ``cut_at`` is set by whoever cuts the
    socket, so the gap is measured from the cut; ``gaps`` lists each (cut, resumed) pair.
    """

    def __init__(
        self,
        port: int,
        path: str,
        *,
        stateful: bool,
        on_invocation: Callable[[str, float], None] | None = None,
    ) -> None:
        self.port = port
        self.path = path
        self.stateful = stateful
        self.on_invocation = on_invocation
        self.token = ""
        self.connection_id = ""
        self.ws: ClientConnection | None = None
        self.attached = False
        self.closing = False
        self.error: str | None = None
        """Why the connection ended (a refused reconnect, a Close from the server), or ``None``."""
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.completion_errors = 0
        self.ids = itertools.count(1)
        # stateful reconnect: what was received (implicit ids) and what was sent and not acknowledged
        self.next_id = 1
        self.latest = 0
        self.acked = 0
        self.replayed = 0
        """Sequenced messages the server replayed that were processed before (dropped here, as the clients do)."""
        self.sent_id = 0
        self.sent: deque[tuple[int, str]] = deque()
        self.cut_at: float | None = None
        self.gaps: list[tuple[float, float]] = []
        self.unplanned = 0
        """Socket losses nobody asked for (no ``cut_at`` set)."""
        self.on_resumed: Callable[[HubSocket], None] | None = None
        """Called once a new socket carries the connection (``Sequence`` sent and the replay written)."""
        self._reader: asyncio.Task[None] | None = None

    @property
    def local_port(self) -> int | None:
        """The client-side port of the current socket (how the proxy knows it)."""
        sockname = self.ws.transport.get_extra_info("sockname") if self.ws is not None else None
        return sockname[1] if sockname else None

    async def open(self) -> None:
        """Negotiate, connect and shake hands; then read in a task of its own."""
        http = HttpConnection(self.port)
        query = "negotiateVersion=1" + ("&useStatefulReconnect=true" if self.stateful else "")
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                status, body = await http.request("POST", f"{self.path}/negotiate?{query}")
        finally:
            await http.close()
        if status != 200:
            raise RuntimeError(f"negotiate answered {status}: {body[:200]!r}")
        answer = json.loads(body)
        if bool(answer.get("useStatefulReconnect")) != self.stateful:
            raise RuntimeError(f"stateful reconnect {'not ' if self.stateful else ''}granted: {answer}")
        self.token = answer["connectionToken"]
        self.connection_id = answer.get("connectionId", "")
        self.ws = await self._connect()
        version = 2 if self.stateful else 1
        await self.ws.send(json.dumps({"protocol": "json", "version": version}) + RS)
        async with asyncio.timeout(STEP_TIMEOUT):
            reply = await self.ws.recv()
        if not isinstance(reply, str) or not reply.startswith("{}" + RS):
            raise RuntimeError(f"bad handshake reply: {reply!r}")
        self.attached = True
        self._feed(reply[3:], now())
        self._reader = asyncio.create_task(self._read())

    async def _connect(self) -> ClientConnection:
        url = f"ws://127.0.0.1:{self.port}{self.path}?id={self.token}"
        return await connect(
            url, compression=None, proxy=None, ping_interval=None, open_timeout=STEP_TIMEOUT, close_timeout=2
        )

    # -- receiving ----------------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            ws = self.ws
            assert ws is not None
            with contextlib.suppress(ConnectionClosed):
                async for data in ws:
                    self._feed(data, now())  # type: ignore[arg-type]
            self.attached = False
            if self.closing or self.error is not None:
                return
            if not self.stateful:
                self.error = "the socket dropped (version 1: no resume)"
                return
            if not await self._reconnect():
                return

    def _feed(self, data: str, arrived: float) -> None:
        for record in data.split(RS):
            if len(record) < 10:
                continue  # the empty tail
            kind = record[8]
            if kind in SEQUENCED and record[9] in ",}":
                if self.stateful:
                    current, self.next_id = self.next_id, self.next_id + 1
                    if current <= self.latest:
                        self.replayed += 1
                        continue
                    self.latest = current
                if kind == "3":
                    self._completion(json.loads(record))
                elif kind == "1" and self.on_invocation is not None:
                    self.on_invocation(record, arrived)
            elif kind == "8":
                acked = json.loads(record)["sequenceId"]
                while self.sent and self.sent[0][0] <= acked:
                    self.sent.popleft()
            elif kind == "9":
                sequence_id = json.loads(record)["sequenceId"]
                if not 1 <= sequence_id <= self.latest + 1:  # a gap: the clients stop here
                    self.error = f"Sequence {sequence_id} out of range (processed up to {self.latest})"
                    if self.ws is not None:
                        asyncio.ensure_future(self.ws.close())
                self.next_id = sequence_id
            elif kind == "7":
                self.error = f"Close from the server: {record}"

    def _completion(self, message: dict[str, Any]) -> None:
        self.completion_errors += "error" in message
        future = self.pending.pop(message.get("invocationId", ""), None)
        if future is not None and not future.done():
            future.set_result(message)

    # -- sending ------------------------------------------------------------------------------------------

    async def invoke(self, target: str, arguments: list[Any]) -> asyncio.Future[Any]:
        """Send a blocking Invocation; the future completes with its Completion (a dict)."""
        invocation_id = str(next(self.ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[invocation_id] = future
        message = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": arguments}
        await self._send_sequenced(json.dumps(message, separators=(",", ":")) + RS)
        return future

    async def _send_sequenced(self, frame: str) -> None:
        if self.stateful:
            self.sent_id += 1
            self.sent.append((self.sent_id, frame))
        if self.attached:  # else the replay on the next socket sends it
            with contextlib.suppress(ConnectionClosed):
                assert self.ws is not None
                await self.ws.send(frame)

    async def tick(self, ping: bool) -> None:
        """The Acker's turn: an Ack when messages arrived since the last one, and a Ping when ``ping``."""
        if not self.attached or self.ws is None:
            return
        frames = ""
        if self.stateful and self.latest > self.acked:
            self.acked = self.latest
            frames += f'{{"type":8,"sequenceId":{self.latest}}}{RS}'
        if ping:
            frames += PING
        if frames:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(frames)

    # -- reconnecting -------------------------------------------------------------------------------------

    async def _reconnect(self) -> bool:
        """One new socket for the token, as the official clients do; ``False`` (with :attr:`error`) if refused."""
        cut_at, self.cut_at = self.cut_at, None
        if cut_at is None:
            self.unplanned += 1
            cut_at = now()
        try:
            self.ws = await self._connect()
        except InvalidStatus as exc:
            self.error = f"reconnect refused with HTTP {exc.response.status_code}"
            return False
        except (OSError, TimeoutError) as exc:
            self.error = f"reconnect failed: {exc!r}"
            return False
        first = self.sent[0][0] if self.sent else self.sent_id + 1
        try:
            await self.ws.send(f'{{"type":9,"sequenceId":{first}}}{RS}')
            done = first - 1
            while self.sent and self.sent[-1][0] > done:  # frames sent meanwhile are kept only: replay them too
                for sequence_id, frame in list(self.sent):
                    if sequence_id > done:
                        await self.ws.send(frame)
                        done = sequence_id
        except ConnectionClosed:
            pass  # cut again already: the reader sees it and reconnects
        self.attached = True
        self.gaps.append((cut_at, now()))
        if self.on_resumed is not None:
            self.on_resumed(self)
        return True

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send('{"type":7}' + RS)
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.gather(self._reader, return_exceptions=True)
            self._reader.cancel()


class Acker:
    """Acks (stateful sockets) every second and Pings every ten seconds, for every socket in :attr:`sockets`."""

    def __init__(self) -> None:
        self.sockets: list[HubSocket] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Acker:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        async with asyncio.timeout(60):
            await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)
        self.sockets.clear()

    async def _run(self) -> None:
        for turn in itertools.count(1):
            await asyncio.sleep(ACK_INTERVAL)
            ping = turn % PING_EVERY == 0
            for socket in list(self.sockets):
                await socket.tick(ping)
