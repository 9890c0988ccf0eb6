"""Push API bench: pushes per second to a group of 1,000 members through the push API (HTTP, Azure SignalR's
REST API) against the same pushes made from Python through the hub context, in the same run.

Usage::

    .venv/bin/python -m bench.push_api                 # full run, 2 to 6 minutes (the fan-out bounds it)
    .venv/bin/python -m bench.push_api --quick         # under a minute
    .venv/bin/python -m bench.push_api --server uvicorn

Each (side, in-flight) pair gets a fresh server process (``bench.push_api_app``, in-memory layer): 1,000
WebSocket members join one group, then

- **api**: this process sends ``POST /api/hubs/bench/groups/{group}/:send?api-version=2022-06-01`` with a
  signed token (made once, as SDKs cache theirs) over ``in_flight`` keep-alive HTTP connections (aiohttp);
- **context**: a sender connection calls ``PushFromContext``, a hub method that makes the same pushes with
  ``get_hub_context(Hub).clients.group(group).asend(...)``, ``in_flight`` at a time.

Every payload carries its send time (``perf_counter``, one clock for every process of the machine), so latency
is send → arrival at each member. Results: a table on stdout and ``bench/results/push-api-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection

from bench.common import (
    FANOUT_PAD,
    RESULTS,
    RS,
    STEP_TIMEOUT,
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
from bench.hubclient import Connections, Deliveries, invocation, invoke_and_wait, member_reader
from bench.push_api_settings import PUSH_KEY
from realtime.push_api import sign_token

GROUP = "members"
SIDES = ("api", "context")
RUN_TIMEOUT = 300.0
"""Bound of one measured run's pushes."""


@dataclass(frozen=True)
class Plan:
    """How much each measured run pushes."""

    members: int = 1000
    pushes: int = 200
    in_flight: tuple[int, ...] = (1, 8)
    grace: float = 10.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(pushes=60, grace=5.0)


class PushServer(Server):
    app = "bench.push_api_app:application"
    settings = "bench.push_api_settings"


class ApiPusher:
    """Pushes through the push API over ``in_flight`` keep-alive connections."""

    def __init__(self, port: int, in_flight: int) -> None:
        self.url = f"http://127.0.0.1:{port}/api/hubs/bench/groups/{GROUP}/:send"
        self.headers = {"Authorization": f"Bearer {sign_token(PUSH_KEY, self.url)}", "Content-Type": "application/json"}
        self.in_flight = in_flight
        self.errors = 0
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight))

    async def push(self, sequence: int) -> None:
        body = json.dumps({"target": "Receive", "arguments": [{"s": sequence, "t": now(), "d": FANOUT_PAD}]})
        async with self.session.post(
            self.url, params={"api-version": "2022-06-01"}, data=body, headers=self.headers
        ) as response:
            await response.read()
            self.errors += response.status != 202

    async def run(self, first: int, count: int) -> None:
        queue = iter(range(first, first + count))

        async def worker() -> None:
            for sequence in queue:
                await self.push(sequence)

        async with asyncio.timeout(RUN_TIMEOUT):
            await asyncio.gather(*(worker() for _ in range(self.in_flight)))

    async def close(self) -> None:
        await self.session.close()


class ContextPusher:
    """Asks the server, over a sender connection, for pushes made in Python through the hub context."""

    def __init__(self, ws: ClientConnection, in_flight: int) -> None:
        self.ws = ws
        self.in_flight = in_flight
        self.errors = 0
        self.calls = 0

    async def run(self, first: int, count: int) -> None:
        self.calls += 1
        await self.ws.send(
            invocation(f"p{self.calls}", "PushFromContext", [GROUP, first, count, self.in_flight, FANOUT_PAD])
        )
        async with asyncio.timeout(RUN_TIMEOUT):  # the Completion comes once every push was made
            while True:
                for record in (await self.ws.recv()).split(RS):  # type: ignore[union-attr]
                    if record.startswith('{"type":3'):
                        self.errors += json.loads(record).get("result") != count
                        return

    async def close(self) -> None:
        return None


async def measure(server: PushServer, side: str, in_flight: int, plan: Plan) -> dict[str, Any]:
    """One measured run: members join, two uncounted pushes, then ``plan.pushes`` pushes on ``side``."""
    url = server.url("/pushbench")
    deliveries = Deliveries()
    readers: list[asyncio.Task[None]] = []

    async def join(ws: ClientConnection) -> None:
        await invoke_and_wait(ws, "j", "Join", [GROUP])
        readers.append(asyncio.create_task(member_reader(ws, deliveries)))

    async with Connections() as connections:
        await connections.open(url, plan.members, join)
        pusher: ApiPusher | ContextPusher
        if side == "api":
            pusher = ApiPusher(server.port, in_flight)
        else:
            await connections.open(url, 1)
            pusher = ContextPusher(connections.sockets[-1], in_flight)
        try:
            for warm_up in (-2, -1):  # uncounted: sequence numbers below 0
                await pusher.run(warm_up, 1)
                await deliveries.wait_for(
                    lambda s=warm_up: deliveries.per_sequence.get(s, 0) >= plan.members, now() + STEP_TIMEOUT
                )
            meter = Meter(server)
            with meter:
                first_send = now()
                await pusher.run(0, plan.pushes)
                last_send = now()
                expected = plan.pushes * plan.members
                complete = await deliveries.wait_for(lambda: deliveries.total >= expected, last_send + plan.grace)
        finally:
            await pusher.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    span = deliveries.last_arrival - first_send if deliveries.total else 0.0
    latencies = sorted(deliveries.latencies)
    return {
        "side": side,
        "in_flight": in_flight,
        "members": plan.members,
        "pushes": plan.pushes,
        "send_seconds": round(last_send - first_send, 3),
        "pushes_per_s": round(plan.pushes / span, 1) if span > 0 else None,
        "accepted_per_s": round(plan.pushes / (last_send - first_send), 1),
        "deliveries_per_s": round(deliveries.total / span, 1) if span > 0 else None,
        "expected": expected,
        "received": deliveries.total,
        "lost": expected - deliveries.total,
        "all_arrived": complete,
        "errors": pusher.errors,
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        **meter.figures(plan.pushes),
    }


async def run_all(server_kind: str, plan: Plan) -> list[dict[str, Any]]:
    results = []
    for in_flight in plan.in_flight:
        for side in SIDES:
            log(f"push-api bench: {side}, {in_flight} in flight, {plan.members} members, {plan.pushes} pushes")
            with PushServer(server_kind, f"push-api-{side}-{in_flight}") as server:
                results.append(await measure(server, side, in_flight, plan))
    return results


def table(report: dict[str, Any]) -> str:
    rows = report["results"]
    lines = [
        f"push API bench ({report['server']}, {rows[0]['members']} members, {rows[0]['pushes']} pushes per run; "
        f"load average before: {report['load_average_before']})",
        "",
        "side     in flight  pushes/s  accepted/s  deliveries/s  p50 ms  p99 ms  lost  srv cpu µs/push  "
        "server/client/other %",
    ]
    for row in rows:
        cpu = f"{row['server_cpu_pct']:.0f}/{row['client_cpu_pct']:.0f}/{row['others_cpu_pct']:.0f}"
        lines.append(
            f"{row['side']:<8} {row['in_flight']:>9}  {fmt(row['pushes_per_s']):>8}  {fmt(row['accepted_per_s']):>10}  "
            f"{fmt(row['deliveries_per_s']):>12}  {fmt(row['p50_ms'], '.1f'):>6}  {fmt(row['p99_ms'], '.1f'):>6}  "
            f"{row['lost']:>4}  {fmt(row['server_cpu_us_per_op']):>15}  {cpu:>21}"
        )
    lines.append("")
    for in_flight in sorted({row["in_flight"] for row in rows}):
        by_side = {row["side"]: row for row in rows if row["in_flight"] == in_flight}
        api, context = by_side.get("api"), by_side.get("context")
        if api and context:
            pushes = ratio(api["pushes_per_s"], context["pushes_per_s"])
            cpu = ratio(api["server_cpu_us_per_op"], context["server_cpu_us_per_op"])
            lines.append(
                f"{in_flight} in flight: api/context pushes/s {fmt(pushes, '.2f')}, "
                f"server CPU per push api/context {fmt(cpu, '.2f')}"
            )
    problems = [
        f"{r['side']}/{r['in_flight']}: {r['lost']} lost, {r['errors']} errors"
        for r in rows
        if r["lost"] or r["errors"]
    ]
    lines.append("WARNING: " + "; ".join(problems) if problems else "Every push arrived at every member; no errors.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--output", type=Path, default=RESULTS / "push-api-latest.json")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    raise_fd_limit(plan.members * 2 + 256)
    RESULTS.mkdir(exist_ok=True)
    runner, loop_name = client_runner(False)
    started = now()
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    results = runner(run_all(args.server, plan))
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "server": args.server,
        "quick": args.quick,
        "client_loop": loop_name,
        "load_average_before": load_before,
        "load_average_after": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "plan": asdict(plan),
        "results": results,
        "elapsed_seconds": round(now() - started, 1),
    }
    return write_report(args.output, report, table(report), "push-api bench")


if __name__ == "__main__":
    sys.exit(main())
