"""Scale-out bench: fan-out across two server processes over Redis, and the HTTP transports next to WebSockets.

Usage::

    .venv/bin/python -m bench.scaleout                    # full run, about 5 minutes
    .venv/bin/python -m bench.scaleout --quick            # under 3 minutes
    .venv/bin/python -m bench.scaleout --server uvicorn
    .venv/bin/python -m bench.scaleout --part layers      # only part 1 (or: --part transports)

Part 1 (layers): ``members`` WebSocket clients in one group, split evenly over two server processes that share
a private ``redis-server``; a sender connected to process 1 calls ``Broadcast``. Once with
``channels_redis.core.RedisChannelLayer`` and once with ``channels_redis.pubsub.RedisPubSubChannelLayer``,
each also on ONE process (all members and the sender on it, same Redis), with two baselines in the same run:
the single-process ``InMemoryChannelLayer``, and raw Channels consumers (``bench.consumers.RawFanoutConsumer``:
one layer channel per connection, ``group_send`` to all of them) on two processes over the core layer, the
usual way a Channels app fans out. For each Redis layer the server CPU per delivery (summed over the server
processes) on 2 processes over 1 process says how the work scales: 1.0 = flat (linear), above 1 = the second
process costs extra per delivery. Throughput cannot say it on 2 cores: the client and two servers do not
each get a core.

Part 2 (transports): one process, in-memory layer; ``N`` clients over WebSockets, Server-Sent Events and long
polling (minimal raw asyncio HTTP/1.1 clients below), each receiving group broadcasts (at a fixed rate, and
saturating), and echo round trips over each transport.

The server is ``bench.asgi:application`` with ``bench.scaleout_settings``; the client code (WebSocket client,
delivery bookkeeping, the sender, statistics) is ``bench.common``'s and ``bench.hubclient``'s. Results: tables on
stdout and ``bench/results/scaleout-latest.json`` (server logs next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import json
import os
import platform
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import redis

from bench.common import (
    CONNECT_CONCURRENCY,
    ECHO_PAYLOAD,
    HANDSHAKE,
    KEEPALIVE_INTERVAL,
    PING,
    RESULTS,
    RS,
    STEP_TIMEOUT,
    Meter,
    client_runner,
    fmt,
    log,
    machine_busy_seconds,
    ms,
    now,
    percentile,
    raise_fd_limit,
    ratio,
    versions,
    write_report,
)
from bench.common import Server as BenchServer
from bench.hubclient import (
    Connections,
    Deliveries,
    Sender,
    bounded_gather,
    invocation,
    invoke_and_wait,
    measure_broadcasts,
    member_reader,
    warm_up_broadcasts,
)
from bench.hubclient import open_connection as open_websocket
from tests.servers import free_port, start_redis, stop

SETTINGS = "bench.scaleout_settings"
HUB_PATH = "/benchhub"
RAW_PATH = "/raw/fanout"  # bench.consumers.RawFanoutConsumer: a layer channel and a group_add per member


@dataclass(frozen=True)
class Layer:
    """One side of part 1: the channel layer (``None``: in-memory), how many server processes, which path."""

    label: str
    channel_layer: str | None
    processes: int
    path: str = HUB_PATH


LAYERS = {
    "memory": Layer("memory, 1 proc", None, 1),
    "core_1proc": Layer("core, 1 proc", "core", 1),
    "core": Layer("core, 2 procs", "core", 2),
    "pubsub_1proc": Layer("pubsub, 1 proc", "pubsub", 1),
    "pubsub": Layer("pubsub, 2 procs", "pubsub", 2),
    "raw": Layer("raw Channels, core", "core", 2, RAW_PATH),
}
SCALING = {"core": "core_1proc", "pubsub": "pubsub_1proc"}  # Redis layer (2 processes) -> its 1-process side
TRANSPORTS = ("websockets", "sse", "longpolling")
TRANSPORT_LABELS = {"websockets": "WebSockets", "sse": "SSE", "longpolling": "long polling"}
CASE_TIMEOUT = 120.0  # hard bound for one measured case, setup and teardown included
MEMBERSHIP_COMMANDS = ("zrem", "subscribe", "unsubscribe")  # group_discard / group_add: not part of a broadcast


@dataclass(frozen=True)
class Plan:
    """How long and how much each part runs."""

    layer_members: tuple[int, ...] = (100, 1000)
    offered_deliveries: float = 1000.0  # per second, all members together (rate rows)
    rate_seconds: float = 10.0
    rate_min_broadcasts: int = 12  # rate rows last longer when needed: 1,000 members at 1,000/s run 12 s
    saturate_deliveries: int = 30_000
    saturate_time_limit: float = 20.0
    grace: float = 5.0
    transport_clients: int = 50
    transport_rate_seconds: float = 8.0
    transport_saturate_deliveries: int = 20_000
    echo_clients: tuple[int, ...] = (1, 50)
    echo_seconds: float = 3.0
    echo_warmup: float = 0.5

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            rate_seconds=3.0,
            rate_min_broadcasts=3,
            saturate_deliveries=5_000,
            saturate_time_limit=8.0,
            grace=3.0,
            transport_rate_seconds=3.0,
            transport_saturate_deliveries=5_000,
            echo_seconds=1.5,
        )


@dataclass(frozen=True)
class FanoutCase:
    """One measured fan-out: ``members`` in one group, ``rate`` (open loop) or ``saturate`` (back to back)."""

    members: int
    mode: str
    offered: float
    seconds: float
    deliveries: int
    time_limit: float
    grace: float


def fanout_cases(members: tuple[int, ...], plan: Plan, *, rate_seconds: float, deliveries: int) -> list[FanoutCase]:
    cases = []
    for count in members:
        seconds = max(rate_seconds, plan.rate_min_broadcasts * count / plan.offered_deliveries)
        for mode in ("rate", "saturate"):
            cases.append(
                FanoutCase(
                    count, mode, plan.offered_deliveries, seconds, deliveries, plan.saturate_time_limit, plan.grace
                )
            )
    return cases


# -- processes ----------------------------------------------------------------------------------------


class Server(BenchServer):
    """``bench.common``'s server process with ``bench.scaleout_settings``; the layer comes with ``env`` only."""

    settings = SETTINGS
    cleared = ("REDIS_URL", "CHANNEL_LAYER", "STATEFUL_RECONNECT_STORE")


@contextlib.contextmanager
def server_processes(kind: str, labels: list[str], env: dict[str, str]) -> Iterator[list[Server]]:
    """Fresh server processes, started side by side; all stopped on exit."""
    servers = [Server(kind, label, env) for label in labels]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server._wait_accepting()
        yield servers
    finally:
        for server in servers:  # SIGTERM to all first, then wait for each
            if server.process is not None and server.process.poll() is None:
                server.process.terminate()
        for server in servers:
            server.stop()


class PrivateRedis:
    """A ``redis-server`` of our own on a free port (``tests.servers.start_redis``), never the shared one."""

    def __enter__(self) -> PrivateRedis:
        self.port = free_port()
        self.process = start_redis(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)
        self.version = str(self.client.info("server").get("redis_version"))
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        stop(self.process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def flush(self) -> None:
        self.client.flushall()

    def reset_stats(self) -> None:
        self.client.config_resetstat()

    def command_calls(self) -> dict[str, int]:
        """Calls per command since the last reset (the stats commands themselves left out)."""
        stats = self.client.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
        return {name: count for name, count in calls.items() if name not in ("info", "config|resetstat")}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # per second: the resolution of process_cpu_seconds


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Window:
    """``bench.common.Meter`` for several processes: wall time, CPU of each named process, this client, the rest.

    Names other than ``redis`` are server processes. The client's GC is paused as in ``Meter``.
    """

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes

    def __enter__(self) -> Window:
        if not Meter.client_gc:
            gc.collect()
            gc.disable()
        self.cpu0 = {name: process_cpu_seconds(pid) for name, pid in self.processes.items()}
        self.wall0, self.client0, self.machine0 = now(), time.process_time(), machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = now() - self.wall0
        self.cpu = {name: process_cpu_seconds(pid) - self.cpu0[name] for name, pid in self.processes.items()}
        self.client_cpu = time.process_time() - self.client0
        busy = machine_busy_seconds() - self.machine0
        self.others_cpu = max(0.0, busy - sum(self.cpu.values()) - self.client_cpu)
        gc.enable()

    def figures(self, operations: int) -> dict[str, Any]:
        servers = sum(cpu for name, cpu in self.cpu.items() if name != "redis")
        found = {
            "server_cpu_pct": round(100 * servers / self.wall, 1),
            "client_cpu_pct": round(100 * self.client_cpu / self.wall, 1),
            "others_cpu_pct": round(100 * self.others_cpu / self.wall, 1),
            "process_cpu_pct": {name: round(100 * cpu / self.wall, 1) for name, cpu in self.cpu.items()},
            "server_cpu_us_per_op": round(1e6 * servers / operations, 1) if operations else None,
        }
        if "redis" in self.cpu:
            found["redis_cpu_us_per_op"] = round(1e6 * self.cpu["redis"] / operations, 1) if operations else None
        return found


# -- a minimal HTTP/1.1 client (SSE and long polling) -------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to the server, one request at a time.

    Enough for what the hub answers: ``Content-Length`` or chunked bodies. A keep-alive connection the server
    closed while idle (uvicorn does after 5 s) is reopened, and the request sent again, when the server closed
    it before answering a single byte.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def start(
        self, method: str, target: str, body: bytes = b"", headers: tuple[str, ...] = ()
    ) -> tuple[int, dict[str, str]]:
        """Send a request and read the status line and headers of its answer."""
        request = "\r\n".join(
            (f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}", *headers)
        )
        data = request.encode("latin-1") + b"\r\n\r\n" + body
        for attempt in (0, 1):
            reused = self.writer is not None
            if not reused:
                await self._open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(data)
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                await self.close()
                partial = getattr(exc, "partial", b"")
                if not reused or partial or attempt:
                    raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        return status, fields

    async def body_chunks(self, headers: dict[str, str]) -> AsyncIterator[bytes]:
        """The response body as it arrives."""
        assert self.reader is not None
        if "content-length" in headers:
            size = int(headers["content-length"])
            if size:
                yield await self.reader.readexactly(size)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if not size:
                    await self.reader.readuntil(b"\r\n")
                    break
                yield (await self.reader.readexactly(size + 2))[:-2]
        else:  # delimited by the end of the connection
            while chunk := await self.reader.read(65536):
                yield chunk
            await self.close()
            return
        if headers.get("connection", "").lower() == "close":
            await self.close()

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: tuple[str, ...] = ()
    ) -> tuple[int, bytes]:
        """A whole request: ``(status, body)``."""
        status, fields = await self.start(method, target, body, headers)
        return status, b"".join([chunk async for chunk in self.body_chunks(fields)])


# -- hub clients over each transport ------------------------------------------------------------------


class HubClient(ABC):
    """One hub connection, as far as the bench needs it: send text, match Completions, count deliveries.

    Every transport uses the same bookkeeping: Completions resolve the pending invocation with their id;
    ``Receive`` invocations go to ``deliveries`` (``bench.hubclient.Deliveries``) with the time the data arrived.
    """

    transport = ""

    def __init__(self, port: int, deliveries: Deliveries | None, *, path: str = HUB_PATH) -> None:
        self.port = port
        self.path = path
        self.deliveries = deliveries
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None
        self.sequence = 0

    @abstractmethod
    async def open(self) -> None:
        """Connect and finish the SignalR handshake."""

    @abstractmethod
    async def send(self, text: str) -> None:
        """Send hub messages to the server."""

    @abstractmethod
    async def close(self) -> None:
        """End the connection."""

    def on_data(self, data: str, arrived: float) -> None:
        if not self.handshake.done():
            if not data.startswith("{}" + RS):
                self.handshake.set_exception(RuntimeError(f"bad {self.transport} handshake reply: {data[:200]!r}"))
                return
            self.handshake.set_result(None)
            data = data[3:]
        if '{"type":3' in data:
            for record in data.split(RS):
                if record.startswith('{"type":3'):
                    message = json.loads(record)
                    future = self.pending.pop(message.get("invocationId"), None)
                    if future is not None and not future.done():
                        if "error" in message:
                            future.set_exception(RuntimeError(f"invocation failed: {message['error']}"))
                        else:
                            future.set_result(message.get("result"))
        if self.deliveries is not None and '{"type":1' in data:
            self.deliveries.record(data, arrived)

    def reader_failed(self, exc: BaseException) -> None:
        """Fail whatever waits on this connection (the reader is gone)."""
        error = RuntimeError(f"{self.transport} reader ended: {exc!r}")
        for future in [self.handshake, *self.pending.values()]:
            if not future.done():
                future.set_exception(error)
        self.pending.clear()

    async def invoke(self, target: str, arguments: list[Any]) -> Any:
        """A blocking invocation: send it, wait for its Completion (bounded by ``STEP_TIMEOUT``)."""
        self.sequence += 1
        invocation_id = str(self.sequence)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[invocation_id] = future
        try:
            await self.send(invocation(invocation_id, target, arguments))
            async with asyncio.timeout(STEP_TIMEOUT):
                return await future
        finally:
            self.pending.pop(invocation_id, None)

    async def _stop_reader(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)

    async def _run_reader(self, loop: Callable[[], Awaitable[None]]) -> None:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.reader_failed(exc)
        else:
            self.reader_failed(EOFError("stream ended"))


class WebSocketClient(HubClient):
    """WebSockets: ``bench.hubclient``'s client connection (handshake included), with a reader task."""

    transport = "websockets"

    async def open(self) -> None:
        self.ws = await open_websocket(f"ws://127.0.0.1:{self.port}{self.path}")
        self.handshake.set_result(None)  # open_websocket checked the reply
        self.reader = asyncio.create_task(self._run_reader(self._read))

    async def _read(self) -> None:
        async for data in self.ws:
            self.on_data(data, now())  # type: ignore[arg-type]

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def close(self) -> None:
        await self._stop_reader()
        await self.ws.close()


class HttpClient(HubClient):
    """What SSE and long polling share: negotiate, and POST sends on their own keep-alive connection."""

    def __init__(self, port: int, deliveries: Deliveries | None, *, path: str = HUB_PATH) -> None:
        super().__init__(port, deliveries, path=path)
        self.poster = HttpConnection(port)
        self.post_lock = asyncio.Lock()
        self.token = ""

    async def negotiate(self) -> None:
        async with self.post_lock:
            status, body = await self.poster.request("POST", f"{self.path}/negotiate?negotiateVersion=1")
        if status != 200:
            raise RuntimeError(f"negotiate answered {status}: {body[:200]!r}")
        self.token = json.loads(body)["connectionToken"]

    async def send(self, text: str) -> None:
        async with self.post_lock:
            status, body = await self.poster.request(
                "POST", f"{self.path}?id={self.token}", text.encode(), ("Content-Type: text/plain;charset=UTF-8",)
            )
        if status != 200:
            raise RuntimeError(f"POST answered {status}: {body[:200]!r}")

    async def _handshake(self) -> None:
        await self.send(HANDSHAKE)
        async with asyncio.timeout(STEP_TIMEOUT):
            await self.handshake


class SseClient(HttpClient):
    """Server-Sent Events: one streaming GET (events ``data: <messages>\\r\\n\\r\\n``), sends by POST."""

    transport = "sse"

    async def open(self) -> None:
        async with asyncio.timeout(STEP_TIMEOUT):
            await self.negotiate()
            self.stream = HttpConnection(self.port)
            status, self.stream_headers = await self.stream.start(
                "GET", f"{self.path}?id={self.token}", headers=("Accept: text/event-stream",)
            )
            if status != 200:
                raise RuntimeError(f"SSE GET answered {status}")
            self.reader = asyncio.create_task(self._run_reader(self._read))
            await self._handshake()

    async def _read(self) -> None:
        pending = b""
        async for chunk in self.stream.body_chunks(self.stream_headers):
            arrived = now()
            pending += chunk
            if b"\r\n\r\n" not in pending:
                continue
            *events, pending = pending.split(b"\r\n\r\n")
            data = [line[6:] for event in events for line in event.split(b"\r\n") if line.startswith(b"data: ")]
            if data:
                self.on_data(b"".join(data).decode(), arrived)

    async def close(self) -> None:
        await self._stop_reader()
        await self.stream.close()
        await self.poster.close()


class LongPollingClient(HttpClient):
    """Long polling: the first poll starts the connection; then one poll after another, sends by POST."""

    transport = "longpolling"

    async def open(self) -> None:
        async with asyncio.timeout(STEP_TIMEOUT):
            await self.negotiate()
            self.poller = HttpConnection(self.port)
            status, _ = await self._poll()
            if status != 200:
                raise RuntimeError(f"first poll answered {status}")
            self.reader = asyncio.create_task(self._run_reader(self._read))
            await self._handshake()

    def _poll(self) -> Awaitable[tuple[int, bytes]]:
        return self.poller.request("GET", f"{self.path}?id={self.token}&_={int(time.time() * 1000)}")

    async def _read(self) -> None:
        while True:
            status, body = await self._poll()
            arrived = now()
            if status == 204:
                return
            if status != 200:
                raise RuntimeError(f"poll answered {status}: {body[:200]!r}")
            if body:
                self.on_data(body.decode(), arrived)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5), self.post_lock:
                await self.poster.request("DELETE", f"{self.path}?id={self.token}")
        await self._stop_reader()
        await self.poller.close()
        await self.poster.close()


CLIENTS: dict[str, type[HubClient]] = {
    "websockets": WebSocketClient,
    "sse": SseClient,
    "longpolling": LongPollingClient,
}


class ClientSet:
    """Open hub clients of one transport; pinged every ``KEEPALIVE_INTERVAL`` (not long polling), closed on exit."""

    def __init__(self, transport: str, port: int, deliveries: Deliveries | None = None) -> None:
        self.transport = transport
        self.port = port
        self.deliveries = deliveries
        self.clients: list[HubClient] = []
        self._pinger: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ClientSet:
        if self.transport != "longpolling":  # the server enforces no client timeout on long polling
            self._pinger = asyncio.create_task(self._ping())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
        async with asyncio.timeout(60):
            await bounded_gather([client.close for client in self.clients], 200)
        self.clients.clear()

    async def open(self, count: int, group: str | None = None) -> None:
        async def one() -> None:
            client = CLIENTS[self.transport](self.port, self.deliveries)
            await client.open()
            self.clients.append(client)
            if group is not None:
                await client.invoke("Join", [group])

        await bounded_gather([one] * count, CONNECT_CONCURRENCY)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            for client in list(self.clients):
                with contextlib.suppress(Exception):
                    await client.send(PING)


# -- the measurements ---------------------------------------------------------------------------------


async def drive_fanout(
    sender: Sender, deliveries: Deliveries, case: FanoutCase, window: Window, redis_server: PrivateRedis | None
) -> dict[str, Any]:
    """Warm up, then broadcast (``rate`` or ``saturate``) and collect the figures, with Redis's command counts."""
    await warm_up_broadcasts(sender, deliveries, case.members)
    if redis_server is not None:
        redis_server.reset_stats()
    figures = await measure_broadcasts(
        sender,
        deliveries,
        case.members,
        case.mode,
        window,
        offered=case.offered,
        seconds=case.seconds,
        saturate_deliveries=case.deliveries,
        time_limit=case.time_limit,
        grace=case.grace,
    )
    if redis_server is not None:
        commands = redis_server.command_calls()
        broadcast = sum(count for name, count in commands.items() if name not in MEMBERSHIP_COMMANDS)
        sent = figures["broadcasts"]
        figures["redis_commands_per_broadcast"] = round(broadcast / sent, 2) if sent else None
        figures["redis_commands"] = commands
    return figures


def split(total: int, parts: int) -> list[int]:
    """``total`` spread as evenly as possible over ``parts``."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


async def layer_fanout(
    servers: list[Server], redis_server: PrivateRedis | None, case: FanoutCase, tag: str, path: str = HUB_PATH
) -> dict[str, Any]:
    """WebSocket members of ``path`` split evenly over ``servers``; the sender is connected to the first."""
    group = f"scaleout-{tag}"
    deliveries = Deliveries()
    readers: list[asyncio.Task[None]] = []

    async def join(ws: Any) -> None:
        await invoke_and_wait(ws, "j", "Join", [group])
        readers.append(asyncio.create_task(member_reader(ws, deliveries)))

    processes = {f"server{index + 1}": server.pid for index, server in enumerate(servers)}
    if redis_server is not None:
        processes["redis"] = redis_server.pid
    async with Connections() as connections:
        setup_started = now()
        shares = split(case.members, len(servers))
        for server, share in zip(servers, shares, strict=True):
            await connections.open(server.url(path), share, join)
        setup_seconds = now() - setup_started
        await connections.open(servers[0].url(path), 1)
        sender = Sender(connections.sockets[-1], group)
        try:
            figures = await drive_fanout(sender, deliveries, case, Window(processes), redis_server)
        finally:
            await sender.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return {**figures, "members_per_process": shares, "setup_seconds": round(setup_seconds, 2)}


async def transport_fanout(server: Server, transport: str, case: FanoutCase, tag: str) -> dict[str, Any]:
    """``case.members`` clients of ``transport`` in one group; the sender is a WebSocket on the same server."""
    group = f"transport-{tag}"
    deliveries = Deliveries()
    async with ClientSet(transport, server.port, deliveries) as members, Connections() as senders:
        setup_started = now()
        await members.open(case.members, group)
        setup_seconds = now() - setup_started
        await senders.open(server.url(HUB_PATH), 1)
        sender = Sender(senders.sockets[0], group)
        try:
            figures = await drive_fanout(sender, deliveries, case, Window({"server": server.pid}), None)
        finally:
            await sender.close()
    return {**figures, "transport": transport, "setup_seconds": round(setup_seconds, 2)}


async def echo_client(client: HubClient, until: float, latencies: list[float] | None, counter: list[int]) -> None:
    """Closed loop: the next ``Echo`` as soon as the previous Completion arrived, until ``until``."""
    while (started := now()) < until:
        result = await client.invoke("Echo", [ECHO_PAYLOAD])
        elapsed = now() - started
        counter[0] += 1
        counter[1] += result != ECHO_PAYLOAD
        if latencies is not None:
            latencies.append(elapsed)


async def transport_echo(server: Server, transport: str, clients: int, plan: Plan) -> dict[str, Any]:
    async with ClientSet(transport, server.port) as client_set:
        await client_set.open(clients)
        warm = [0, 0]
        until = now() + plan.echo_warmup
        await asyncio.gather(*(echo_client(c, until, None, warm) for c in client_set.clients))
        latencies: list[float] = []
        counter = [0, 0]  # round trips, wrong answers
        with Window({"server": server.pid}) as window:
            until = now() + plan.echo_seconds
            await asyncio.gather(*(echo_client(c, until, latencies, counter) for c in client_set.clients))
    latencies.sort()
    return {
        "transport": transport,
        "clients": clients,
        "round_trips": counter[0],
        "wrong_answers": counter[1],
        "seconds": round(window.wall, 3),
        "round_trips_per_s": round(counter[0] / window.wall, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        **window.figures(counter[0]),
    }


async def warm_up(servers: list[Server], transport: str = "websockets") -> None:
    """One throw-away connection per server, so the first measured one does not pay for imports."""
    for server in servers:
        async with ClientSet(transport, server.port) as warm:
            await warm.open(1)
            await warm.clients[0].invoke("Echo", ["warm"])


def layer_order(index: int) -> list[str]:
    """The sides of the ``index``-th case in the order they run: each Redis layer's 1- and 2-process sides
    next to each other, and every other case the whole order reversed (so which goes first alternates)."""
    order = ["memory", "core_1proc", "core", "pubsub_1proc", "pubsub", "raw"]
    return order if index % 2 == 0 else order[::-1]


def scaling(row: dict[str, Any], layer: str) -> dict[str, Any]:
    """CPU per delivery of ``layer`` on 1 and on 2 processes in one row, and the server ratio 2 procs / 1 proc."""
    one, two = row[SCALING[layer]], row[layer]
    received = min(one["received"], two["received"])  # CPU comes in clock ticks: one over these, the finest step
    return {
        "server_cpu_us_1proc": one["server_cpu_us_per_op"],
        "server_cpu_us_2procs": two["server_cpu_us_per_op"],
        "server_cpu_ratio_2_1": ratio(two["server_cpu_us_per_op"], one["server_cpu_us_per_op"]),
        "redis_cpu_us_1proc": one.get("redis_cpu_us_per_op"),
        "redis_cpu_us_2procs": two.get("redis_cpu_us_per_op"),
        "redis_commands_per_broadcast_1proc": one.get("redis_commands_per_broadcast"),
        "redis_commands_per_broadcast_2procs": two.get("redis_commands_per_broadcast"),
        "deliveries_per_s_1proc": one["deliveries_per_s"],
        "deliveries_per_s_2procs": two["deliveries_per_s"],
        "cpu_tick_us": round(1e6 / CLOCK_TICKS / received, 1) if received else None,
    }


async def run_layers(
    server_kind: str, plan: Plan, redis_server: PrivateRedis, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Part 1: each fan-out case on every side of ``LAYERS``, back to back: the in-memory layer (1 process),
    core and pubsub on 1 and on 2 processes, raw consumers on core (2 processes).

    Every (case, side) gets fresh server processes and an empty Redis; the sides of one case run one after
    the other (the order reversed every other case, see ``layer_order``), so drift in the machine's load hits
    them alike.
    """
    cases = fanout_cases(plan.layer_members, plan, rate_seconds=plan.rate_seconds, deliveries=plan.saturate_deliveries)
    rows = []
    for index, case in enumerate(cases):
        row: dict[str, Any] = {"members": case.members, "mode": case.mode, "order": []}
        for layer in layer_order(index):
            side = LAYERS[layer]
            started = now()
            env = (
                {}
                if side.channel_layer is None
                else {"REDIS_URL": redis_server.url, "CHANNEL_LAYER": side.channel_layer}
            )
            tag = f"{layer}-{case.members}-{case.mode}"
            redis_server.flush()
            labels = [f"scaleout-{tag}-{number}" for number in range(1, side.processes + 1)]
            with server_processes(server_kind, labels, env) as servers:
                await warm_up(servers)
                async with asyncio.timeout(CASE_TIMEOUT):
                    figures = await layer_fanout(
                        servers, None if side.channel_layer is None else redis_server, case, tag, side.path
                    )
            row[layer] = figures
            row["order"].append(layer)
            log(
                f"    {layer} ({len(labels)} proc) fan-out {case.members} {case.mode}: "
                f"{figures['deliveries_per_s'] or 0:,.0f}/s p50 {figures['p50_ms']} p99 {figures['p99_ms']} ms "
                f"lost {figures['lost']} ({now() - started:.1f} s)"
            )
        rows.append(row)
    for row in rows:
        core, pubsub, memory, raw = row["core"], row["pubsub"], row["memory"], row["raw"]
        row["ratio_core_pubsub"] = ratio(core["deliveries_per_s"], pubsub["deliveries_per_s"])
        row["p99_ratio_pubsub_core"] = ratio(pubsub["p99_ms"], core["p99_ms"])
        row["ratio_core_memory"] = ratio(core["deliveries_per_s"], memory["deliveries_per_s"])
        row["ratio_pubsub_memory"] = ratio(pubsub["deliveries_per_s"], memory["deliveries_per_s"])
        row["ratio_core_raw"] = ratio(core["deliveries_per_s"], raw["deliveries_per_s"])
        row["p99_ratio_raw_core"] = ratio(raw["p99_ms"], core["p99_ms"])
        row["scaling"] = {layer: scaling(row, layer) for layer in SCALING}
    return rows


async def run_transports(server_kind: str, plan: Plan, log: Callable[[str], None]) -> dict[str, list[dict[str, Any]]]:
    """Part 2: echo and fan-out over each transport, one fresh in-memory server process per transport."""
    cases = fanout_cases(
        (plan.transport_clients,),
        plan,
        rate_seconds=plan.transport_rate_seconds,
        deliveries=plan.transport_saturate_deliveries,
    )
    echo = {clients: {"clients": clients} for clients in plan.echo_clients}
    fanout = {case.mode: {"members": case.members, "mode": case.mode} for case in cases}
    for transport in TRANSPORTS:
        started = now()
        log(f"  transports {transport}: fresh {server_kind} process")
        with Server(server_kind, f"scaleout-transport-{transport}") as server:
            await warm_up([server], transport)
            for clients in plan.echo_clients:
                async with asyncio.timeout(CASE_TIMEOUT):
                    figures = await transport_echo(server, transport, clients, plan)
                echo[clients][transport] = figures
                log(
                    f"    {transport} echo {clients}: {figures['round_trips_per_s']:,.0f}/s "
                    f"p50 {figures['p50_ms']} p99 {figures['p99_ms']} ms"
                )
            for case in cases:
                case_started = now()
                async with asyncio.timeout(CASE_TIMEOUT):
                    figures = await transport_fanout(server, transport, case, f"{transport}-{case.mode}")
                fanout[case.mode][transport] = figures
                log(
                    f"    {transport} fan-out {case.members} {case.mode}: {figures['deliveries_per_s'] or 0:,.0f}/s "
                    f"p50 {figures['p50_ms']} p99 {figures['p99_ms']} ms lost {figures['lost']} "
                    f"({now() - case_started:.1f} s)"
                )
        log(f"  transports {transport}: {now() - started:.1f} s")
    for row in echo.values():
        for transport in TRANSPORTS[1:]:
            row[f"ratio_{transport}_websockets"] = ratio(
                row[transport]["round_trips_per_s"], row["websockets"]["round_trips_per_s"]
            )
    for row in fanout.values():
        for transport in TRANSPORTS[1:]:
            row[f"ratio_{transport}_websockets"] = ratio(
                row[transport]["deliveries_per_s"], row["websockets"]["deliveries_per_s"]
            )
    return {"echo": list(echo.values()), "fanout": list(fanout.values())}


# -- the verdict and the tables -----------------------------------------------------------------------


def recommend(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Which Redis layer the figures favour: no loss first, then saturating throughput, then p99 at the offered rate."""
    lost = {layer: sum(row[layer]["lost"] for row in layers) for layer in ("core", "pubsub")}
    saturate = {row["members"]: row["ratio_core_pubsub"] for row in layers if row["mode"] == "saturate"}
    rate_p99 = {row["members"]: row["p99_ratio_pubsub_core"] for row in layers if row["mode"] == "rate"}
    reasons = []
    if lost["core"] != lost["pubsub"] and min(lost.values()) == 0:
        choice = "core" if lost["pubsub"] else "pubsub"
        reasons.append(f"only {choice} lost nothing (core lost {lost['core']}, pubsub {lost['pubsub']})")
    else:
        votes = 0.0
        for value in [*saturate.values(), *rate_p99.values()]:
            if value is not None and abs(value - 1) > 0.1:  # within 10 %: a tie on this shared machine
                votes += 1 if value > 1 else -1
        choice = "core" if votes > 0 else "pubsub" if votes < 0 else "either"
        reasons.append(f"votes {votes:+.0f} (>0 core, <0 pubsub; figures within 10 % count as ties)")
    reasons.append(
        "saturating del/s core/pubsub: "
        + ", ".join(f"{members:,} members {fmt(value, '.2f')}x" for members, value in saturate.items())
    )
    reasons.append(
        "p99 at the offered rate pubsub/core: "
        + ", ".join(f"{members:,} members {fmt(value, '.2f')}x" for members, value in rate_p99.items())
    )
    return {
        "layer": choice,
        "lost": lost,
        "saturate_ratio_core_pubsub": saturate,
        "rate_p99_ratio_pubsub_core": rate_p99,
        "reasons": reasons,
    }


def cpu_cell(figures: dict[str, Any]) -> str:
    parts = figures["process_cpu_pct"]
    return (
        " / ".join(f"{parts[name]:.0f}" for name in parts)
        + f" | {figures['client_cpu_pct']:.0f} | "
        + (f"{figures['others_cpu_pct']:.0f}")
    )


def scaling_table(layers: list[dict[str, Any]]) -> list[str]:
    """Part 1's server CPU per delivery on 1 and on 2 processes of each Redis layer, and their ratio."""
    lines = [
        "",
        "Server CPU per delivery, 1 process against 2 on the same Redis layer (µs, summed over the server "
        "processes; 2/1 = 1.00x: the work per delivery stays flat, the processes scale linearly; above 1: "
        "the second process costs that much extra per delivery; tick: one CPU clock tick per delivery, the "
        "finest step)",
        f"{'members/mode':>15} | {'layer':<6} | {'srv µs 1p':>9} {'2p':>6} {'2/1':>6} | {'rds µs 1p':>9} {'2p':>5} "
        f"| {'tick':>4} | {'cmd/b 1p':>8} {'2p':>5} | {'del/s 1p':>8} {'2p':>7}",
    ]
    for row in layers:
        for index, layer in enumerate(SCALING):
            f = row["scaling"][layer]
            label = f"{row['members']:>6,} {row['mode']:>8}" if index == 0 else ""
            cells = [
                f"{fmt(f['server_cpu_us_1proc']):>9} {fmt(f['server_cpu_us_2procs']):>6} "
                f"{fmt(f['server_cpu_ratio_2_1'], '.2f'):>5}x",
                f"{fmt(f['redis_cpu_us_1proc'], '.1f'):>9} {fmt(f['redis_cpu_us_2procs'], '.1f'):>5}",
                f"{fmt(f.get('cpu_tick_us'), '.1f'):>4}",
                f"{fmt(f['redis_commands_per_broadcast_1proc'], '.1f'):>8} "
                f"{fmt(f['redis_commands_per_broadcast_2procs'], '.1f'):>5}",
                f"{fmt(f['deliveries_per_s_1proc']):>8} {fmt(f['deliveries_per_s_2procs']):>7}",
            ]
            lines.append(f"{label:>15} | {layer:<6} | " + " | ".join(cells))
    return lines


def table(report: dict[str, Any]) -> str:
    plan = report["plan"]
    lines = [
        f"realtime scale-out bench — {report['date']} — server {report['server']} — "
        f"{report['machine']['cpus']} cores — redis-server {report['machine'].get('redis_server', '?')}"
        + (" — quick" if report["quick"] else ""),
    ]
    layers = report["results"].get("layers")
    if layers:
        lines += [
            "",
            "Part 1. Fan-out, members split evenly over the processes, sender on process 1 "
            f"(rate = {plan['offered_deliveries']:,.0f} deliveries/s offered for {plan['rate_seconds']:g} s, "
            f"saturate = {plan['saturate_deliveries']:,} deliveries back to back)",
            f"{'members/mode':>15} | {'layer':<18} | {'del/s':>7} {'p50':>7} {'p99':>7} {'lost':>5} "
            f"{'srv µs':>6} {'rds µs':>6} {'cmd/b':>5} | CPU %: server(s) / redis | client | other",
        ]
        for row in layers:
            for index, layer in enumerate(LAYERS):
                f = row[layer]
                label = f"{row['members']:>6,} {row['mode']:>8}" if index == 0 else ""
                lines.append(
                    f"{label:>15} | {LAYERS[layer].label:<18} | {fmt(f['deliveries_per_s']):>7} "
                    f"{fmt(f['p50_ms'], '.1f'):>7} {fmt(f['p99_ms'], '.1f'):>7} {fmt(f['lost']):>5} "
                    f"{fmt(f['server_cpu_us_per_op']):>6} {fmt(f.get('redis_cpu_us_per_op')):>6} "
                    f"{fmt(f.get('redis_commands_per_broadcast'), '.1f'):>5} | {cpu_cell(f)}"
                )
            lines.append(
                f"{'':>15} | {'core/pubsub':<18} | {fmt(row['ratio_core_pubsub'], '.2f'):>6}x "
                f"(p99 pubsub/core {fmt(row['p99_ratio_pubsub_core'], '.2f')}x; "
                f"vs memory: core {fmt(row['ratio_core_memory'], '.2f')}x, "
                f"pubsub {fmt(row['ratio_pubsub_memory'], '.2f')}x)"
            )
            lines.append(
                f"{'':>15} | {'core/raw':<18} | {fmt(row['ratio_core_raw'], '.2f'):>6}x "
                f"(p99 raw/core {fmt(row['p99_ratio_raw_core'], '.2f')}x)"
            )
        lines += scaling_table(layers)
        verdict = report["recommendation"]
        lines += ["", f"Recommendation from these figures: {verdict['layer']}"]
        lines += [f"  - {reason}" for reason in verdict["reasons"]]
    transports = report["results"].get("transports")
    if transports:
        lines += [
            "",
            "Part 2. Transports, one process, in-memory layer (echo: closed loop, "
            f"{plan['echo_seconds']:g} s; fan-out: {plan['transport_clients']} members, rate = "
            f"{plan['offered_deliveries']:,.0f} deliveries/s for {plan['transport_rate_seconds']:g} s, saturate = "
            f"{plan['transport_saturate_deliveries']:,} deliveries back to back)",
            f"{'case':>19} | {'transport':<12} | {'/s':>7} {'p50':>7} {'p99':>7} {'lost':>5} {'cpu µs':>6} "
            f"| {'vs WS':>6} | CPU %: server | client | other",
        ]
        rows = [(f"echo {row['clients']:>3} client(s)", row, "round_trips_per_s") for row in transports["echo"]]
        rows += [
            (f"fan-out {row['members']} {row['mode']:>8}", row, "deliveries_per_s") for row in transports["fanout"]
        ]
        for label, row, key in rows:
            for index, transport in enumerate(TRANSPORTS):
                f = row[transport]
                versus = "" if index == 0 else f"{fmt(row[f'ratio_{transport}_websockets'], '.2f')}x"
                lines.append(
                    f"{label if index == 0 else '':>19} | {TRANSPORT_LABELS[transport]:<12} | {fmt(f[key]):>7} "
                    f"{fmt(f['p50_ms'], '.2f'):>7} {fmt(f['p99_ms'], '.2f'):>7} {fmt(f.get('lost')):>5} "
                    f"{fmt(f['server_cpu_us_per_op']):>6} | {versus:>6} | {cpu_cell(f)}"
                )
    problems = []
    for row in layers or []:
        problems += [f"{layer} {row['members']} {row['mode']}: {row[layer]['sender_errors']} failed broadcasts"
                     for layer in LAYERS if row[layer]["sender_errors"]]  # fmt: skip
    for row in (transports or {}).get("echo", []):
        problems += [f"{t} echo {row['clients']}: {row[t]['wrong_answers']} wrong answers"
                     for t in TRANSPORTS if row[t]["wrong_answers"]]  # fmt: skip
    for row in (transports or {}).get("fanout", []):
        problems += [f"{t} fan-out {row['mode']}: {row[t]['sender_errors']} failed broadcasts"
                     for t in TRANSPORTS if row[t]["sender_errors"]]  # fmt: skip
    lines.append("\nWARNING: " + "; ".join(problems) if problems else "\nNo wrong echo answers, no failed broadcasts.")
    busiest = max(
        (figures["others_cpu_pct"], f"{name} {transport}")
        for name, row in measured_rows(report["results"])
        for transport, figures in row.items()
        if isinstance(figures, dict) and "others_cpu_pct" in figures
    )
    lines.append(
        f"Other processes took up to {busiest[0]:.0f} % of a core in a measured window ({busiest[1]})"
        + (": the machine was shared, compare only figures measured close together." if busiest[0] > 25 else ".")
    )
    lines.append(f"\ntotal {report['elapsed_seconds']:.0f} s")
    return "\n".join(lines)


def measured_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every table row with a name: ``(name, {side: figures, ...})``."""
    rows = [(f"fan-out {row['members']} {row['mode']}", row) for row in results.get("layers", [])]
    transports = results.get("transports", {})
    rows += [(f"echo {row['clients']}", row) for row in transports.get("echo", [])]
    rows += [(f"transport fan-out {row['mode']}", row) for row in transports.get("fanout", [])]
    return rows


def machine_versions(redis_server: PrivateRedis | None) -> dict[str, str]:
    found = versions()
    for name in ("channels_redis", "redis", "hiredis"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    if redis_server is not None:
        found["redis_server"] = redis_server.version
    return found


async def run_all(args: argparse.Namespace, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    machine: dict[str, Any] = {}
    if args.part in ("all", "layers"):
        with PrivateRedis() as redis_server:
            log(f"  private redis-server {redis_server.version} on port {redis_server.port}")
            machine = machine_versions(redis_server)
            results["layers"] = await run_layers(args.server, plan, redis_server, log)
    if args.part in ("all", "transports"):
        results["transports"] = await run_transports(args.server, plan, log)
    return {"results": results, "machine": machine or machine_versions(None)}


def parse_members(text: str) -> tuple[int, ...]:
    members = tuple(int(part) for part in text.split(","))
    if any(count < 2 for count in members):
        raise argparse.ArgumentTypeError("every group needs at least 2 members (one per process)")
    return members


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (under 3 minutes)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--part", choices=("all", "layers", "transports"), default="all")
    parser.add_argument("--no-uvloop", action="store_true", help="run the client on the default asyncio loop")
    parser.add_argument(
        "--client-gc", action="store_true", help="keep the client's garbage collector on while measuring"
    )
    parser.add_argument(
        "--members", help="group sizes of part 1, comma-separated (default 100,1000)", type=parse_members
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "scaleout-latest.json")
    args = parser.parse_args(argv)

    plan = Plan.quick() if args.quick else Plan()
    if args.members:
        plan = replace(plan, layer_members=args.members)
    Meter.client_gc = args.client_gc
    raise_fd_limit(max(*plan.layer_members, plan.transport_clients * 2) * 2 + 256)
    RESULTS.mkdir(exist_ok=True)
    runner, loop_name = client_runner(args.no_uvloop)
    started = now()
    log(f"scaleout: server {args.server}, {'quick' if args.quick else 'full'} run, part {args.part}, client loop "
        f"{loop_name}")  # fmt: skip
    outcome = runner(run_all(args, plan, log))
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "server": args.server,
        "quick": args.quick,
        "part": args.part,
        "client_loop": loop_name,
        "client_gc_while_measuring": args.client_gc,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **outcome["machine"]},
        "plan": asdict(plan),
        "results": outcome["results"],
    }
    if "layers" in outcome["results"]:
        report["recommendation"] = recommend(outcome["results"]["layers"])
        report["scaling"] = [
            {"members": row["members"], "mode": row["mode"], "layer": layer, **figures}
            for row in outcome["results"]["layers"]
            for layer, figures in row["scaling"].items()
        ]
    report["elapsed_seconds"] = round(now() - started, 1)
    return write_report(args.output, report, table(report), "scaleout")


if __name__ == "__main__":
    sys.exit(main())
