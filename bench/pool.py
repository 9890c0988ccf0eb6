"""The comparison run's load generator: client worker processes, each with its own event loop and sockets.

The parent (``bench.run``) sends each worker one command at a time over a pipe and gets one answer back:
open connections (optionally after a negotiate, optionally joining a group), run the closed echo loop, wait
for a warm-up broadcast, start and collect a measured fan-out window, burst new connects, close. Fan-out
members are split across the workers; their send -> receive latencies are comparable across processes
because ``time.perf_counter`` is the machine's monotonic clock. ``PoolMeter`` reads the CPU time of every
client process, so the report can say whether one of them, rather than the server, was the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.common import (
    CONNECT_CONCURRENCY,
    ECHO_PAYLOAD,
    KEEPALIVE_INTERVAL,
    STEP_TIMEOUT,
    client_runner,
    machine_busy_seconds,
    now,
)
from bench.fastsocket import Socket
from bench.hubclient import Deliveries
from bench.wire import DIALECTS, Dialect, call_and_wait, open_socket

CALL_TIMEOUT = 300.0  # bound for one command to one worker


class Worker:
    """The worker side: holds sockets and delivery counts between commands."""

    def __init__(self, pipe: Connection, client_gc: bool) -> None:
        self.pipe, self.client_gc = pipe, client_gc
        self.dialect: Dialect = DIALECTS["signalr"]
        self.sockets: list[Socket] = []
        self.members = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.reset()

    def reset(self) -> None:
        self.deliveries = Deliveries()

    async def serve(self) -> None:
        self.tasks.append(asyncio.create_task(self._keepalive()))
        while True:
            command = await asyncio.to_thread(self.pipe.recv)
            if command["op"] == "exit":
                await self.op_close()
                return
            try:
                answer = await getattr(self, "op_" + command["op"])(**command.get("args", {}))
            except Exception as error:  # the parent reports it; the worker stays up for the next command
                answer = {"error": f"{type(error).__name__}: {error}"}
            self.pipe.send(answer)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            if self.dialect.keepalive is not None:
                for ws in list(self.sockets):
                    with contextlib.suppress(Exception):
                        await ws.send(self.dialect.keepalive)

    async def _read(self, ws: Socket) -> None:
        """Count ``Receive`` payloads by sequence number (latency for the measured ones); answer pings."""
        with contextlib.suppress(Exception):
            while True:
                text = await ws.recv(decode=True)
                arrived = now()
                for payload in self.dialect.deliveries(text):
                    self.deliveries.count(payload, arrived)
                if (pong := self.dialect.reply(text)) is not None:
                    await ws.send(pong)

    async def _gather(self, count: int, concurrency: int, one: Any) -> list[Any]:
        semaphore = asyncio.Semaphore(concurrency)

        async def bounded() -> Any:
            async with semaphore:
                return await one()

        return await asyncio.gather(*(bounded() for _ in range(count)), return_exceptions=True)

    async def op_open(
        self, url: str, dialect: str, count: int, group: str | None = None, read: bool = True
    ) -> dict[str, Any]:
        """Open ``count`` connections (joining ``group``); with ``read``, a reader task per socket."""
        self.dialect = DIALECTS[dialect]
        started = now()

        async def one() -> None:
            ws = await open_socket(self.dialect, url)
            self.sockets.append(ws)
            if group is not None:
                await call_and_wait(self.dialect, ws, 1, "Join", [group])
                self.members += 1
            if read:
                self.tasks.append(asyncio.create_task(self._read(ws)))

        results = await self._gather(count, CONNECT_CONCURRENCY, one)
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        return {"opened": count - len(errors), "errors": errors[:3], "seconds": now() - started}

    async def op_echo(self, seconds: float) -> dict[str, Any]:
        """Closed loop on every socket for ``seconds``: the next Echo as soon as the previous answer is back."""
        counter = [0, 0]  # round trips, wrong answers
        latencies: list[float] = []
        until = now() + seconds

        async def loop(ws: Socket) -> None:
            call_id = 0
            while (started := now()) < until:
                call_id += 1
                result = await call_and_wait(self.dialect, ws, call_id, "Echo", [ECHO_PAYLOAD])
                latencies.append(now() - started)
                counter[0] += 1
                counter[1] += result != ECHO_PAYLOAD

        self._pause_gc()
        try:
            results = await asyncio.gather(*(loop(ws) for ws in self.sockets), return_exceptions=True)
        finally:
            gc.enable()
        failed = [repr(r) for r in results if isinstance(r, BaseException)]
        return {"round_trips": counter[0], "wrong": counter[1] + len(failed), "errors": failed[:3],
                "latencies": latencies, "seconds": seconds}  # fmt: skip

    async def op_wait_sequence(self, sequence: int) -> dict[str, Any]:
        """Wait until each member has ``sequence`` (a warm-up broadcast)."""
        per_sequence = self.deliveries.per_sequence
        ok = await self.deliveries.wait_for(lambda: per_sequence.get(sequence, 0) >= self.members, now() + STEP_TIMEOUT)
        return {"ok": ok}

    async def op_mark(self) -> dict[str, Any]:
        """Start a measured fan-out window: counts from zero, the garbage collector paused."""
        per_sequence = self.deliveries.per_sequence
        self.reset()
        self.deliveries.per_sequence = {s: n for s, n in per_sequence.items() if s < 0}
        self._pause_gc()
        return {}

    async def op_collect(self, broadcasts: int, deadline: float) -> dict[str, Any]:
        """Wait (until ``deadline``, a ``perf_counter`` time) for ``broadcasts`` x members; what arrived."""
        expected = broadcasts * self.members
        deliveries = self.deliveries
        complete = await deliveries.wait_for(lambda: deliveries.total >= expected, deadline)
        gc.enable()
        return {"received": deliveries.total, "expected": expected, "complete": complete,
                "latencies": deliveries.latencies, "last_arrival": deliveries.last_arrival}  # fmt: skip

    async def op_burst(self, url: str, dialect: str, count: int, negotiate: str | None) -> dict[str, Any]:
        """``count`` full connects (negotiate, upgrade, handshake), each kept open; their durations."""
        self.dialect = DIALECTS[dialect]
        durations: list[float] = []

        async def one() -> None:
            started = now()
            ws = await open_socket(self.dialect, url, negotiate)
            durations.append(now() - started)
            self.sockets.append(ws)
            self.tasks.append(asyncio.create_task(self._read(ws)))

        results = await self._gather(count, CONNECT_CONCURRENCY, one)
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        return {"connected": len(durations), "failed": len(errors), "errors": errors[:3], "durations": durations}

    async def op_close(self) -> dict[str, Any]:
        """Close every socket (bounded) and forget them."""
        for task in self.tasks[1:]:
            task.cancel()
        await asyncio.gather(*self.tasks[1:], return_exceptions=True)
        del self.tasks[1:]
        closed = len(self.sockets)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                await self._gather_close()
        self.sockets.clear()
        self.members = 0
        self.reset()
        return {"closed": closed}

    async def _gather_close(self) -> None:
        sockets = iter(list(self.sockets))
        await self._gather(len(self.sockets), 200, lambda: next(sockets).close())

    def _pause_gc(self) -> None:
        if not self.client_gc:
            gc.collect()
            gc.disable()


def worker_main(pipe: Connection, client_gc: bool, no_uvloop: bool) -> None:
    """Entry point of a worker process."""
    runner, _ = client_runner(no_uvloop)
    runner(Worker(pipe, client_gc).serve())


class Pool:
    """``procs`` worker processes (spawned, so no event loop state is inherited), used one command at a time."""

    def __init__(self, procs: int, client_gc: bool, no_uvloop: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(procs):
            parent, child = context.Pipe()
            process = context.Process(target=worker_main, args=(child, client_gc, no_uvloop), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    def split(self, count: int) -> list[int]:
        """``count`` spread over the workers as evenly as possible."""
        size = len(self.pipes)
        return [count // size + (index < count % size) for index in range(size)]

    async def call(self, index: int, op: str, **args: Any) -> dict[str, Any]:
        pipe = self.pipes[index]
        pipe.send({"op": op, "args": args})
        if not await asyncio.to_thread(pipe.poll, CALL_TIMEOUT):
            raise TimeoutError(f"client worker {index}: no answer to {op} within {CALL_TIMEOUT} s")
        answer = pipe.recv()
        if "error" in answer:
            raise RuntimeError(f"client worker {index}, {op}: {answer['error']}")
        return answer

    async def each(self, op: str, per_worker: list[dict[str, Any]] | None = None, **args: Any) -> list[dict[str, Any]]:
        """``op`` on every worker at once (``per_worker`` adds arguments for each)."""
        extra = per_worker or [{} for _ in self.pipes]
        return await asyncio.gather(*(self.call(i, op, **args, **extra[i]) for i in range(len(self.pipes))))

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                pipe.send({"op": "exit"})
        for process in self.processes:
            process.join(timeout=70)
            if process.is_alive():
                process.kill()
                process.join()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PoolMeter:
    """Wall time and CPU over one measured window: the server, every client process (this one and the
    workers), and the rest of the machine. The busiest client process near 100 % means the client was the limit.
    """

    client_gc = False
    CLIENT_BOUND_PCT = 90.0
    MACHINE_BOUND_SHARE = 0.95  # every core busy (server, clients and others together)

    def __init__(self, server: Any, pids: list[int]) -> None:
        self.server, self.pids = server, pids

    def _clients(self) -> list[float]:
        return [time.process_time(), *(process_cpu_seconds(pid) for pid in self.pids)]

    def __enter__(self) -> PoolMeter:
        if not self.client_gc:
            gc.collect()
            gc.disable()
        self.wall0, self.server0, self.clients0 = now(), self.server.cpu_seconds(), self._clients()
        self.machine0 = machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = now() - self.wall0
        self.server_cpu = self.server.cpu_seconds() - self.server0
        self.clients_cpu = [after - before for after, before in zip(self._clients(), self.clients0, strict=True)]
        self.others_cpu = max(0.0, machine_busy_seconds() - self.machine0 - self.server_cpu - sum(self.clients_cpu))
        gc.enable()

    def figures(self, operations: int) -> dict[str, Any]:
        busiest = 100 * max(self.clients_cpu) / self.wall
        return {
            "server_cpu_pct": round(100 * self.server_cpu / self.wall, 1),
            "client_cpu_pct": round(100 * sum(self.clients_cpu) / self.wall, 1),
            "busiest_client_cpu_pct": round(busiest, 1),
            "client_bound": busiest >= self.CLIENT_BOUND_PCT,
            "others_cpu_pct": round(100 * self.others_cpu / self.wall, 1),
            "machine_bound": self.server_cpu + sum(self.clients_cpu) + self.others_cpu
            >= self.MACHINE_BOUND_SHARE * (os.cpu_count() or 1) * self.wall,
            "server_cpu_us_per_op": round(1e6 * self.server_cpu / operations, 1) if operations else None,
        }
