"""Soak run: two server processes on one private Redis under churn for minutes; resources must stay flat.

Usage::

    .venv/bin/python -m bench.soak                          # 10 minutes, 1,000 connections, daphne, pub/sub layer
    .venv/bin/python -m bench.soak --duration 60 --connections 200
    .venv/bin/python -m bench.soak --server uvicorn --layer core

Two conformance servers (``bench.soak_app``: the conformance app plus a stats route for 127.0.0.1) share one
private ``redis-server`` for the channel layer, the connection registry and presence. Stable members (a fixed
share of the connections, over WebSockets, SSE and long polling, split over both processes) join two groups
each and stay; senders call ``SendToGroup`` on those groups at a steady rate, and every message must reach each
member of its group exactly once. The other connections churn: connect, join and leave groups, invoke, run and
cancel server streams, upload streams, then close or drop abruptly (the socket aborted, no Close), and again.
Every ``--sample-interval`` seconds the run records, per server process, RSS, open file descriptors, asyncio
tasks and allocated blocks, and Redis's key count and used memory. The report gives each metric's least-squares
slope over the second half of the run and a flat / NOT flat verdict. A table goes to stdout, everything to
``--output`` (default ``bench/results/soak-latest.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    STEP_TIMEOUT,
    client_runner,
    log,
    machine_busy_seconds,
    now,
    percentile,
    raise_fd_limit,
    write_report,
)
from bench.common import Server as BenchServer
from bench.scaleout import HttpConnection, PrivateRedis, machine_versions, process_cpu_seconds
from bench.soak_clients import Live, SoakClient, new_client

STATS_PATH = "/_soak/stats"  # served by bench.soak_app
CHAT, TEST = "/chathub", "/testhub"
TRANSPORTS = ("websockets", "sse", "longpolling")
FLAT_PCT_PER_MIN = 1.0  # flat: |slope| <= 1 % of the metric's second-half mean per minute (5 % over 5 minutes)


@dataclass(frozen=True)
class Plan:
    """How much runs, how long, and the churners' random schedule."""

    duration: float = 600.0
    connections: int = 1000
    stable_share: float = 0.2  # of the connections: stable members; the rest churn
    groups_per_member: int = 2
    members_per_group: int = 40
    churn_groups: int = 20
    send_rate: float = 10.0  # messages/s to the stable groups, both senders together
    sample_interval: float = 10.0
    ramp: float = 10.0  # churners start spread over this many seconds
    think: tuple[float, float] = (3.0, 15.0)  # seconds between a churner's operations
    pause: tuple[float, float] = (2.0, 10.0)  # seconds between a churner's sessions
    ops_per_session: tuple[int, int] = (1, 8)
    transport_weights: tuple[int, int, int] = (8, 1, 1)  # websockets, sse, longpolling
    testhub_share: float = 0.15  # of churn sessions: on /testhub (Echo, Stream, InfiniteStream, StreamingConcat)
    grace: float = 15.0  # after the last send, for deliveries still on their way
    drain_timeout: float = 45.0  # after churn stops: long polling drops take DISCONNECT_TIMEOUT (15 s) to end
    presence_ttl: float = 15.0
    seed: int = 1

    @property
    def stable(self) -> int:
        return max(4, round(self.connections * self.stable_share))

    @property
    def churners(self) -> int:
        return max(0, self.connections - self.stable)

    @property
    def groups(self) -> int:
        return max(2, self.stable * self.groups_per_member // self.members_per_group)


# -- processes ----------------------------------------------------------------------------------------


class Server(BenchServer):
    """``bench.common``'s server process serving ``bench.soak_app`` (its settings: the conformance server's)."""

    app = "bench.soak_app:application"
    settings = None
    # The conformance settings read these from the environment; the run sets its own, never inherits them.
    cleared = (
        "REDIS_URL",
        "CHANNEL_LAYER",
        "CONFORMANCE_DB",
        "CONFORMANCE_DATABASE_URL",
        "REGISTRY_BACKEND",
        "REGISTRY_TTL",
        "PRESENCE_TTL",
        "PRESENCE_LIVENESS_INTERVAL",
        "PRESENCE_LIVENESS_TTL",
        "REALTIME_LOG_LEVEL",
    )

    async def stats(self) -> dict[str, Any]:
        """RSS and open descriptors from ``/proc``; tasks, blocks and realtime's table from the stats route."""
        found: dict[str, Any] = {"rss_kib": self.rss_kb(), "fds": len(os.listdir(f"/proc/{self.pid}/fd"))}
        connection = HttpConnection(self.port)
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                status, body = await connection.request("GET", STATS_PATH)
        finally:
            await connection.close()
        if status != 200:
            raise RuntimeError(f"{STATS_PATH} answered {status}")
        return {**found, **json.loads(body)}


# -- stable members and what they must receive --------------------------------------------------------


class Ledger:
    """Every message sent to the stable groups and, per stable member, how often each arrived."""

    def __init__(self, capacity: int, layout: list[dict[str, Any]]) -> None:
        self.capacity = capacity
        self.member_groups: list[tuple[int, ...]] = [member["groups"] for member in layout]
        self.member_transport: list[str] = [member["transport"] for member in layout]
        member_groups = self.member_groups
        self.group_size = Counter(group for groups in member_groups for group in groups)
        self.group_of: list[int] = []
        self.confirmed = bytearray(capacity)
        self.received = [bytearray(capacity) for _ in member_groups]
        self.unique = self.duplicates = self.misdelivered = self.presence_events = 0
        self.latencies: dict[str, list[float]] = {}  # by transport, of the current sample window
        self.completions: list[float] = []  # the senders' SendToGroup round trips, of the current sample window
        self.changed = asyncio.Event()

    def next_message(self, group: int) -> tuple[int, str]:
        """A new message id for ``group`` and the text that carries it (id, group, send time)."""
        message_id = len(self.group_of)
        self.group_of.append(group)
        return message_id, f"s|{message_id}|{group}|{now():.6f}"

    def on_invocation(self, member: int) -> Callable[[str, list[Any], float], None]:
        def record(target: str, arguments: list[Any], arrived: float) -> None:
            if target == "PresenceChanged":
                self.presence_events += 1
            elif target == "ReceiveMessage" and str(arguments[1]).startswith("s|"):
                self.deliver(member, arguments[1], arrived)

        return record

    def deliver(self, member: int, text: str, arrived: float) -> None:
        _, message_id, group, sent = text.split("|")
        index = int(message_id)
        if int(group) not in self.member_groups[member]:
            self.misdelivered += 1
        seen = self.received[member][index]
        self.received[member][index] = min(seen + 1, 255)
        if seen:
            self.duplicates += 1
        else:
            self.unique += 1
            self.latencies.setdefault(self.member_transport[member], []).append(arrived - float(sent))
            self.changed.set()

    def expected_of_sent(self) -> int:
        return sum(self.group_size[group] for group in self.group_of)

    async def wait_all(self, deadline: float) -> bool:
        """Wait (until ``deadline``) for every sent message to reach every member of its group."""
        expected = self.expected_of_sent()
        while self.unique < expected:
            left = deadline - now()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 1.0)):
                    await self.changed.wait()
        return True

    def figures(self, members: list[dict[str, Any]]) -> dict[str, Any]:
        """Expected / received / lost over the confirmed messages (their Completion came back without error),
        what arrived of the unconfirmed ones, duplicates and deliveries to non-members."""
        expected = received = unconfirmed_expected = unconfirmed_received = 0
        missing: list[dict[str, Any]] = []
        for index, group in enumerate(self.group_of):
            for member, groups in enumerate(self.member_groups):
                if group not in groups:
                    continue
                arrived = bool(self.received[member][index])
                if not self.confirmed[index]:
                    unconfirmed_expected += 1
                    unconfirmed_received += arrived
                    continue
                expected += 1
                received += arrived
                if not arrived and len(missing) < 20:
                    missing.append({"message": index, "group": group, **members[member]})
        confirmed = sum(self.confirmed)
        return {
            "messages_sent": len(self.group_of),
            "messages_confirmed": confirmed,
            "messages_unconfirmed": len(self.group_of) - confirmed,
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "duplicated": self.duplicates,
            "misdelivered": self.misdelivered,
            "unconfirmed_expected": unconfirmed_expected,
            "unconfirmed_received": unconfirmed_received,
            "presence_events_at_stable_members": self.presence_events,
            "first_missing": missing,
        }


def stable_layout(plan: Plan) -> list[dict[str, Any]]:
    """Stable member ``i``: its process, transport (1 in 10 SSE, 1 in 10 long polling) and groups."""
    members = []
    for index in range(plan.stable):
        first = index % plan.groups
        stride = 1 + (index // plan.groups) % (plan.groups - 1)  # 1 .. groups-1: the groups pair up differently
        groups = tuple(sorted({(first + step * stride) % plan.groups for step in range(plan.groups_per_member)}))
        transport = {8: "sse", 9: "longpolling"}.get(index % 10, "websockets")
        process = (index + index // 10) % 2  # every transport on both processes
        members.append({"member": index, "process": process, "transport": transport, "groups": groups})
    return members


def stable_group(index: int) -> str:
    """The name of stable group ``index``."""
    return f"stable-{index}"


async def open_member(transport: str, port: int, post_port: int, path: str, on_invocation: Any) -> SoakClient:
    """An open client that stays (a stable member or a sender)."""
    client = new_client(transport, port, path, on_invocation, post_port)
    try:
        await client.open()
    except BaseException:
        await client.abort()
        raise
    return client


async def send_steadily(
    senders: list[SoakClient], ledger: Ledger, plan: Plan, deadline: float, errors: Counter
) -> None:
    """``plan.send_rate`` ``SendToGroup`` calls per second (open loop), round robin over groups and senders."""
    started, tasks = now(), set()

    async def send(sender: SoakClient, message_id: int, group: int, text: str) -> None:
        try:
            sent = now()
            await sender.invoke("SendToGroup", [stable_group(group), text])
            ledger.completions.append(now() - sent)
            ledger.confirmed[message_id] = 1
        except Exception as exc:
            errors[f"sender SendToGroup: {type(exc).__name__}"] += 1

    for index in range(ledger.capacity):
        at = started + index / plan.send_rate
        if at >= deadline:
            break
        if at > now():
            await asyncio.sleep(at - now())
        group = index % plan.groups
        message_id, text = ledger.next_message(group)
        task = asyncio.create_task(send(senders[index % len(senders)], message_id, group, text))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


# -- churn --------------------------------------------------------------------------------------------


class Churn:
    """Churners: each one a bounded loop of sessions on a random process, transport and hub."""

    CHAT_OPS = {
        "join": 4,
        "leave": 3,
        "send": 2,
        "members": 1,
        "whoami": 1,
        "counter": 1,
        "counter_cancel": 1,
        "upload": 1,
        "throw": 1,
    }
    TEST_OPS = {"echo": 4, "stream": 1, "infinite_cancel": 1, "concat": 1}
    ENDINGS = {"close": 50, "abort": 35, "abort_streaming": 15}

    def __init__(self, plan: Plan, ports: list[int], live: Live) -> None:
        self.plan = plan
        self.ports = ports
        self.live = live
        self.ops: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.sessions_by_port: Counter[int] = Counter()

    async def run(self, slot: int, deadline: float) -> None:
        rng = random.Random(self.plan.seed * 100_003 + slot)
        await asyncio.sleep(rng.uniform(0, self.plan.ramp))
        for _ in range(int(self.plan.duration / self.plan.pause[0]) + 1):  # a bound; the deadline ends it first
            if now() >= deadline:
                return
            await self.session(rng, deadline)
            await asyncio.sleep(min(rng.uniform(*self.plan.pause), max(0.0, deadline - now())))

    async def session(self, rng: random.Random, deadline: float) -> None:
        transport = rng.choices(TRANSPORTS, self.plan.transport_weights)[0]
        port = rng.choice(self.ports)
        post_port = rng.choice(self.ports)
        path = TEST if rng.random() < self.plan.testhub_share else CHAT
        session = Session(self, rng, new_client(transport, port, path, self.on_invocation(), post_port))
        self.sessions_by_port[port] += 1
        ending = rng.choices(list(self.ENDINGS), list(self.ENDINGS.values()))[0]
        try:
            await session.run(deadline, ending)
        except Exception as exc:
            self.error(f"{transport} {path} {session.current}", exc)
            ending = "abort"
        finally:
            self.live.clients.discard(session.client)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STEP_TIMEOUT):
                    if ending == "close":
                        await session.client.close()
                    else:
                        await session.client.abort()
        self.ops[f"end:{ending}"] += 1

    def on_invocation(self) -> Callable[[str, list[Any], float], None]:
        def record(target: str, arguments: list[Any], arrived: float) -> None:
            if target == "StreamCanceled":
                self.ops["StreamCanceled received"] += 1

        return record

    def error(self, where: str, exc: BaseException) -> None:
        self.errors[f"{where}: {type(exc).__name__}"] += 1
        if len(self.error_samples) < 30:
            self.error_samples.append(f"{where}: {exc!r}"[:300])


class Session:
    """One churner connection: open, random operations with think times, then close or drop."""

    def __init__(self, churn: Churn, rng: random.Random, client: SoakClient) -> None:
        self.churn = churn
        self.rng = rng
        self.client = client
        self.joined: set[str] = set()
        self.current = "connect"

    async def run(self, deadline: float, ending: str) -> None:
        plan = self.churn.plan
        await self.client.open()
        self.churn.live.clients.add(self.client)
        self.churn.ops[f"connect:{self.client.transport}"] += 1
        table = Churn.TEST_OPS if self.client.path == TEST else Churn.CHAT_OPS
        for _ in range(self.rng.randint(*plan.ops_per_session)):
            await asyncio.sleep(min(self.rng.uniform(*plan.think), max(0.0, deadline - now())))
            if now() >= deadline:
                break
            self.current = self.rng.choices(list(table), list(table.values()))[0]
            await getattr(self, f"op_{self.current}")()
            self.churn.ops[self.current] += 1
        self.current = ending
        if ending == "abort_streaming":  # drop while a server stream is running
            target, arguments = ("Counter", [1000, 20]) if self.client.path == CHAT else ("InfiniteStream", [])
            await self.client.server_stream(target, arguments, take=1 if target == "Counter" else 0, cancel=False)

    def group(self) -> str:
        plan = self.churn.plan
        if self.rng.random() < 0.3:  # some churners come and go in the stable members' groups
            return stable_group(self.rng.randrange(plan.groups))
        return f"churn-{self.rng.randrange(plan.churn_groups)}"

    async def op_join(self) -> None:
        group = self.group()
        expect(await self.client.invoke("JoinGroup", [group]) is None, "JoinGroup returned a value")
        self.joined.add(group)

    async def op_leave(self) -> None:
        if not self.joined:
            return await self.op_join()
        group = self.rng.choice(sorted(self.joined))
        await self.client.invoke("LeaveGroup", [group])
        self.joined.discard(group)

    async def op_send(self) -> None:
        group = f"churn-{self.rng.randrange(self.churn.plan.churn_groups)}"
        await self.client.invoke("SendToGroup", [group, f"c|{now():.3f}"])

    async def op_members(self) -> None:
        members = await self.client.invoke("GetGroupMembers", [self.group()])
        expect(isinstance(members, list), f"GetGroupMembers returned {members!r}")

    async def op_whoami(self) -> None:
        expect(await self.client.invoke("WhoAmI", []) is None, "WhoAmI of an anonymous connection was not null")

    async def op_counter(self) -> None:
        count = self.rng.randint(3, 15)
        items = await self.client.server_stream("Counter", [count, 10])
        expect(items == list(range(count)), f"Counter({count}) streamed {items}")

    async def op_counter_cancel(self) -> None:
        take = self.rng.randint(1, 5)
        items = await self.client.server_stream("Counter", [1000, 20], take=take)
        expect(items == list(range(take)), f"Counter streamed {items} before the cancel")

    async def op_upload(self) -> None:
        count = self.rng.randint(1, 20)
        expect(await self.client.upload("UploadStream", list(range(count))) == count, "UploadStream miscounted")

    async def op_throw(self) -> None:
        try:
            await self.client.invoke("ThrowException", ["soak"])
        except RuntimeError as exc:
            expect("soak" in str(exc), f"ThrowException answered {exc}")
            return
        raise AssertionError("ThrowException completed without an error")

    async def op_echo(self) -> None:
        payload = f"echo-{self.rng.random()}"
        expect(await self.client.invoke("Echo", [payload]) == payload, "Echo answered something else")

    async def op_stream(self) -> None:
        expect(await self.client.server_stream("Stream", []) == ["a", "b", "c"], "Stream did not stream a, b, c")

    async def op_infinite_cancel(self) -> None:
        await self.client.server_stream("InfiniteStream", [], take=0)  # started, then cancelled at once

    async def op_concat(self) -> None:
        parts = [str(self.rng.randrange(1000)) for _ in range(self.rng.randint(1, 10))]
        expect(await self.client.upload("StreamingConcat", parts) == "".join(parts), "StreamingConcat differs")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


# -- sampling -----------------------------------------------------------------------------------------


class Sampler:
    """Every metric of the run at one moment, and CPU shares since the previous sample."""

    def __init__(
        self,
        servers: list[Server],
        redis_server: PrivateRedis,
        ledger: Ledger,
        live: Live,
        churn: Churn,
        started: float,
    ) -> None:
        self.servers = servers
        self.redis = redis_server
        self.ledger = ledger
        self.live = live
        self.churn = churn
        self.started = started
        self.pids = {f"server{index + 1}": server.pid for index, server in enumerate(servers)}
        self.pids["redis"] = redis_server.pid
        self.last, self.last_processes = self._cpu(), every_process_cpu()

    def _cpu(self) -> dict[str, float]:
        found = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        return {**found, "client": time.process_time(), "machine": machine_busy_seconds(), "wall": now()}

    def cpu_window(self) -> dict[str, Any]:
        """Since the previous call, % of one core: per process, this client, every other process together, and
        the busiest other processes by name (what else ran on the machine)."""
        current, previous = self._cpu(), self.last
        processes, previous_processes = every_process_cpu(), self.last_processes
        self.last, self.last_processes = current, processes
        wall = max(current["wall"] - previous["wall"], 1e-9)
        used = {name: current[name] - previous[name] for name in (*self.pids, "client")}
        used["other"] = max(0.0, current["machine"] - previous["machine"] - sum(used.values()))
        mine = {*self.pids.values(), os.getpid()}
        others = {pid: cpu - previous_processes.get(pid, cpu) for pid, cpu in processes.items() if pid not in mine}
        busiest = sorted(others.items(), key=lambda item: -item[1])[:3]
        return {
            "cpu_pct": {name: round(100 * seconds / wall, 1) for name, seconds in used.items()},
            "busiest_others": [
                f"{100 * cpu / wall:.0f} % {command_line(pid)}" for pid, cpu in busiest if cpu > 0.05 * wall
            ],
        }

    async def sample(self) -> dict[str, Any]:
        metrics: dict[str, float] = {}
        tables = {}
        for index, server in enumerate(self.servers):
            name = f"server{index + 1}"
            stats = await server.stats()
            for key in ("rss_kib", "fds", "tasks", "allocated_blocks", "threads"):
                metrics[f"{name}.{key}"] = stats[key]
            tables[name] = stats.get("table", {})
        info = await asyncio.to_thread(self.redis_figures)
        metrics.update(info.pop("metrics"))
        latencies, self.ledger.latencies = self.ledger.latencies, {}
        completions, self.ledger.completions = self.ledger.completions, []
        return {
            "t": round(now() - self.started, 1),
            "metrics": metrics,
            "realtime_tables": tables,
            "redis_key_kinds": info["kinds"],
            **self.cpu_window(),
            "open_connections": self.live.by_transport(),
            "stable_deliveries": {
                "all": latency_figures([value for values in latencies.values() for value in values]),
                **{transport: latency_figures(values) for transport, values in sorted(latencies.items())},
            },
            "sender_completions": latency_figures(completions),
            "redis_clients_by_command": info["commands"],
            "churn_sessions": sum(self.churn.sessions_by_port.values()),
            "churn_errors": sum(self.churn.errors.values()),
        }

    def redis_figures(self) -> dict[str, Any]:
        """Key count, used memory and connected clients; the keys by kind (their names with ids masked)."""
        client = self.redis.client
        kinds: Counter[str] = Counter()
        for index, key in enumerate(client.scan_iter(count=1000)):
            if index >= 100_000:
                break
            kinds[key_kind(key.decode(errors="replace"))] += 1
        metrics = {
            "redis.keys": client.dbsize(),
            "redis.used_memory_kib": client.info("memory")["used_memory"] // 1024,
            "redis.clients": client.info("clients")["connected_clients"],
        }
        commands = Counter(str(entry.get("cmd")) for entry in client.client_list())
        return {"metrics": metrics, "kinds": dict(kinds.most_common(20)), "commands": dict(commands.most_common(10))}


def every_process_cpu() -> dict[int, float]:
    """CPU seconds so far of every process on the machine, by pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[int(entry)] = process_cpu_seconds(int(entry))
    return found


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace").strip()[:100]
    return "(ended)"


def key_kind(key: str) -> str:
    """A Redis key's name with the parts that vary (ids, group and process names) replaced by ``*``."""
    return ":".join(part if re.fullmatch(r"[a-z]{1,8}", part) else "*" for part in key.split(":"))


def latency_figures(latencies: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max of delivery latencies (ms)."""
    latencies = sorted(latencies)
    return {
        "count": len(latencies),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(latencies[-1] if latencies else None),
    }


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


# -- analysis -----------------------------------------------------------------------------------------


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of ``(x, y)`` points and its standard error."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if n < 2 or sxx == 0:
        return 0.0, math.inf
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    residual = sum((y - mean_y - b * (x - mean_x)) ** 2 for x, y in points)
    return b, math.sqrt(residual / (n - 2) / sxx) if n > 2 else math.inf


def trends(series: list[dict[str, Any]], plan: Plan, sessions_per_min: dict[str, float]) -> dict[str, Any]:
    """Per metric: slope per minute over the second half (after warm-up), its standard error, the mean, the
    threshold (``FLAT_PCT_PER_MIN`` % of the mean) and the verdict; plus the growth per churn session."""
    half = [sample for sample in series if sample["t"] >= plan.duration / 2]
    found = {}
    for name in series[0]["metrics"]:
        points = [(sample["t"] / 60, sample["metrics"][name]) for sample in half]
        per_min, error = slope(points)
        mean = sum(y for _, y in points) / len(points)
        threshold = max(1.0, abs(mean) * FLAT_PCT_PER_MIN / 100)
        sessions = sessions_per_min.get(name.split(".")[0]) or 0
        found[name] = {
            "slope_per_min": round(per_min, 3),
            "stderr_per_min": round(error, 3) if math.isfinite(error) else None,
            "mean": round(mean, 1),
            "threshold_per_min": round(threshold, 2),
            "flat": abs(per_min) <= threshold,
            "verdict": verdict(per_min, error, threshold),
            "per_1000_sessions": round(per_min / sessions * 1000, 2) if sessions else None,
            "samples": len(points),
        }
    return found


def verdict(per_min: float, error: float, threshold: float) -> str:
    """``flat`` within the threshold; above it ``falling``, ``GROWING`` when the rise is more than two standard
    errors from zero, else ``noisy`` (the samples scatter too much to tell)."""
    if abs(per_min) <= threshold:
        return "flat"
    if per_min < 0:
        return "falling"
    return "GROWING" if math.isfinite(error) and per_min > 2 * error else "noisy"


ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]*\] "')  # daphne's access log
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
LOG_DETAIL = ("INFO ", "DEBUG ", "task: ", "future: ", "Traceback", "File ", "During handling", "The above exception")


def log_text(text: str) -> str:
    """A log line with what differs per occurrence (numbers, addresses, task and connection reprs) masked."""
    text = re.sub(r"<Task .*?>> ", "<Task> ", re.sub(r"\s+", " ", text))
    return re.sub(r"0x[0-9a-f]+|\d+", "N", re.sub(r"<(\w+)[^<>]*>", r"<\1>", text))[:200]


def server_log_errors(server: Server) -> dict[str, int]:
    """What a server logged besides access lines and its own INFO lines (realtime logs at INFO here), by text
    with numbers masked."""
    found: Counter[str] = Counter()
    for line in server.output().splitlines():
        text = LOG_PREFIX.sub("", line).strip()
        if text and not ACCESS_LINE.match(line) and not line[:1].isspace() and not text.startswith(LOG_DETAIL):
            found[log_text(text)] += 1
    return dict(found.most_common(15))


# -- the run ------------------------------------------------------------------------------------------


async def settle(servers: list[Server], sender: SoakClient, plan: Plan, ledger: Ledger) -> dict[str, Any]:
    """After churn stopped: wait (bounded) until the tables hold only stable members and senders and presence
    lists exactly them; what was left over when the bound ran out."""
    layout_share = Counter(member["process"] for member in stable_layout(plan))
    deadline = now() + plan.drain_timeout
    residue: dict[str, Any] = {}
    while True:
        tables = [(await server.stats()).get("table", {}) for server in servers]
        residue = {
            f"server{index + 1} connections": table.get("connections", 0) - (layout_share[index] + 1)
            for index, table in enumerate(tables)
        }
        for group in range(plan.groups):
            listed = await sender.invoke("GetGroupMembers", [stable_group(group)])
            residue[stable_group(group)] = len(listed) - ledger.group_size[group]
        for group in range(plan.churn_groups):
            residue[f"churn-{group}"] = len(await sender.invoke("GetGroupMembers", [f"churn-{group}"]))
        residue = {key: value for key, value in residue.items() if value}
        if not residue or now() >= deadline:
            return {"residue": residue, "seconds": round(now() - deadline + plan.drain_timeout, 1)}
        await asyncio.sleep(1.0)  # a bounded poll for the state, not a wait for time to pass


async def soak(args: argparse.Namespace, plan: Plan) -> dict[str, Any]:
    with PrivateRedis() as redis_server, tempfile.TemporaryDirectory(prefix="realtime-soak-") as tmp:
        env = {
            "REALTIME_LOG_LEVEL": "INFO",  # connections the server closes (client timeout, slow client) say why
            "REDIS_URL": redis_server.url,
            "CHANNEL_LAYER": args.layer,
            "PRESENCE_TTL": str(plan.presence_ttl),
            "CONFORMANCE_DB": str(Path(tmp) / "db.sqlite3"),
        }
        servers = []
        try:
            for index in range(2):  # one after the other: each migrates the shared SQLite file on start-up
                servers.append(Server(args.server, f"soak-{index + 1}", env))
                servers[-1].__enter__()
            log(
                f"  redis-server {redis_server.version} on {redis_server.port}, "
                f"{args.server} on {[s.port for s in servers]}, layer {args.layer}"
            )
            report = await drive(servers, redis_server, plan)
        finally:
            for server in servers:
                server.stop()
        report["server_logs"] = {f"server{index + 1}": server_log_errors(s) for index, s in enumerate(servers)}
        report["machine"] = machine_versions(redis_server)
    return report


async def drive(servers: list[Server], redis_server: PrivateRedis, plan: Plan) -> dict[str, Any]:
    ports = [server.port for server in servers]
    layout = stable_layout(plan)
    ledger = Ledger(math.ceil(plan.duration * plan.send_rate) + 1, layout)
    live = Live()
    churn = Churn(plan, ports, live)
    send_errors: Counter[str] = Counter()

    async def member(spec: dict[str, Any]) -> SoakClient:
        process = spec["process"]
        client = await open_member(
            spec["transport"],
            ports[process],
            ports[(process + spec["member"] // 2) % 2],
            CHAT,
            ledger.on_invocation(spec["member"]),
        )
        for group in spec["groups"]:
            await client.invoke("JoinGroup", [stable_group(group)])
        return client

    setup_started = now()
    members = [await member(spec) for spec in layout]
    senders = [await open_member("websockets", port, port, CHAT, lambda *_: None) for port in ports]
    live.clients.update([*members, *senders])
    stop = asyncio.Event()
    pinger = asyncio.create_task(live.ping_until(stop))
    log(f"  {len(members)} stable members in {plan.groups} groups, 2 senders: {now() - setup_started:.1f} s")
    started = now()
    sampler = Sampler(servers, redis_server, ledger, live, churn, started)
    baseline = await sampler.sample()
    deadline = started + plan.duration + 2.0  # churn ends after the last sample, which must not see it end
    churners = [asyncio.create_task(churn.run(slot, deadline)) for slot in range(plan.churners)]
    sending = asyncio.create_task(send_steadily(senders, ledger, plan, deadline, send_errors))
    series = [baseline]
    for index in range(1, int(plan.duration / plan.sample_interval) + 1):
        due = started + index * plan.sample_interval
        await asyncio.sleep(max(0.0, due - now()))
        series.append({**await sampler.sample(), "client_late_ms": round((now() - due) * 1000)})
        last = series[-1]
        log(
            f"  t={last['t']:>5.0f} s  open {sum(last['open_connections'].values()):>5}  "
            f"sessions {last['churn_sessions']:>6}  errors {last['churn_errors']:>3}  "
            f"rss {last['metrics']['server1.rss_kib'] // 1024}/{last['metrics']['server2.rss_kib'] // 1024} MiB  "
            f"tasks {last['metrics']['server1.tasks']}/{last['metrics']['server2.tasks']}  "
            f"keys {last['metrics']['redis.keys']}  p99 {last['stable_deliveries']['all']['p99_ms']} ms"
        )
    async with asyncio.timeout(STEP_TIMEOUT * 3 + plan.think[1]):  # each churner ends its current session
        await asyncio.gather(sending, *churners)
    churn_seconds = now() - started
    complete = await ledger.wait_all(now() + plan.grace)
    drained = await settle(servers, senders[0], plan, ledger)
    after = await sampler.sample()
    stop.set()
    await pinger
    member_labels = [{"member": m["member"], "process": m["process"] + 1, "transport": m["transport"]} for m in layout]
    dropped = [
        {**label, "t": round(client.ended[0] - started, 1), "reason": client.ended[1]}
        for label, client in zip([*member_labels, {"sender": 1}, {"sender": 2}], [*members, *senders], strict=True)
        if client.ended is not None
    ]
    async with asyncio.timeout(60):
        await asyncio.gather(*(client.close() for client in [*members, *senders]), return_exceptions=True)
    sessions_per_min = {
        f"server{index + 1}": churn.sessions_by_port[port] / churn_seconds * 60 for index, port in enumerate(ports)
    }
    sessions_per_min["redis"] = sum(sessions_per_min.values())
    return {
        "series": series,
        "trends": trends(series, plan, sessions_per_min),
        "baseline": baseline,
        "drained": {**after, **drained},
        "deliveries": {
            **ledger.figures(member_labels),
            "all_arrived_within_grace": complete,
            "stable_connections_ended_by_server": len(dropped),
            "ended_by_server": dropped[:30],
        },
        "churn": {
            "seconds": round(churn_seconds, 1),
            "sessions": sum(churn.sessions_by_port.values()),
            "sessions_per_min": round(sessions_per_min["redis"], 1),
            "operations": dict(sorted(churn.ops.items())),
        },
        "errors": {"churn": dict(churn.errors), "churn_samples": churn.error_samples, "senders": dict(send_errors)},
    }


# -- the report ---------------------------------------------------------------------------------------


def table(report: dict[str, Any]) -> str:
    plan = report["plan"]
    lines = [
        f"realtime soak — {report['date']} — {report['server']}, {report['layer']} layer, 2 processes + redis — "
        f"{plan['connections']:,} connections ({report['stable']} stable, {report['churners']} churning) — "
        f"{plan['duration']:g} s, sampled every {plan['sample_interval']:g} s",
        "",
        f"Slopes over the second half (t >= {plan['duration'] / 2:g} s), per minute; flat = |slope| <= "
        f"{FLAT_PCT_PER_MIN:g} % of the mean per minute; above it: falling, GROWING (rise > 2 standard errors) "
        "or noisy",
        f"{'metric':<26} {'start':>11} {'mean 2nd half':>13} {'end':>11} {'drained':>11} {'slope/min':>11} "
        f"{'± se':>9} {'threshold':>10} {'/1k sessions':>12}  verdict",
    ]
    series = report["series"]
    for name, trend in report["trends"].items():
        lines.append(
            f"{name:<26} {series[0]['metrics'][name]:>11,} {trend['mean']:>13,.0f} {series[-1]['metrics'][name]:>11,} "
            f"{report['drained']['metrics'][name]:>11,} {trend['slope_per_min']:>11,.2f} "
            f"{fmt(trend['stderr_per_min']):>9} {trend['threshold_per_min']:>10,.1f} "
            f"{fmt(trend['per_1000_sessions']):>12}  {trend['verdict']}"
        )
    d = report["deliveries"]
    churn = report["churn"]
    lines += [
        "",
        f"Stable members: {d['messages_confirmed']:,} messages confirmed ({d['messages_unconfirmed']} unconfirmed), "
        f"deliveries expected {d['expected']:,}, received {d['received']:,}, lost {d['lost']:,}, "
        f"duplicated {d['duplicated']:,}, misdelivered {d['misdelivered']:,}; of the unconfirmed messages "
        f"{d['unconfirmed_received']:,} of {d['unconfirmed_expected']:,} deliveries arrived; "
        f"{d['presence_events_at_stable_members']:,} PresenceChanged events seen; "
        f"{d['stable_connections_ended_by_server']} stable member or sender connections ended by the server"
        + "".join(f"\n  t={e['t']} s {e.get('transport', 'sender')}: {e['reason']}" for e in d["ended_by_server"][:10]),
        f"Churn: {churn['sessions']:,} sessions in {churn['seconds']:g} s ({churn['sessions_per_min']:,.0f}/min); "
        "operations: " + ", ".join(f"{name} {count:,}" for name, count in churn["operations"].items()),
        f"After churn stopped: drained in {report['drained']['seconds']} s, left over: "
        f"{report['drained']['residue'] or 'nothing'}",
    ]
    cpu = [sample["cpu_pct"] for sample in series[1:]]
    if cpu:
        lines.append(
            "CPU, % of one core, mean (max) over the samples: "
            + ", ".join(
                f"{name} {sum(c[name] for c in cpu) / len(cpu):.0f} ({max(c[name] for c in cpu):.0f})"
                for name in cpu[0]
            )
        )
    for transport in ("all", *TRANSPORTS):
        found = p99_summary([sample["stable_deliveries"].get(transport) for sample in series])
        if found:
            lines.append(f"Delivery latency to stable members ({transport}), p99 per sample: {found}")
    found = p99_summary([sample.get("sender_completions") for sample in series])
    if found:
        lines.append(f"Senders' SendToGroup round trip, p99 per sample: {found}")
    errors = report["errors"]
    logs = report["server_logs"]
    problems = [f"{count} × {name}" for name, count in {**errors["churn"], **errors["senders"]}.items()]
    lines.append("Client-side errors: " + ("; ".join(problems) if problems else "none"))
    for name, found in logs.items():
        lines.append(f"{name} log: " + ("; ".join(f"{count} × {text}" for text, count in found.items()) or "clean"))
    lines.append(f"\ntotal {report['elapsed_seconds']:.0f} s")
    return "\n".join(lines)


def p99_summary(windows: list[dict[str, Any] | None]) -> str:
    """Median, min and max of the per-sample p99 latencies (ms), or '' when there are none."""
    p99 = sorted(window["p99_ms"] for window in windows if window and window["p99_ms"] is not None)
    return f"median {p99[len(p99) // 2]:,} ms, min {p99[0]:,} ms, max {p99[-1]:,} ms" if p99 else ""


def fmt(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=Plan.duration, help="seconds of churn (default 600)")
    parser.add_argument("--connections", type=int, default=Plan.connections, help="stable + churning (default 1000)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--layer", choices=("core", "pubsub"), default="pubsub")
    parser.add_argument("--sample-interval", type=float, default=Plan.sample_interval)
    parser.add_argument("--send-rate", type=float, default=Plan.send_rate, help="messages/s to the stable groups")
    parser.add_argument("--seed", type=int, default=Plan.seed)
    parser.add_argument(
        "--drain-timeout", type=float, default=Plan.drain_timeout, help="bound of the wait for leftovers to go"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="run the client on the default asyncio loop")
    parser.add_argument("--output", type=Path, default=RESULTS / "soak-latest.json")
    args = parser.parse_args(argv)
    plan = Plan(
        duration=args.duration,
        connections=args.connections,
        sample_interval=args.sample_interval,
        send_rate=args.send_rate,
        seed=args.seed,
        drain_timeout=args.drain_timeout,
    )
    raise_fd_limit(plan.connections * 3 + 512)
    RESULTS.mkdir(exist_ok=True)
    runner, loop_name = client_runner(args.no_uvloop)
    started = now()
    log(
        f"soak: {args.server}, {args.layer} layer, {plan.connections} connections, {plan.duration:g} s, "
        f"client loop {loop_name}"
    )
    outcome = runner(soak(args, plan))
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "server": args.server,
        "layer": args.layer,
        "stable": plan.stable,
        "churners": plan.churners,
        "client_loop": loop_name,
        "plan": asdict(plan),
        "flat_pct_per_min": FLAT_PCT_PER_MIN,
        **outcome,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **outcome["machine"]},
        "elapsed_seconds": round(now() - started, 1),
    }
    return write_report(args.output, report, table(report), "soak")


if __name__ == "__main__":
    sys.exit(main())
