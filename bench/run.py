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
import datetime
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from bench.common import (
    RESULTS,
    Meter,
    Server,
    client_runner,
    fmt,
    log,
    ms,
    now,
    percentile,
    raise_fd_limit,
    ratio,
    versions,
    write_report,
)
from bench.hubclient import (
    Connections,
    Deliveries,
    Sender,
    echo_loop,
    invoke_and_wait,
    measure_broadcasts,
    member_reader,
    warm_up_broadcasts,
)

SIDES = ("hub", "raw")
PATHS = {
    "hub": {"echo": "/benchhub", "fanout": "/benchhub", "idle": "/benchhub"},
    "raw": {"echo": "/raw/echo", "fanout": "/raw/fanout", "idle": "/raw/echo"},
}
SCENARIO_TIMEOUT = 300.0  # hard bound for one scenario on one side


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
