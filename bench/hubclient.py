"""The SignalR JSON client of the benchmarks: connect and handshake, invocations, deliveries, the sender.

It speaks just the bytes the bench needs, over the ``websockets`` asyncio client (``compression=None``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    CONNECT_CONCURRENCY,
    ECHO_PAYLOAD,
    FANOUT_PAD,
    HANDSHAKE,
    KEEPALIVE_INTERVAL,
    PING,
    RS,
    STEP_TIMEOUT,
    ms,
    now,
    percentile,
)

# -- the client ---------------------------------------------------------------------------------------


async def open_connection(url: str) -> ClientConnection:
    """Connect and do the SignalR JSON handshake (the same bytes for the hub and the raw consumers)."""
    ws = await connect(
        url, compression=None, proxy=None, ping_interval=None, open_timeout=STEP_TIMEOUT, close_timeout=2
    )
    try:
        await ws.send(HANDSHAKE)
        async with asyncio.timeout(STEP_TIMEOUT):
            reply = await ws.recv()
        if not isinstance(reply, str) or not reply.startswith("{}" + RS):
            raise RuntimeError(f"bad handshake reply from {url}: {reply!r}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def invoke_and_wait(ws: ClientConnection, invocation_id: str, target: str, arguments: list[Any]) -> Any:
    """Send a blocking Invocation and read until its Completion (nothing else is expected meanwhile)."""
    await ws.send(invocation(invocation_id, target, arguments))
    async with asyncio.timeout(STEP_TIMEOUT):
        while True:
            for record in (await ws.recv()).split(RS):  # type: ignore[union-attr]
                if record.startswith('{"type":3'):
                    message = json.loads(record)
                    if message.get("invocationId") == invocation_id:
                        if "error" in message:
                            raise RuntimeError(f"{target} failed: {message['error']}")
                        return message.get("result")


def invocation(invocation_id: str, target: str, arguments: list[Any]) -> str:
    message = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": arguments}
    return json.dumps(message, separators=(",", ":")) + RS


async def bounded_gather(factories: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(factory: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await factory()

    return await asyncio.gather(*(run(f) for f in factories))


class Connections:
    """A set of open connections, pinged every ``KEEPALIVE_INTERVAL`` and all closed on exit."""

    def __init__(self) -> None:
        self.sockets: list[ClientConnection] = []
        self._pinger: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Connections:
        self._pinger = asyncio.create_task(self._ping())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
        async with asyncio.timeout(60):
            await bounded_gather([ws.close for ws in self.sockets], 200)
        self.sockets.clear()

    async def open(
        self, url: str, count: int, then: Callable[[ClientConnection], Awaitable[Any]] | None = None
    ) -> None:
        async def one() -> None:
            ws = await open_connection(url)
            self.sockets.append(ws)
            if then is not None:
                await then(ws)

        await bounded_gather([one] * count, CONNECT_CONCURRENCY)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            for ws in list(self.sockets):
                with contextlib.suppress(Exception):
                    await ws.send(PING)


# -- echo ---------------------------------------------------------------------------------------------


async def echo_loop(ws: ClientConnection, until: float, latencies: list[float] | None, counter: list[int]) -> None:
    """Closed loop: send the next Echo as soon as the previous Completion arrives, until ``until``."""
    sequence = 0
    expected = f',"result":{json.dumps(ECHO_PAYLOAD)}}}'
    while True:
        started = now()
        if started >= until:
            return
        sequence += 1
        invocation_id = str(sequence)
        await ws.send(invocation(invocation_id, "Echo", [ECHO_PAYLOAD]))
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                reply = await ws.recv()
                if reply.startswith('{"type":3'):  # type: ignore[union-attr]
                    break
        elapsed = now() - started
        message = json.loads(reply.split(RS, 1)[0])  # type: ignore[union-attr]
        if message.get("invocationId") != invocation_id or not reply.endswith(expected + RS):  # type: ignore[union-attr]
            counter[1] += 1
        counter[0] += 1
        if latencies is not None:
            latencies.append(elapsed)


# -- fan-out ------------------------------------------------------------------------------------------


class Deliveries:
    """What the members received: counts per broadcast sequence number and delivery latencies."""

    def __init__(self) -> None:
        self.per_sequence: dict[int, int] = {}
        self.latencies: list[float] = []
        self.last_arrival = 0.0
        self.total = 0
        self.changed = asyncio.Event()

    def record(self, data: str, arrived: float) -> None:
        for record in data.split(RS):
            if not record.startswith('{"type":1'):
                continue  # Ping, Completion, empty tail
            self.count(json.loads(record)["arguments"][0], arrived)

    def count(self, payload: dict[str, Any], arrived: float) -> None:
        """One ``Receive`` payload (``{"s": sequence, "t": sent at}``; negative sequences are warm-ups)."""
        sequence = payload["s"]
        self.per_sequence[sequence] = self.per_sequence.get(sequence, 0) + 1
        if sequence >= 0:
            self.latencies.append(arrived - payload["t"])
            self.last_arrival = arrived
            self.total += 1
        self.changed.set()

    async def wait_for(self, done: Callable[[], bool], deadline: float) -> bool:
        while not done():
            left = deadline - now()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.2)):
                    await self.changed.wait()
        return True


async def member_reader(ws: ClientConnection, deliveries: Deliveries) -> None:
    with contextlib.suppress(Exception):
        async for data in ws:
            deliveries.record(data, now())  # type: ignore[arg-type]


class Sender:
    """The connection that triggers broadcasts; a reader task matches Completions to pending invocations."""

    def __init__(self, ws: ClientConnection, group: str) -> None:
        self.ws = ws
        self.group = group
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.errors = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for data in self.ws:
                for record in data.split(RS):  # type: ignore[union-attr]
                    if record.startswith('{"type":3'):
                        message = json.loads(record)
                        self.errors += "error" in message
                        future = self.pending.pop(message["invocationId"], None)
                        if future is not None and not future.done():
                            future.set_result(message.get("result"))

    async def broadcast(self, sequence: int) -> asyncio.Future[Any]:
        """Send ``Broadcast(group, {"s": sequence, "t": send time})``; the future completes with its Completion."""
        invocation_id = f"b{sequence}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[invocation_id] = future
        payload = {"s": sequence, "t": now(), "d": FANOUT_PAD}
        await self.ws.send(invocation(invocation_id, "Broadcast", [self.group, payload]))
        return future

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


async def warm_up_broadcasts(sender: Sender, deliveries: Deliveries, members: int) -> None:
    """Two broadcasts nobody counts, each awaited until every member has it."""
    for sequence in (-1, -2):
        async with asyncio.timeout(STEP_TIMEOUT):
            await (await sender.broadcast(sequence))
        await deliveries.wait_for(lambda s=sequence: deliveries.per_sequence.get(s, 0) >= members, now() + STEP_TIMEOUT)


class Broadcaster(Protocol):
    """What triggers broadcasts: this module's :class:`Sender`, or ``bench.wire.Sender`` (every dialect)."""

    async def broadcast(self, sequence: int) -> Awaitable[Any]: ...


async def send_broadcasts(
    sender: Broadcaster,
    members: int,
    mode: str,
    *,
    offered: float,
    seconds: float,
    saturate_deliveries: int,
    time_limit: float,
    grace: float,
) -> tuple[int, float, float]:
    """``rate``: ``offered`` deliveries/s for ``seconds`` (open loop; the Completions get ``grace``);
    ``saturate``: ``saturate_deliveries`` back to back, each broadcast awaited, for at most ``time_limit``
    seconds. The broadcasts sent, the first and the last send time."""
    sent, first_send = 0, now()
    if mode == "rate":
        rate = offered / members  # broadcasts per second
        futures = []
        for sequence in range(max(1, round(seconds * rate))):
            delay = first_send + sequence / rate - now()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await sender.broadcast(sequence))
            sent += 1
        last_send = now()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await asyncio.gather(*futures)
        return sent, first_send, last_send
    for sequence in range(max(1, saturate_deliveries // members)):
        if now() >= first_send + time_limit:
            break
        completion = await sender.broadcast(sequence)
        sent += 1
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                await completion
        except TimeoutError:
            break  # the server stopped answering the sender: count what arrives
    return sent, first_send, now()


async def measure_broadcasts(
    sender: Sender,
    deliveries: Deliveries,
    members: int,
    mode: str,
    meter: Any,
    *,
    offered: float,
    seconds: float,
    saturate_deliveries: int,
    time_limit: float,
    grace: float,
) -> dict[str, Any]:
    """Broadcast to ``members`` while ``meter`` (a ``Meter``-like context) measures; the delivery figures.

    ``rate``: ``offered`` deliveries/s for ``seconds`` (open loop). ``saturate``: ``saturate_deliveries``
    back to back, each broadcast awaited, for at most ``time_limit`` seconds. Late deliveries get ``grace``.
    """
    with meter:
        sent, first_send, last_send = await send_broadcasts(
            sender, members, mode, offered=offered, seconds=seconds, saturate_deliveries=saturate_deliveries,
            time_limit=time_limit, grace=grace,
        )  # fmt: skip
        expected = sent * members
        complete = await deliveries.wait_for(lambda: deliveries.total >= expected, last_send + grace)
    received = deliveries.total
    span = (deliveries.last_arrival - first_send) if received else 0.0
    latencies = sorted(deliveries.latencies)
    return {
        "members": members,
        "mode": mode,
        "broadcasts": sent,
        "offered_deliveries_per_s": offered if mode == "rate" else None,
        "send_seconds": round(last_send - first_send, 3),
        "expected": expected,
        "received": received,
        "lost": expected - received,
        "loss_pct": round(100 * (expected - received) / expected, 3) if expected else None,
        "all_arrived": complete,
        "deliveries_per_s": round(received / span, 1) if span > 0 else None,
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(latencies[-1] if latencies else None),
        "sender_errors": sender.errors,
        **meter.figures(received),
    }
