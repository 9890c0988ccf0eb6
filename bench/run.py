"""Benchmark the realtime hub against its baselines, in the same run, each served by the same real server.

Usage::

    .venv/bin/python -m bench.run                     # full run, under 10 minutes on 2 cores
    .venv/bin/python -m bench.run --quick             # about 3 minutes
    .venv/bin/python -m bench.run --server uvicorn
    .venv/bin/python -m bench.run --sides hub,asgi --client-procs 2

The sides (``bench.sides``): the hub, the hub in a realistic app (idle memory only), a raw ASGI loop (the
ceiling every goal is judged against), raw Channels consumers, aiosignalr and python-socketio. Each
(scenario, side) pair gets a fresh server process; the load comes from client worker processes
(``bench.pool``). Results: a table on stdout and ``bench/results/latest.json`` (server logs next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    FANOUT_PAD,
    RESULTS,
    STEP_TIMEOUT,
    Server,
    client_runner,
    log,
    ms,
    now,
    percentile,
    raise_fd_limit,
    versions,
    write_report,
)
from bench.hubclient import send_broadcasts
from bench.pool import Pool, PoolMeter
from bench.report import goals, table
from bench.sides import SIDES, Side, ensure_aiosignalr
from bench.wire import DIALECTS, Sender, open_socket

SCENARIO_TIMEOUT = 300.0  # hard bound for one scenario on one side
SCENARIOS = ("idle", "echo", "fanout", "connects")


@dataclass(frozen=True)
class Plan:
    """How long and how much each scenario runs."""

    echo_clients: tuple[int, ...] = (1, 50)
    echo_seconds: float = 5.0
    echo_warmup: float = 1.0
    fanout_members: tuple[int, ...] = (100, 1000)
    offered_deliveries: float = 1000.0  # per second, all members together
    rate_seconds: float = 10.0
    saturate_deliveries: int = 50_000  # per saturating run: broadcasts = this / members
    saturate_time_limit: float = 15.0
    grace: float = 5.0  # wait this long after the last send for missing deliveries
    idle_connections: int = 1000
    idle_settle: float = 2.0
    connects_open: int = 5000  # already open (and pinged) while the burst connects
    connects_burst: int = 1000  # full connects: negotiate, upgrade, handshake

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
            connects_open=1000,
            connects_burst=300,
        )

    @classmethod
    def tiny(cls) -> Plan:
        """Every code path in seconds, not a measurement (the bench's smoke test)."""
        return cls(
            echo_clients=(1, 4),
            echo_seconds=0.3,
            echo_warmup=0.1,
            fanout_members=(20,),
            offered_deliveries=40.0,
            rate_seconds=1.0,
            saturate_deliveries=100,
            saturate_time_limit=3.0,
            grace=2.0,
            idle_connections=20,
            idle_settle=0.1,
            connects_open=20,
            connects_burst=10,
        )


def latency_figures(latencies: list[float]) -> dict[str, Any]:
    latencies.sort()
    return {"p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99)),
            "max_ms": ms(latencies[-1] if latencies else None)}  # fmt: skip


async def run_echo(pool: Pool, server: Server, side: Side, clients: int, plan: Plan) -> dict[str, Any]:
    """``clients`` closed loops of ``Echo``, spread over the client workers."""
    url = server.url(side.paths["echo"])
    counts = [{"count": count} for count in pool.split(clients)]
    await pool.each("open", counts, url=url, dialect=side.dialect, read=False)
    await pool.each("echo", seconds=plan.echo_warmup)
    with PoolMeter(server, pool.pids) as meter:
        answers = await pool.each("echo", seconds=plan.echo_seconds)
    await pool.each("close")
    round_trips = sum(answer["round_trips"] for answer in answers)
    return {
        "round_trips": round_trips,
        "wrong_answers": sum(answer["wrong"] for answer in answers),
        "errors": [error for answer in answers for error in answer["errors"]][:3],
        "seconds": round(meter.wall, 3),
        "round_trips_per_s": round(round_trips / meter.wall, 1),
        **latency_figures([value for answer in answers for value in answer["latencies"]]),
        **meter.figures(round_trips),
    }


async def run_fanout(pool: Pool, server: Server, side: Side, members: int, mode: str, plan: Plan) -> dict[str, Any]:
    """``members`` sockets (spread over the workers) in one group; a sender here calls ``Broadcast``."""
    url, group = server.url(side.paths["fanout"]), f"bench-{members}-{mode}"
    started = now()
    opened = await pool.each("open", [{"count": n} for n in pool.split(members)], url=url, dialect=side.dialect,
                             group=group)  # fmt: skip
    if sum(answer["opened"] for answer in opened) != members:
        raise RuntimeError(f"{side.name}: members failed to join: {[a['errors'] for a in opened]}")
    setup_seconds = now() - started
    dialect = DIALECTS[side.dialect]
    sender = Sender(dialect, await open_socket(dialect, url), group, FANOUT_PAD)
    try:
        for sequence in (-1, -2):  # two warm-up broadcasts nobody counts, each awaited at every member
            async with asyncio.timeout(STEP_TIMEOUT):
                await (await sender.broadcast(sequence))
            await pool.each("wait_sequence", sequence=sequence)
        await pool.each("mark")
        with PoolMeter(server, pool.pids) as meter:
            sent, first_send, last_send = await send_broadcasts(
                sender, members, mode, offered=plan.offered_deliveries, seconds=plan.rate_seconds,
                saturate_deliveries=plan.saturate_deliveries, time_limit=plan.saturate_time_limit, grace=plan.grace,
            )  # fmt: skip
            answers = await pool.each("collect", broadcasts=sent, deadline=last_send + plan.grace)
    finally:
        await sender.close()
        await pool.each("close")
    received = sum(answer["received"] for answer in answers)
    expected = sent * members
    span = max(answer["last_arrival"] for answer in answers) - first_send if received else 0.0
    return {
        "members": members,
        "mode": mode,
        "broadcasts": sent,
        "offered_deliveries_per_s": plan.offered_deliveries if mode == "rate" else None,
        "send_seconds": round(last_send - first_send, 3),
        "expected": expected,
        "received": received,
        "lost": expected - received,
        "all_arrived": all(answer["complete"] for answer in answers),
        "deliveries_per_s": round(received / span, 1) if span > 0 else None,
        "sender_errors": sender.errors,
        "setup_seconds": round(setup_seconds, 2),
        **latency_figures([value for answer in answers for value in answer["latencies"]]),
        **meter.figures(received),
    }


async def run_idle(pool: Pool, server: Server, side: Side, plan: Plan) -> dict[str, Any]:
    """Server RSS growth per idle connection (after the handshake)."""
    url, count = server.url(side.paths["idle"]), plan.idle_connections
    await pool.each("open", [{"count": n} for n in pool.split(20)], url=url, dialect=side.dialect)  # lazy paths
    await pool.each("close")
    await asyncio.sleep(plan.idle_settle)
    before = server.rss_kb()
    opened = await pool.each("open", [{"count": n} for n in pool.split(count)], url=url, dialect=side.dialect)
    await asyncio.sleep(plan.idle_settle)
    during = server.rss_kb()
    await pool.each("close")
    await asyncio.sleep(plan.idle_settle)
    after = server.rss_kb()
    return {
        "connections": count,
        "opened": sum(answer["opened"] for answer in opened),
        "rss_before_kb": before,
        "rss_open_kb": during,
        "rss_after_close_kb": after,
        "kb_per_connection": round((during - before) * 1.024 / count, 2),
        "kb_retained_per_connection": round((after - before) * 1.024 / count, 2),
    }


async def run_connects(pool: Pool, server: Server, side: Side, plan: Plan) -> dict[str, Any]:
    """With ``connects_open`` connections open, a burst of ``connects_burst`` full connects; connects/s."""
    url = server.url(side.paths["connects"])
    held = await pool.each("open", [{"count": n} for n in pool.split(plan.connects_open)], url=url,
                           dialect=side.dialect)  # fmt: skip
    try:
        with PoolMeter(server, pool.pids) as meter:
            answers = await pool.each("burst", [{"count": n} for n in pool.split(plan.connects_burst)], url=url,
                                      dialect=side.dialect, negotiate=side.negotiate)  # fmt: skip
    finally:
        await pool.each("close")
    connected = sum(answer["connected"] for answer in answers)
    return {
        "already_open": sum(answer["opened"] for answer in held),
        "burst": plan.connects_burst,
        "connected": connected,
        "failed": sum(answer["failed"] for answer in answers),
        "errors": [error for answer in answers for error in answer["errors"]][:3],
        "seconds": round(meter.wall, 3),
        "connects_per_s": round(connected / meter.wall, 1),
        **latency_figures([value for answer in answers for value in answer["durations"]]),
        **meter.figures(connected),
    }


def fanout_cases(plan: Plan) -> list[tuple[int, str]]:
    return [(members, mode) for members in plan.fanout_members for mode in ("rate", "saturate")]


async def scenario(pool: Pool, kind: str, name: str, side: Side, plan: Plan) -> list[dict[str, Any]]:
    """Run one scenario's cases for one side on a fresh server process."""
    with side.server(kind, name) as server:
        warm = await open_socket(DIALECTS[side.dialect], server.url(side.paths[name]))  # imports paid here
        await warm.close()
        if name == "idle":
            return [await run_idle(pool, server, side, plan)]
        if name == "connects":
            return [await run_connects(pool, server, side, plan)]
        if name == "echo":
            return [await run_echo(pool, server, side, clients, plan) for clients in plan.echo_clients]
        return [await run_fanout(pool, server, side, members, mode, plan) for members, mode in fanout_cases(plan)]


def summary(name: str, figures: dict[str, Any]) -> str:
    if name == "idle":
        return f"{figures['kb_per_connection']} KB per connection"
    if name == "connects":
        return f"{figures['connects_per_s']:,.0f} connects/s, p99 {figures['p99_ms']} ms, failed {figures['failed']}"
    if name == "echo":
        return f"{figures['round_trips_per_s']:,.0f} rt/s, p99 {figures['p99_ms']} ms"
    return f"{figures['mode']} {figures['members']}: {figures['deliveries_per_s'] or 0:,.0f} del/s, " \
        f"p99 {figures['p99_ms']} ms, lost {figures['lost']}"  # fmt: skip


async def run_all(pool: Pool, kind: str, plan: Plan, sides: list[Side], repeat: int) -> dict[str, Any]:
    """Every scenario for every side that has it; echo and fan-out ``repeat`` times (sides' order alternating),
    the median run of each case kept."""
    results: dict[str, Any] = {}
    for name in SCENARIOS:
        chosen = [side for side in sides if name in side.scenarios]
        runs: dict[str, list[list[dict[str, Any]]]] = {side.name: [] for side in chosen}
        for rep in range(repeat if name in ("echo", "fanout") else 1):
            for side in chosen if rep % 2 == 0 else chosen[::-1]:
                started = now()
                async with asyncio.timeout(SCENARIO_TIMEOUT):
                    runs[side.name].append(await scenario(pool, kind, name, side, plan))
                for figures in runs[side.name][-1]:
                    log(f"  {name} {side.name}: {summary(name, figures)}")
                log(f"  {name} {side.name}: {now() - started:.1f} s")
        key = {"echo": "round_trips_per_s", "fanout": "deliveries_per_s", "connects": "connects_per_s"}.get(name)
        results[name] = [
            {side: median([run[index] for run in side_runs], key) for side, side_runs in runs.items()}
            for index in range(len(next(iter(runs.values()))[0]) if runs else 0)
        ]
    return results


def median(candidates: list[dict[str, Any]], key: str | None) -> dict[str, Any]:
    """The run with the median ``key`` (lower middle); every value kept in ``repeats``."""
    if len(candidates) == 1 or key is None:
        return candidates[0]
    chosen = dict(sorted(candidates, key=lambda r: r[key] or 0)[(len(candidates) - 1) // 2])
    chosen["repeats"] = [r[key] for r in candidates]
    return chosen


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 3 minutes)")
    parser.add_argument("--tiny", action="store_true", help="every code path in seconds, no figures to trust")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument(
        "--uvicorn-ws",
        choices=("websockets-sansio", "wsproto"),
        default="websockets-sansio",
        help="uvicorn's WebSocket implementation (its --ws; wsproto holds about 2 KB less per idle connection)",
    )
    parser.add_argument("--sides", default=",".join(SIDES), help=f"comma-separated, of: {', '.join(SIDES)}")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=max(2, os.cpu_count() or 2),
        help="client worker processes (default: the number of cores, at least 2)",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="run the client on the default asyncio loop")
    parser.add_argument(
        "--client-gc", action="store_true", help="keep the clients' garbage collector on while measuring"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run echo and fan-out N times, report the median run")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sides = [SIDES[name] for name in args.sides.split(",") if name]
    scenarios = [name for name in SCENARIOS if name in args.scenarios.split(",")]
    plan = Plan.tiny() if args.tiny else Plan.quick() if args.quick else Plan()
    if any(side.name == "aiosignalr" for side in sides):
        ensure_aiosignalr()
    PoolMeter.client_gc = args.client_gc
    raise_fd_limit(2 * (plan.connects_open + plan.connects_burst) + 512)
    RESULTS.mkdir(exist_ok=True)
    os.environ["UVICORN_WS"] = args.uvicorn_ws  # inherited by the uvicorn server processes (its --ws)
    runner, loop_name = client_runner(args.no_uvloop)
    started = now()
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    log(f"bench: server {args.server}, {size} run, {args.client_procs} client processes on {loop_name}, "
        f"sides {', '.join(s.name for s in sides)}")  # fmt: skip
    pool = Pool(max(1, args.client_procs), args.client_gc, args.no_uvloop)
    try:
        chosen = [side for side in sides if set(side.scenarios) & set(scenarios)]
        plan_sides = [Side(**{**side.__dict__, "scenarios": side.scenarios & set(scenarios)}) for side in chosen]
        results = runner(run_all(pool, args.server, plan, plan_sides, max(1, args.repeat)))
    finally:
        pool.close()
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "server": args.server if args.server == "daphne" else f"uvicorn --ws {args.uvicorn_ws}",
        "quick": args.quick or args.tiny,
        "tiny": args.tiny,
        "repeat": max(1, args.repeat),
        "client_procs": args.client_procs,
        "client_loop": loop_name,
        "client_gc_while_measuring": args.client_gc,
        "sides": {side.name: side.label for side in sides},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "plan": plan.__dict__,
        "results": results,
    }
    report["goals"] = goals(results, plan)
    report["elapsed_seconds"] = round(now() - started, 1)
    return write_report(args.output, report, table(report), "bench")


if __name__ == "__main__":
    raise SystemExit(main())
