"""Stateful-reconnect bench: no loss and no duplicates while sockets are cut, and what stateful reconnect costs.

Usage::

    .venv/bin/python -m bench.resume                  # full run, about 4-5 minutes
    .venv/bin/python -m bench.resume --quick          # about 1.5 minutes
    .venv/bin/python -m bench.resume --server daphne  # both processes under Daphne (default uvicorn)
    .venv/bin/python -m bench.resume --part cuts      # only part 1 (or: --part cost)

Part 1 (cuts): ``members`` clients with stateful reconnect (``bench.resume_client``) in one group, each through a
TCP proxy (``tests.proxy``) that sends each new connection to the next of two server processes sharing a private
``redis-server`` (round robin, as a load balancer without sticky sessions would). A sender on process 1 calls
``Broadcast`` so that the members get ``offered`` deliveries/s in all, while the proxy cuts each member's socket
every ``cut_every`` seconds (members staggered). Each member reconnects at once with its token; the reconnect
lands on the owner or is relayed from the other process. Loss and duplicates are counted from the broadcasts'
sequence numbers as the application sees them; delays are split between messages sent while the member's socket
was down (from the cut to the new socket's ``Sequence``) and the others. Run without and with the durable buffer
(``STATEFUL_RECONNECT_STORE``).

Part 2 (cost): the same two processes, fresh ones (and a fresh Redis) for each side: ``v1`` (handshake version 1,
no stateful reconnect), ``stateful`` and ``durable`` (stateful, with the durable buffer), in alternating order,
``repeats`` times; medians are reported. Echo round trips (1 and 50 clients on process 1), saturating fan-out to
100 members split over both processes, and fan-out at ``offered`` deliveries/s with the private Redis's command
and byte counters (``INFO commandstats``, ``total_net_input_bytes``) read around it.

The server is ``bench.asgi:application`` with ``bench.scaleout_settings`` (channels_redis core layer, Redis
registry). Results: tables on stdout and ``bench/results/resume-latest.json`` (server logs next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import (
    ECHO_PAYLOAD,
    FANOUT_PAD,
    RESULTS,
    STEP_TIMEOUT,
    client_runner,
    fmt,
    log,
    ms,
    now,
    percentile,
    raise_fd_limit,
    ratio,
    write_report,
)
from bench.hubclient import Deliveries, bounded_gather, measure_broadcasts
from bench.resume_client import Acker, HubSocket
from bench.scaleout import PrivateRedis, Window, machine_versions, server_processes
from tests.proxy import Proxy, port_of

HUB_PATH = "/benchhub"
SIDES = ("v1", "stateful", "durable")
CUT_MODES = ("stateful", "durable")
SERVER_ERRORS = re.compile(r"Traceback|Task exception|^ERROR|Exception in ASGI", re.MULTILINE)


@dataclass(frozen=True)
class Plan:
    """How long and how much each part runs."""

    members: int = 100
    offered: float = 1000.0  # deliveries per second, all members together
    cut_every: float = 2.0  # seconds between two cuts of one member's socket
    cut_seconds: float = 20.0
    grace: float = 10.0
    repeats: int = 3
    echo_clients: tuple[int, ...] = (1, 50)
    echo_seconds: float = 3.0
    echo_warmup: float = 0.5
    saturate_deliveries: int = 20_000
    saturate_time_limit: float = 10.0
    rate_seconds: float = 4.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(cut_seconds=10.0, grace=5.0, repeats=1, echo_seconds=1.5, saturate_deliveries=5_000, rate_seconds=2)


def median(values: list[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return round(statistics.median(found), 2) if found else None


def http(server: Any) -> str:
    return f"http://127.0.0.1:{server.port}"


def server_errors(servers: list[Any]) -> int:
    """Error lines (tracebacks, unhandled task exceptions) the server processes printed."""
    return sum(len(SERVER_ERRORS.findall(server.output())) for server in servers)


LAYER = {"name": "pubsub"}  # --layer


def environment(redis_url: str, side: str) -> dict[str, str]:
    env = {"REDIS_URL": redis_url, "CHANNEL_LAYER": LAYER["name"]}
    if side == "durable":
        env["STATEFUL_RECONNECT_STORE"] = "1"
    return env


async def open_sockets(sockets: list[HubSocket], group: str | None) -> None:
    """Open every socket (and join ``group``), 50 at a time."""

    async def one(socket: HubSocket) -> None:
        await socket.open()
        if group is not None:
            completion = await asyncio.wait_for(await socket.invoke("Join", [group]), STEP_TIMEOUT)
            if "error" in completion:
                raise RuntimeError(f"Join failed: {completion}")

    await bounded_gather([lambda socket=socket: one(socket) for socket in sockets], 50)


class BroadcastSender:
    """``bench.hubclient.Sender``'s interface over a :class:`HubSocket` (which acknowledges, when stateful)."""

    def __init__(self, socket: HubSocket, group: str) -> None:
        self.socket = socket
        self.group = group

    @property
    def errors(self) -> int:
        return self.socket.completion_errors

    async def broadcast(self, sequence: int) -> asyncio.Future[Any]:
        return await self.socket.invoke("Broadcast", [self.group, {"s": sequence, "t": now(), "d": FANOUT_PAD}])


# -- part 1: cuts -------------------------------------------------------------------------------------


class Member:
    """What one member received: first arrivals by broadcast sequence number, and how often each came."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.arrivals: list[tuple[float, float]] = []  # (sent, arrived) of first arrivals
        self.changed: asyncio.Event | None = None

    def record(self, record: str, arrived: float) -> None:
        payload = json.loads(record)["arguments"][0]
        sequence = payload["s"]
        seen = self.counts.get(sequence, 0)
        self.counts[sequence] = seen + 1
        if not seen and sequence >= 0:
            self.arrivals.append((payload["t"], arrived))
        if self.changed is not None:
            self.changed.set()


async def wait_until(done: Callable[[], bool], event: asyncio.Event, deadline: float) -> bool:
    """Wait until ``done()``, woken by ``event``, until ``deadline`` at the latest."""
    while not done():
        left = deadline - now()
        if left <= 0:
            return False
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), min(left, 1.0))
        except TimeoutError:
            pass
    return True


async def cutter(proxy: Proxy, sockets: list[HubSocket], plan: Plan, start: float, stop: float) -> dict[str, int]:
    """Cut each socket every ``plan.cut_every`` seconds, the sockets staggered, until ``stop``."""
    schedule = sorted((start + plan.cut_every * (index + 1) / len(sockets), index) for index in range(len(sockets)))
    done = {"cuts": 0, "skipped": 0}
    while schedule and schedule[0][0] < stop:
        when, index = schedule.pop(0)
        await asyncio.sleep(max(0.0, when - now()))
        socket = sockets[index]
        port = socket.local_port
        if socket.attached and port is not None:
            socket.cut_at = now()
            if proxy.cut(port):
                done["cuts"] += 1
            else:
                socket.cut_at = None
                done["skipped"] += 1
        else:
            done["skipped"] += 1  # still reconnecting from the last cut
        schedule.append((when + plan.cut_every, index))
        schedule.sort()
    return done


async def run_cuts(kind: str, mode: str, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    """Part 1 with stateful reconnect (``mode`` ``stateful``) or with the durable buffer too (``durable``)."""
    with PrivateRedis() as redis_server:
        labels = [f"resume-cuts-{mode}-1", f"resume-cuts-{mode}-2"]
        with server_processes(kind, labels, environment(redis_server.url, mode)) as servers:
            proxy = await Proxy(http(servers[0]), http(servers[1])).start()
            owner: dict[int, int] = {}
            landed = {"owner": 0, "other": 0}

            def resumed(index: int, socket: HubSocket) -> None:
                target = proxy.target_of(socket.local_port or 0)
                landed["owner" if target == owner[index] else "other"] += 1

            members = [Member() for _ in range(plan.members)]
            changed = asyncio.Event()
            for member in members:
                member.changed = changed
            sockets = [HubSocket(port_of(proxy.url), HUB_PATH, stateful=True, on_invocation=m.record) for m in members]
            for index, socket in enumerate(sockets):
                socket.on_resumed = lambda socket, index=index: resumed(index, socket)
            try:
                async with Acker() as acker:
                    acker.sockets += sockets
                    await open_sockets(sockets, "cuts")
                    for index, socket in enumerate(sockets):
                        owner[index] = proxy.target_of(socket.local_port or 0) or 0
                    sender_socket = HubSocket(servers[0].port, HUB_PATH, stateful=False)
                    acker.sockets.append(sender_socket)
                    await sender_socket.open()
                    sender = BroadcastSender(sender_socket, "cuts")
                    await asyncio.wait_for(await sender.broadcast(-1), STEP_TIMEOUT)
                    everyone = lambda: all(member.counts.get(-1) for member in members)  # noqa: E731
                    await wait_until(everyone, changed, now() + STEP_TIMEOUT)
                    log(f"  cuts {mode}: {plan.members} members, cutting every {plan.cut_every} s "
                        f"for {plan.cut_seconds} s")  # fmt: skip
                    rate = plan.offered / plan.members  # broadcasts per second
                    count = max(1, round(plan.cut_seconds * rate))
                    first_send = now()
                    cuts = asyncio.create_task(cutter(proxy, sockets, plan, first_send, first_send + plan.cut_seconds))
                    completions = []
                    for sequence in range(count):
                        await asyncio.sleep(max(0.0, first_send + sequence / rate - now()))
                        completions.append(await sender.broadcast(sequence))
                    cut_counts = await cuts
                    await asyncio.wait_for(asyncio.gather(*completions), plan.grace)
                    expected = set(range(count))
                    complete = await wait_until(
                        lambda: all(expected <= member.counts.keys() for member in members), changed,
                        now() + plan.grace,
                    )  # fmt: skip
            finally:
                await proxy.close()
            errors = server_errors(servers)
    return cut_figures(mode, members, sockets, count, cut_counts, landed, complete, errors, sender_socket)


def cut_figures(
    mode: str,
    members: list[Member],
    sockets: list[HubSocket],
    count: int,
    cut_counts: dict[str, int],
    landed: dict[str, int],
    complete: bool,
    errors: int,
    sender: HubSocket,
) -> dict[str, Any]:
    lost = duplicated = 0
    during: list[float] = []
    between: list[float] = []
    gaps: list[float] = []
    for member, socket in zip(members, sockets, strict=True):
        lost += sum(1 for sequence in range(count) if sequence not in member.counts)
        duplicated += sum(times - 1 for sequence, times in member.counts.items() if times > 1)
        windows = socket.gaps
        gaps += [end - start for start, end in windows]
        for sent, arrived in member.arrivals:
            cut = any(start <= sent <= end for start, end in windows)
            (during if cut else between).append(arrived - sent)
    during.sort()
    between.sort()
    gaps.sort()
    failed = [socket.error for socket in sockets if socket.error]
    return {
        "mode": mode,
        "members": len(members),
        "broadcasts": count,
        "expected": count * len(members),
        "lost": lost,
        "duplicated": duplicated,
        "all_arrived": complete,
        "cuts": cut_counts["cuts"],
        "cuts_skipped": cut_counts["skipped"],
        "resumed": len(gaps),
        "resumed_on_owner": landed["owner"],
        "resumed_on_other": landed["other"],
        "unplanned_drops": sum(socket.unplanned for socket in sockets),
        "replayed_duplicates_dropped": sum(socket.replayed for socket in sockets),
        "failed_members": len(failed),
        "failures": sorted(set(failed))[:5],
        "sender_errors": sender.completion_errors,
        "server_error_lines": errors,
        "sent_during_cut": len(during),
        "during_cut_p50_ms": ms(percentile(during, 50)),
        "during_cut_p99_ms": ms(percentile(during, 99)),
        "other_p50_ms": ms(percentile(between, 50)),
        "other_p99_ms": ms(percentile(between, 99)),
        "reconnect_p50_ms": ms(percentile(gaps, 50)),
        "reconnect_p99_ms": ms(percentile(gaps, 99)),
    }


# -- part 2: cost -------------------------------------------------------------------------------------


class RedisWindow(Window):
    """``bench.scaleout.Window`` that also reads the private Redis's command and byte counters around the window."""

    def __init__(self, processes: dict[str, int], redis_server: PrivateRedis) -> None:
        super().__init__(processes)
        self.redis = redis_server

    def _counters(self) -> tuple[dict[str, int], int, int]:
        stats = self.redis.client.info("stats")
        return self.redis.command_calls(), int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])

    def __enter__(self) -> RedisWindow:
        self.before = self._counters()
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        after = self._counters()
        calls = {name: after[0].get(name, 0) - self.before[0].get(name, 0) for name in after[0]}
        self.calls = {name: count for name, count in sorted(calls.items(), key=lambda kv: -kv[1]) if count}
        self.bytes_in, self.bytes_out = after[1] - self.before[1], after[2] - self.before[2]

    def figures(self, operations: int) -> dict[str, Any]:
        found = super().figures(operations)
        per = (lambda value: round(value / operations, 2)) if operations else (lambda value: None)
        found.update(
            redis_commands_per_delivery=per(sum(self.calls.values())),
            redis_evalsha_per_delivery=per(self.calls.get("evalsha", 0)),
            redis_bytes_in_per_delivery=per(self.bytes_in),
            redis_bytes_out_per_delivery=per(self.bytes_out),
            redis_calls=self.calls,
        )
        return found


async def echo(server: Any, others: dict[str, int], stateful: bool, clients: int, plan: Plan) -> dict[str, Any]:
    """Closed-loop Echo from ``clients`` sockets on ``server``."""
    async with Acker() as acker:
        sockets = [HubSocket(server.port, HUB_PATH, stateful=stateful) for _ in range(clients)]
        acker.sockets += sockets
        await open_sockets(sockets, None)
        expected = ECHO_PAYLOAD
        counter = [0, 0]
        latencies: list[float] = []

        async def loop(socket: HubSocket, until: float, measured: bool) -> None:
            while (started := now()) < until:
                completion = await asyncio.wait_for(await socket.invoke("Echo", [expected]), STEP_TIMEOUT)
                if measured:
                    latencies.append(now() - started)
                    counter[0] += 1
                    counter[1] += completion.get("result") != expected

        until = now() + plan.echo_warmup
        await asyncio.gather(*(loop(socket, until, False) for socket in sockets))
        with Window({"server": server.pid, **others}) as window:
            until = now() + plan.echo_seconds
            await asyncio.gather(*(loop(socket, until, True) for socket in sockets))
    latencies.sort()
    return {
        "clients": clients,
        "round_trips": counter[0],
        "wrong_answers": counter[1],
        "round_trips_per_s": round(counter[0] / window.wall, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        **window.figures(counter[0]),
    }


async def fanout(servers: list[Any], redis_server: PrivateRedis, stateful: bool, mode: str, plan: Plan) -> dict:
    """Fan-out to ``plan.members`` members split over both processes, the sender on process 1."""
    deliveries = Deliveries()
    group = f"cost-{mode}"
    async with Acker() as acker:
        sockets = [
            HubSocket(servers[index % 2].port, HUB_PATH, stateful=stateful, on_invocation=deliveries.record)
            for index in range(plan.members)
        ]
        acker.sockets += sockets
        await open_sockets(sockets, group)
        sender_socket = HubSocket(servers[0].port, HUB_PATH, stateful=stateful)
        acker.sockets.append(sender_socket)
        await sender_socket.open()
        sender = BroadcastSender(sender_socket, group)
        for sequence in (-1, -2):  # warm-up, uncounted
            await asyncio.wait_for(await sender.broadcast(sequence), STEP_TIMEOUT)
            await deliveries.wait_for(
                lambda s=sequence: deliveries.per_sequence.get(s, 0) >= plan.members, now() + STEP_TIMEOUT
            )
        processes = {"server1": servers[0].pid, "server2": servers[1].pid, "redis": redis_server.pid}
        figures = await measure_broadcasts(
            sender,  # type: ignore[arg-type]
            deliveries,
            plan.members,
            mode,
            RedisWindow(processes, redis_server),
            offered=plan.offered,
            seconds=plan.rate_seconds,
            saturate_deliveries=plan.saturate_deliveries,
            time_limit=plan.saturate_time_limit,
            grace=plan.grace,
        )
    return figures


async def run_cost_side(kind: str, side: str, repeat: int, plan: Plan, log: Callable[[str], None]) -> dict:
    """One side of part 2 on fresh processes and a fresh Redis."""
    stateful = side != "v1"
    with PrivateRedis() as redis_server:
        labels = [f"resume-cost-{side}-1", f"resume-cost-{side}-2"]
        with server_processes(kind, labels, environment(redis_server.url, side)) as servers:
            others = {"server2": servers[1].pid, "redis": redis_server.pid}
            found: dict[str, Any] = {"side": side, "repeat": repeat}
            for clients in plan.echo_clients:
                found[f"echo_{clients}"] = await echo(servers[0], others, stateful, clients, plan)
            for mode in ("saturate", "rate"):
                found[f"fanout_{mode}"] = await fanout(servers, redis_server, stateful, mode, plan)
            found["server_error_lines"] = server_errors(servers)
    log(f"  cost {side} #{repeat + 1}: echo {found[f'echo_{plan.echo_clients[-1]}']['round_trips_per_s']:,.0f} rt/s, "
        f"fan-out {found['fanout_saturate']['deliveries_per_s'] or 0:,.0f} del/s")  # fmt: skip
    return found


COST_FIGURES = (
    # (label, path in a side's result, format, True when higher is better)
    ("echo 1 client, rt/s", ("echo_1", "round_trips_per_s"), ",.0f", True),
    ("echo 1 client, p99 ms", ("echo_1", "p99_ms"), ".2f", False),
    ("echo 50 clients, rt/s", ("echo_50", "round_trips_per_s"), ",.0f", True),
    ("echo 50 clients, server CPU µs/rt", ("echo_50", "server_cpu_us_per_op"), ".0f", False),
    ("fan-out saturating, del/s", ("fanout_saturate", "deliveries_per_s"), ",.0f", True),
    ("fan-out saturating, p99 ms", ("fanout_saturate", "p99_ms"), ".1f", False),
    ("fan-out saturating, server CPU µs/del", ("fanout_saturate", "server_cpu_us_per_op"), ".1f", False),
    ("fan-out 1,000/s, p99 ms", ("fanout_rate", "p99_ms"), ".1f", False),
    ("fan-out 1,000/s, lost", ("fanout_rate", "lost"), ",.0f", False),
    ("Redis commands / delivery", ("fanout_rate", "redis_commands_per_delivery"), ".2f", False),
    ("Redis bytes in / delivery", ("fanout_rate", "redis_bytes_in_per_delivery"), ",.0f", False),
    ("Redis bytes out / delivery", ("fanout_rate", "redis_bytes_out_per_delivery"), ",.0f", False),
)


def figure(result: dict[str, Any], path: tuple[str, str]) -> Any:
    return result.get(path[0], {}).get(path[1])


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The median of each figure over the repeats, per side."""
    summary: dict[str, dict[str, Any]] = {}
    for side in SIDES:
        mine = [run for run in runs if run["side"] == side]
        summary[side] = {label: median([figure(run, path) for run in mine]) for label, path, _, _ in COST_FIGURES}
        summary[side]["server_error_lines"] = sum(run["server_error_lines"] for run in mine)
    return summary


async def run_cost(kind: str, plan: Plan, log: Callable[[str], None]) -> list[dict[str, Any]]:
    runs = []
    for repeat in range(plan.repeats):
        order = SIDES[repeat % len(SIDES) :] + SIDES[: repeat % len(SIDES)]  # alternate who goes first
        for side in order:
            runs.append(await run_cost_side(kind, side, repeat, plan, log))
    return runs


# -- report -------------------------------------------------------------------------------------------


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for row in report["results"].get("cuts", []):
        clean = row["lost"] == 0 and row["duplicated"] == 0 and not row["failed_members"]
        value = f"lost {row['lost']}, duplicated {row['duplicated']}, failed {row['failed_members']}"
        found.append(
            {"goal": f"cuts ({row['mode']}): lost 0, duplicated 0, no member failed", "met": clean, "value": value}
        )
    summary = report.get("cost_summary")
    if summary:
        for label in ("echo 50 clients, rt/s", "fan-out saturating, del/s"):
            value = ratio(summary["stateful"][label], summary["v1"][label])
            found.append({"goal": f"{label}: stateful >= 0.9x v1", "met": bool(value and value >= 0.9), "value": value})
    return found


def table(report: dict[str, Any]) -> str:
    plan = report["plan"]
    lines = [f"realtime stateful-reconnect bench — {report['date']} — server {report['server']} × 2 on Redis — "
             f"{report['machine']['cpus']} cores"]  # fmt: skip
    cuts = report["results"].get("cuts", [])
    if cuts:
        lines += [
            "",
            f"Cuts: {plan['members']} members, {plan['offered']:,.0f} deliveries/s in all, each socket cut every "
            f"{plan['cut_every']:g} s for {plan['cut_seconds']:g} s; reconnects round robin over the two processes",
            "            |  expected  lost  dup | cuts resumed owner other fail | sent in cut  p50    p99 | "
            "others p50    p99 | reconnect p50   p99 | srv err",
        ]
        for row in cuts:
            lines.append(
                f" {row['mode']:>10} | {row['expected']:>9,} {row['lost']:>5} {row['duplicated']:>4} | "
                f"{row['cuts']:>4} {row['resumed']:>7} {row['resumed_on_owner']:>5} {row['resumed_on_other']:>5} "
                f"{row['failed_members']:>4} | {row['sent_during_cut']:>11,} {fmt(row['during_cut_p50_ms'], '.1f'):>4} "
                f"{fmt(row['during_cut_p99_ms'], '.1f'):>6} | {fmt(row['other_p50_ms'], '.1f'):>10} "
                f"{fmt(row['other_p99_ms'], '.1f'):>6} | {fmt(row['reconnect_p50_ms'], '.1f'):>13} "
                f"{fmt(row['reconnect_p99_ms'], '.1f'):>5} | {row['server_error_lines']:>7}"
            )
            if row["failures"]:
                lines.append(f"             failures: {'; '.join(row['failures'])}")
    summary = report.get("cost_summary")
    if summary:
        lines += [
            "",
            f"Cost against version 1 (median of {plan['repeats']} alternating runs, fresh processes and Redis per "
            f"side; durable = stateful + STATEFUL_RECONNECT_STORE)",
            f" {'':38} | {'v1':>9} {'stateful':>9} {'durable':>9} | stateful/v1 durable/v1",
        ]
        for label, _, spec, _ in COST_FIGURES:
            values = [summary[side][label] for side in SIDES]
            ratios = [ratio(values[1], values[0]), ratio(values[2], values[0])]
            lines.append(
                f" {label:38} | {fmt(values[0], spec):>9} {fmt(values[1], spec):>9} {fmt(values[2], spec):>9} | "
                f"{fmt(ratios[0], '.2f'):>10}x {fmt(ratios[1], '.2f'):>9}x"
            )
        durable, stateful = summary["durable"], summary["stateful"]
        commands = "Redis commands / delivery"
        byte_in = "Redis bytes in / delivery"
        if durable[commands] is not None and stateful[commands] is not None:
            lines.append(
                f" durable buffer alone: {durable[commands] - stateful[commands]:.2f} Redis commands and "
                f"{durable[byte_in] - stateful[byte_in]:,.0f} bytes in per delivery (durable minus stateful)"
            )
        errors = {side: summary[side]["server_error_lines"] for side in SIDES}
        lines.append(f" server error lines: {errors}")
    if report.get("goals"):
        lines += ["", "Goals"]
        for goal in report["goals"]:
            lines.append(f"  [{'    met' if goal['met'] else 'NOT met'}] {goal['goal']}: {goal['value']}")
    return "\n".join(lines)


async def run_all(args: argparse.Namespace, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if args.part in ("all", "cuts"):
        results["cuts"] = [await run_cuts(args.server, mode, plan, log) for mode in CUT_MODES]
    if args.part in ("all", "cost"):
        results["cost"] = await run_cost(args.server, plan, log)
    with PrivateRedis() as redis_server:
        machine = machine_versions(redis_server)
    return {"results": results, "machine": machine}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resume", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 1.5 minutes)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="uvicorn")
    parser.add_argument("--part", choices=("all", "cuts", "cost"), default="all")
    parser.add_argument("--no-uvloop", action="store_true", help="run the client on the default asyncio loop")
    parser.add_argument(
        "--layer", choices=("pubsub", "core"), default="pubsub", help="channels_redis layer (default pubsub)"
    )
    parser.add_argument("--members", type=int, help="members of part 1 and of the fan-out (default 100)")
    parser.add_argument("--cut-every", type=float, help="seconds between two cuts of a member's socket (default 2)")
    parser.add_argument("--output", type=Path, default=RESULTS / "resume-latest.json")
    args = parser.parse_args(argv)

    plan = Plan.quick() if args.quick else Plan()
    LAYER["name"] = args.layer
    if args.members:
        plan = replace(plan, members=args.members)
    if args.cut_every:
        plan = replace(plan, cut_every=args.cut_every)
    raise_fd_limit(plan.members * 4 + 256)
    RESULTS.mkdir(exist_ok=True)
    runner, loop_name = client_runner(args.no_uvloop)
    started = now()
    log(f"resume: server {args.server}, {'quick' if args.quick else 'full'} run, part {args.part}, client loop "
        f"{loop_name}")  # fmt: skip
    outcome = runner(asyncio.wait_for(run_all(args, plan, log), 900))
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "server": args.server,
        "quick": args.quick,
        "part": args.part,
        "layer": args.layer,
        "client_loop": loop_name,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **outcome["machine"]},
        "plan": asdict(plan),
        "results": outcome["results"],
    }
    if "cost" in outcome["results"]:
        report["cost_summary"] = summarize(outcome["results"]["cost"])
    report["goals"] = goals(report)
    report["elapsed_seconds"] = round(now() - started, 1)
    return write_report(args.output, report, table(report), "resume")


if __name__ == "__main__":
    sys.exit(main())
