"""Benchmark the realtime hub against raw Channels consumers, in the same run, against a real server process.

Usage::

    .venv/bin/python -m bench.run            # full run, 3-4 minutes
    .venv/bin/python -m bench.run --quick    # about a minute
    .venv/bin/python -m bench.run --server uvicorn

Every figure compares ``/benchhub`` (``bench.hubs.BenchHub``) with ``/raw/echo`` or ``/raw/fanout``
(``bench.consumers``) using the same client code and the same wire bytes; only the URL path differs. Each
(scenario, side) pair gets a fresh server process, so the two sides never share memory or leftover state.
Results: a table on stdout and ``bench/results/latest.json`` (server logs next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.servers import free_port, server_command, stop

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
APP = "bench.asgi:application"
SIDES = ("hub", "raw")
PATHS = {
    "hub": {"echo": "/benchhub", "fanout": "/benchhub", "idle": "/benchhub"},
    "raw": {"echo": "/raw/echo", "fanout": "/raw/fanout", "idle": "/raw/echo"},
}
RS = "\x1e"
HANDSHAKE = '{"protocol":"json","version":1}' + RS
PING = '{"type":6}' + RS
KEEPALIVE_INTERVAL = 10.0  # the client pings every connection this often (the JS client: every 15 s)
CONNECT_CONCURRENCY = 100
STEP_TIMEOUT = 20.0  # bound for any single connect / handshake / answer
START_TIMEOUT = 30.0
SCENARIO_TIMEOUT = 300.0  # hard bound for one scenario on one side
ECHO_PAYLOAD = "0123456789abcdef0123456789abcdef"  # 32 characters
FANOUT_PAD = "x" * 32
now = time.perf_counter


@dataclass(frozen=True)
class Plan:
    """How long and how much each scenario runs."""

    echo_clients: tuple[int, ...] = (1, 50)
    echo_seconds: float = 5.0
    echo_warmup: float = 1.0
    fanout_members: tuple[int, ...] = (100, 1000)
    offered_deliveries: float = 1000.0  # per second, all members together
    rate_seconds: float = 20.0
    saturate_deliveries: int = 50_000  # per saturating run: broadcasts = this / members
    saturate_time_limit: float = 30.0
    grace: float = 5.0  # wait this long after the last send for missing deliveries
    idle_connections: int = 1000
    idle_settle: float = 2.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            echo_seconds=2.0,
            echo_warmup=0.5,
            rate_seconds=3.0,
            saturate_deliveries=5_000,
            saturate_time_limit=8.0,
            grace=3.0,
            idle_connections=500,
            idle_settle=0.5,
        )


# -- statistics ---------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (``None`` when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


# -- the server process -------------------------------------------------------------------------------


def client_runner(no_uvloop: bool) -> tuple[Callable[..., Any], str]:
    """How the bench client runs its event loop: ``uvloop.run`` when installed (unless refused), else
    ``asyncio.run``; and the loop's name for the report."""
    if not no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.run, "uvloop"
    return asyncio.run, "asyncio"


def log(text: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(text, file=sys.stderr, flush=True)


class Server:
    """One server process serving ``app`` on a free port; stopped with SIGTERM, then SIGKILL.

    Subclasses choose ``app``, ``settings`` (``None``: the app sets its own) and the environment variables
    of this process that the server must not inherit (``cleared``); ``env`` adds more.
    """

    app = APP
    settings: str | None = "bench.settings"
    cleared: tuple[str, ...] = ()

    def __init__(self, kind: str, label: str, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = RESULTS / f"server-{label}.log"
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process (without waiting for it to accept connections)."""
        env = {key: value for key, value in os.environ.items() if key not in (*self.cleared, "DJANGO_SETTINGS_MODULE")}
        env.update(PYTHONUNBUFFERED="1", **self.env)
        if self.settings is not None:
            env["DJANGO_SETTINGS_MODULE"] = self.settings
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                server_command(self.kind, self.port, self.app, log_level="warning"),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def __enter__(self) -> Server:
        self.launch()
        try:
            self._wait_accepting()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_accepting(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"server did not accept connections within {START_TIMEOUT} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        """VmRSS of the server process, in KiB."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


class Meter:
    """Wall time and CPU time (server process and this client process) over one measured window.

    The client's cyclic garbage collector is paused inside the window (unless ``CLIENT_GC``), so a
    collection in the client (1,000 sockets) does not show up as server latency.
    """

    client_gc = False

    def __init__(self, server: Server) -> None:
        self.server = server

    def __enter__(self) -> Meter:
        if not self.client_gc:
            gc.collect()
            gc.disable()
        self.wall0, self.server0, self.client0 = now(), self.server.cpu_seconds(), time.process_time()
        self.machine0 = machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = now() - self.wall0
        self.server_cpu = self.server.cpu_seconds() - self.server0
        self.client_cpu = time.process_time() - self.client0
        self.others_cpu = max(0.0, machine_busy_seconds() - self.machine0 - self.server_cpu - self.client_cpu)
        gc.enable()

    def figures(self, operations: int) -> dict[str, Any]:
        return {
            "server_cpu_pct": round(100 * self.server_cpu / self.wall, 1),
            "client_cpu_pct": round(100 * self.client_cpu / self.wall, 1),
            "others_cpu_pct": round(100 * self.others_cpu / self.wall, 1),
            "server_cpu_us_per_op": round(1e6 * self.server_cpu / operations, 1) if operations else None,
        }


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine used so far (``/proc/stat``: everything but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    busy = sum(fields[:8]) - idle  # guest time is already counted in user
    return busy / os.sysconf("SC_CLK_TCK")


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


async def run_echo(server: Server, side: str, clients: int, plan: Plan) -> dict[str, Any]:
    url = server.url(PATHS[side]["echo"])
    async with Connections() as connections:
        await connections.open(url, clients)
        warm = [0, 0]
        until = now() + plan.echo_warmup
        await asyncio.gather(*(echo_loop(ws, until, None, warm) for ws in connections.sockets))
        latencies: list[float] = []
        counter = [0, 0]  # round trips, wrong answers
        with Meter(server) as meter:
            until = now() + plan.echo_seconds
            await asyncio.gather(*(echo_loop(ws, until, latencies, counter) for ws in connections.sockets))
    latencies.sort()
    return {
        "round_trips": counter[0],
        "wrong_answers": counter[1],
        "seconds": round(meter.wall, 3),
        "round_trips_per_s": round(counter[0] / meter.wall, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        **meter.figures(counter[0]),
    }


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
            payload = json.loads(record)["arguments"][0]
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
    sent = 0
    with meter:
        first_send = now()
        if mode == "rate":
            rate = offered / members  # broadcasts per second
            count = max(1, round(seconds * rate))
            futures = []
            for sequence in range(count):
                delay = first_send + sequence / rate - now()
                if delay > 0:
                    await asyncio.sleep(delay)
                futures.append(await sender.broadcast(sequence))
                sent += 1
            last_send = now()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(*futures)
        else:
            count = max(1, saturate_deliveries // members)
            stop_sending = first_send + time_limit
            for sequence in range(count):
                if now() >= stop_sending:
                    break
                completion = await sender.broadcast(sequence)
                sent += 1
                try:
                    async with asyncio.timeout(STEP_TIMEOUT):
                        await completion
                except TimeoutError:
                    break  # the server stopped answering the sender: count what arrives
            last_send = now()
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


async def run_fanout(server: Server, side: str, members: int, mode: str, plan: Plan, tag: str) -> dict[str, Any]:
    """``members`` sockets in one group; ``mode`` ``rate`` (offered deliveries/s) or ``saturate`` (back to back)."""
    url = server.url(PATHS[side]["fanout"])
    group = f"bench-{tag}"
    deliveries = Deliveries()
    readers: list[asyncio.Task[None]] = []

    async def join(ws: ClientConnection) -> None:
        await invoke_and_wait(ws, "j", "Join", [group])
        readers.append(asyncio.create_task(member_reader(ws, deliveries)))

    async with Connections() as connections:
        setup_started = now()
        await connections.open(url, members, join)
        setup_seconds = now() - setup_started
        await connections.open(url, 1)
        sender = Sender(connections.sockets[-1], group)
        try:
            await warm_up_broadcasts(sender, deliveries, members)
            figures = await measure_broadcasts(
                sender,
                deliveries,
                members,
                mode,
                Meter(server),
                offered=plan.offered_deliveries,
                seconds=plan.rate_seconds,
                saturate_deliveries=plan.saturate_deliveries,
                time_limit=plan.saturate_time_limit,
                grace=plan.grace,
            )
        finally:
            await sender.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return {**figures, "setup_seconds": round(setup_seconds, 2)}


# -- idle memory --------------------------------------------------------------------------------------


async def run_idle(server: Server, side: str, plan: Plan) -> dict[str, Any]:
    """Server RSS growth per idle connection (after the handshake)."""
    url = server.url(PATHS[side]["idle"])
    async with Connections() as warm:  # load lazy code paths before the baseline
        await warm.open(url, 20)
    await asyncio.sleep(plan.idle_settle)
    before = server.rss_kb()
    async with Connections() as connections:
        await connections.open(url, plan.idle_connections)
        await asyncio.sleep(plan.idle_settle)
        during = server.rss_kb()
    await asyncio.sleep(plan.idle_settle)
    after = server.rss_kb()
    return {
        "connections": plan.idle_connections,
        "rss_before_kb": before,
        "rss_open_kb": during,
        "rss_after_close_kb": after,
        "kib_per_connection": round((during - before) / plan.idle_connections, 2),
        "kb_per_connection": round((during - before) * 1.024 / plan.idle_connections, 2),
    }


# -- orchestration ------------------------------------------------------------------------------------


def fanout_cases(plan: Plan) -> list[tuple[int, str]]:
    return [(members, mode) for members in plan.fanout_members for mode in ("rate", "saturate")]


async def scenario(server_kind: str, name: str, side: str, plan: Plan, log: Callable[[str], None]) -> Any:
    """Run one scenario (``idle``, ``echo`` or ``fanout``) for one side on a fresh server process."""
    with Server(server_kind, f"{name}-{side}") as server:
        # one throw-away handshake so the first measured connection does not pay for imports
        async with Connections() as warm:
            await warm.open(server.url(PATHS[side][name]), 1)
        if name == "idle":
            result = await run_idle(server, side, plan)
            log(f"    {side} idle: {result['kb_per_connection']} KB per connection")
            return result
        results = []
        if name == "echo":
            for clients in plan.echo_clients:
                started = now()
                results.append(await run_echo(server, side, clients, plan))
                figures = results[-1]
                log(
                    f"    {side} echo {clients} clients: {figures['round_trips_per_s']:,.0f}/s "
                    f"p99 {figures['p99_ms']} ms ({now() - started:.1f} s)"
                )
            return results
        for members, mode in fanout_cases(plan):
            started = now()
            results.append(await run_fanout(server, side, members, mode, plan, f"{members}-{mode}"))
            figures = results[-1]
            log(
                f"    {side} fan-out {members} {mode}: {figures['deliveries_per_s'] or 0:,.0f}/s "
                f"p99 {figures['p99_ms']} ms lost {figures['lost']} ({now() - started:.1f} s)"
            )
        return results


async def run_all(server_kind: str, plan: Plan, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    runs: dict[str, dict[str, list[Any]]] = {}
    for name in ("idle", "echo", "fanout"):
        runs[name] = {side: [] for side in SIDES}
        for rep in range(1 if name == "idle" else repeat):
            for side in SIDES if rep % 2 == 0 else SIDES[::-1]:  # alternate who goes first
                started = now()
                log(f"  {name} {side}: fresh {server_kind} process" + (f" (repeat {rep + 1})" if repeat > 1 else ""))
                async with asyncio.timeout(SCENARIO_TIMEOUT):
                    runs[name][side].append(await scenario(server_kind, name, side, plan, log))
                log(f"  {name} {side}: {now() - started:.1f} s")

    def median_run(name: str, side: str, index: int, key: str) -> dict[str, Any]:
        """Of the repeats of case ``index``, the run with the median ``key`` (all values kept in ``repeats``)."""
        candidates = [run[index] for run in runs[name][side]]
        chosen = dict(sorted(candidates, key=lambda r: r[key] or 0)[(len(candidates) - 1) // 2])
        if len(candidates) > 1:
            chosen["repeats"] = [r[key] for r in candidates]
        return chosen

    raw = {
        "echo": {side: [median_run("echo", side, i, "round_trips_per_s") for i in range(len(plan.echo_clients))]
                 for side in SIDES},
        "fanout": {side: [median_run("fanout", side, i, "deliveries_per_s") for i in range(len(fanout_cases(plan)))]
                   for side in SIDES},
        "idle": {side: runs["idle"][side][0] for side in SIDES},
    }  # fmt: skip
    echo = []
    for index, clients in enumerate(plan.echo_clients):
        hub, base = raw["echo"]["hub"][index], raw["echo"]["raw"][index]
        echo.append(
            {
                "clients": clients,
                "hub": hub,
                "raw": base,
                "ratio_hub_raw": ratio(hub["round_trips_per_s"], base["round_trips_per_s"]),
            }
        )
    fanout = []
    for index, (members, mode) in enumerate(fanout_cases(plan)):
        hub, base = raw["fanout"]["hub"][index], raw["fanout"]["raw"][index]
        fanout.append(
            {
                "members": members,
                "mode": mode,
                "hub": hub,
                "raw": base,
                "ratio_hub_raw": ratio(hub["deliveries_per_s"], base["deliveries_per_s"]),
                "p99_ratio_raw_hub": ratio(base["p99_ms"], hub["p99_ms"]),
            }
        )
    idle = {
        "hub": raw["idle"]["hub"],
        "raw": raw["idle"]["raw"],
        "ratio_hub_raw": ratio(raw["idle"]["hub"]["kb_per_connection"], raw["idle"]["raw"]["kb_per_connection"]),
    }
    return {"echo": echo, "fanout": fanout, "idle_memory": idle}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals and architecture.md §3a's stretch goals, checked against this run."""
    echo50 = next((e for e in results["echo"] if e["clients"] == 50), results["echo"][-1])
    saturated = [f for f in results["fanout"] if f["mode"] == "saturate"]
    big_rate = next((f for f in results["fanout"] if f["members"] == 1000 and f["mode"] == "rate"), None)
    hub_kb = results["idle_memory"]["hub"]["kb_per_connection"]
    found = [
        ("echo (50 clients) >= 0.8x raw", echo50["ratio_hub_raw"], lambda r: r is not None and r >= 0.8),
        *(
            (
                f"fan-out {f['members']} members (saturating) > raw",
                f["ratio_hub_raw"],
                lambda r: r is not None and r > 1.0,
            )
            for f in saturated
        ),
        ("stretch: echo (50 clients) >= 1.5x raw", echo50["ratio_hub_raw"], lambda r: r is not None and r >= 1.5),
    ]
    if big_rate is not None:
        hub = big_rate["hub"]
        found.append(
            (
                "stretch: p99 < 50 ms, 1,000 members @ 1,000 deliveries/s, no loss",
                hub["p99_ms"],
                lambda p, h=hub: p is not None and p < 50 and h["lost"] == 0,
            )
        )
    found.append(("stretch: idle memory <= 25 KB per connection", hub_kb, lambda kb: kb is not None and kb <= 25))
    return [{"goal": goal, "value": value, "met": bool(check(value))} for goal, value, check in found]


def fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return format(value, spec)
    return str(value)


CPU_KEYS = ("server_cpu_pct", "client_cpu_pct", "others_cpu_pct")


def table(report: dict[str, Any]) -> str:
    results = report["results"]
    plan = report["plan"]
    lines = [
        f"realtime bench — {report['date']} — server {report['server']} — {report['machine']['cpus']} cores"
        + (" — quick" if report["quick"] else ""),
        "",
        f"Echo, closed loop, {plan['echo_seconds']:g} s (round trips/s; latency ms; server CPU µs per round trip)",
        f"{'clients':>8} | {'hub rt/s':>9} {'p50':>6} {'p99':>6} {'cpu µs':>7} | "
        f"{'raw rt/s':>9} {'p50':>6} {'p99':>6} {'cpu µs':>7} | {'hub/raw':>7}",
    ]
    for row in results["echo"]:
        h, r = row["hub"], row["raw"]
        lines.append(
            f"{row['clients']:>8} | {fmt(h['round_trips_per_s']):>9} {fmt(h['p50_ms'], '.2f'):>6} "
            f"{fmt(h['p99_ms'], '.2f'):>6} {fmt(h['server_cpu_us_per_op']):>7} | "
            f"{fmt(r['round_trips_per_s']):>9} {fmt(r['p50_ms'], '.2f'):>6} {fmt(r['p99_ms'], '.2f'):>6} "
            f"{fmt(r['server_cpu_us_per_op']):>7} | {fmt(row['ratio_hub_raw'], '.2f'):>7}x"
        )
    lines += [
        "",
        f"Fan-out to one group (deliveries/s; latency ms send->receive; loss; server CPU µs per delivery); "
        f"rate = {plan['offered_deliveries']:,.0f} deliveries/s offered for {plan['rate_seconds']:g} s, "
        f"saturate = {plan['saturate_deliveries']:,} deliveries back to back",
        f"{'members/mode':>15} | {'hub del/s':>9} {'p50':>7} {'p99':>7} {'lost':>5} {'cpu µs':>6} | "
        f"{'raw del/s':>9} {'p50':>7} {'p99':>7} {'lost':>5} {'cpu µs':>6} | {'hub/raw':>7} {'p99 raw/hub':>11}",
    ]
    for row in results["fanout"]:
        h, r = row["hub"], row["raw"]
        lines.append(
            f"{row['members']:>6,} {row['mode']:>8} | {fmt(h['deliveries_per_s']):>9} {fmt(h['p50_ms'], '.1f'):>7} "
            f"{fmt(h['p99_ms'], '.1f'):>7} {fmt(h['lost']):>5} {fmt(h['server_cpu_us_per_op']):>6} | "
            f"{fmt(r['deliveries_per_s']):>9} {fmt(r['p50_ms'], '.1f'):>7} {fmt(r['p99_ms'], '.1f'):>7} "
            f"{fmt(r['lost']):>5} {fmt(r['server_cpu_us_per_op']):>6} | {fmt(row['ratio_hub_raw'], '.2f'):>6}x "
            f"{fmt(row['p99_ratio_raw_hub'], '.2f'):>10}x"
        )
    lines += [
        "",
        "CPU in each measured window, % of one core: server / bench client / other processes (2 cores in all)",
    ]
    lines.append(f"{'':>15} | {'hub':>15} | {'raw':>15}")
    cpu_rows = [(f"echo {row['clients']:>3}", row) for row in results["echo"]]
    cpu_rows += [(f"{row['members']:>6,} {row['mode']:>8}", row) for row in results["fanout"]]
    for label, row in cpu_rows:
        cells = [" / ".join(f"{row[side][key]:>3.0f}" for key in CPU_KEYS) for side in SIDES]
        lines.append(f"{label:>15} | {cells[0]:>15} | {cells[1]:>15}")
    idle = results["idle_memory"]
    retained = {
        side: (idle[side]["rss_after_close_kb"] - idle[side]["rss_before_kb"]) * 1.024 / idle[side]["connections"]
        for side in SIDES
    }
    lines += [
        "",
        f"Idle memory: server RSS growth per connection after handshake ({idle['hub']['connections']:,} connections)",
        f"  hub {idle['hub']['kb_per_connection']:.1f} KB   raw {idle['raw']['kb_per_connection']:.1f} KB"
        f"   hub/raw {fmt(idle['ratio_hub_raw'], '.2f')}x   (KB = 1,000 bytes)",
        f"  RSS not given back after closing all: hub {retained['hub']:.1f} KB, "
        f"raw {retained['raw']:.1f} KB per connection",
        "",
        "Goals",
    ]
    for goal in report["goals"]:
        lines.append(f"  [{'met' if goal['met'] else 'NOT met':>7}] {goal['goal']}: {fmt(goal['value'], '.2f')}")
    problems = [
        f"{side} echo {row['clients']}: {row[side]['wrong_answers']} wrong answers"
        for row in results["echo"]
        for side in SIDES
        if row[side]["wrong_answers"]
    ] + [
        f"{side} fan-out {row['members']} {row['mode']}: {row[side]['sender_errors']} failed broadcasts"
        for row in results["fanout"]
        for side in SIDES
        if row[side]["sender_errors"]
    ]
    lines.append("\nWARNING: " + "; ".join(problems) if problems else "\nNo wrong echo answers, no failed broadcasts.")
    lines.append(f"\ntotal {report['elapsed_seconds']:.0f} s")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("django", "channels", "daphne", "uvicorn", "websockets", "twisted", "uvloop"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def raise_fd_limit(needed: int) -> None:
    """Raise the soft open-files limit (the server process inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"need {needed} open files, the hard limit is {hard}")


def write_report(path: Path, report: dict[str, Any], text: str, name: str) -> int:
    """Write ``report`` as JSON to ``path``, print its table ``text``; the exit status of a finished run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    log(f"{name}: wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (about a minute)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--no-uvloop", action="store_true", help="run the client on the default asyncio loop")
    parser.add_argument(
        "--client-gc", action="store_true", help="keep the client's garbage collector on while measuring"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run echo and fan-out N times (alternating sides), report the median run (lower middle if N is even)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    plan = Plan.quick() if args.quick else Plan()
    Meter.client_gc = args.client_gc
    raise_fd_limit(max(plan.idle_connections, *plan.fanout_members) * 2 + 256)
    RESULTS.mkdir(exist_ok=True)
    runner, loop_name = client_runner(args.no_uvloop)
    started = now()
    log(f"bench: server {args.server}, {'quick' if args.quick else 'full'} run, client loop "
        f"{loop_name}")  # fmt: skip
    results = runner(run_all(args.server, plan, max(1, args.repeat), log))
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "server": args.server,
        "quick": args.quick,
        "repeat": max(1, args.repeat),
        "client_loop": loop_name,
        "client_gc_while_measuring": args.client_gc,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "plan": plan.__dict__,
        "results": results,
    }
    report["goals"] = goals(results)
    report["elapsed_seconds"] = round(now() - started, 1)
    return write_report(args.output, report, table(report), "bench")


if __name__ == "__main__":
    sys.exit(main())
