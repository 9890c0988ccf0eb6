"""Presence benchmark: store join/leave rate, listing 10,000 members, disconnect and kill -9 → leave diff,
Redis commands per second of one process.

    .venv/bin/python -m bench.presence            # about 4 minutes
    .venv/bin/python -m bench.presence --quick    # about 2.5 minutes

Everything runs against a private ``redis-server`` on a free port (never the machine's 6379) and, for the
end-to-end figures, the conformance server (``tests/conformance``, ChatHub with ``track_presence``) under
Daphne with the default presence settings. Prints a table and writes ``bench/results/presence.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import django
import redis.asyncio
from django.conf import settings
from websockets.protocol import State

from tests.servers import conformance_server, redis_server

CLIENT_TIMEOUT = 30.0
"""The requirement: a killed process's connections leave within the client timeout."""
PING = '{"type":6}\x1e'
RESULTS = Path(__file__).resolve().parent / "results" / "presence.json"


def configure(redis_url: str) -> None:
    settings.configure(SECRET_KEY="bench", USE_TZ=True, INSTALLED_APPS=["realtime"], REALTIME={"REDIS_URL": redis_url})
    django.setup()


def entry(connection_id: str) -> Any:
    from realtime.presence.base import PresenceEntry

    return PresenceEntry(connection_id, f"user-{connection_id[-2:]}", time.time(), {"name": f"n{connection_id}"})


async def store_rate(store: Any, operations: int, concurrency: int) -> float:
    """Join + leave pairs on one group from ``concurrency`` tasks; returns single operations per second."""
    from realtime.presence.base import GROUP, Scope

    scope = Scope("bench.Hub", GROUP, "rate")
    pairs = operations // 2 // concurrency

    async def worker(index: int) -> None:
        for step in range(pairs):
            connection_id = f"w{index}-{step}"
            await store.join("bench", connection_id, [(scope, entry(connection_id))], 60)
            await store.leave("bench", connection_id, [scope])

    started = time.perf_counter()
    async with asyncio.timeout(120):
        await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return pairs * concurrency * 2 / (time.perf_counter() - started)


async def listing(store: Any, size: int, repeats: int) -> dict[str, float]:
    """Median ms of members(), connection_ids() and count() on a group of ``size`` members."""
    from realtime.presence.base import GROUP, Scope

    scope = Scope("bench.Hub", GROUP, f"big-{size}")
    ids = [f"c{index:06}" for index in range(size)]
    semaphore = asyncio.Semaphore(64)

    async def join(connection_id: str) -> None:
        async with semaphore:
            await store.join("bench", connection_id, [(scope, entry(connection_id))], 600)

    async with asyncio.timeout(120):
        await asyncio.gather(*(join(connection_id) for connection_id in ids))
    figures = {}
    for name in ("members", "connection_ids", "count"):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = await getattr(store, name)(scope)
            times.append((time.perf_counter() - started) * 1000)
            assert (result if isinstance(result, int) else len(result)) == size
        figures[name] = statistics.median(times)
    async with asyncio.timeout(120):
        for start in range(0, size, 64):
            await asyncio.gather(*(store.leave("bench", cid, [scope]) for cid in ids[start : start + 64]))
    return figures


async def diff(client: Any, timeout: float = 15) -> dict[str, Any]:
    return (await client.receive_invocation("PresenceChanged", timeout=timeout))[0]


def ws(server: Any) -> str:
    return server.url.replace("http://", "ws://") + "/chathub"


async def close(clients: list[Any]) -> None:
    async def one(client: Any) -> None:
        try:
            await asyncio.wait_for(client.close(), 1)
        except Exception:
            client.socket.transport.abort()

    await asyncio.gather(*(one(client) for client in clients))


async def churn(server: Any, clients: int, operations: int) -> float:
    """Hub invocations JoinGroup/LeaveGroup from ``clients`` connections over 5 groups; operations per second."""
    from tests.signalr_client import RawHubClient

    workers = [await RawHubClient.open(ws(server)) for _ in range(clients)]
    try:

        async def work(index: int, client: Any) -> None:
            rng, member = random.Random(index), set()
            for _ in range(operations // clients):
                group = f"churn-{rng.randrange(5)}"
                await client.invoke("LeaveGroup" if group in member else "JoinGroup", group)
                member ^= {group}

        started = time.perf_counter()
        async with asyncio.timeout(120):
            await asyncio.gather(*(work(index, client) for index, client in enumerate(workers)))
        return operations // clients * clients / (time.perf_counter() - started)
    finally:
        await close(workers)


async def leave_delays(server: Any, samples: int, *, abort: bool) -> list[float]:
    """ms from a member's disconnect (Close message, or TCP abort) to the leave diff at another member."""
    from tests.signalr_client import RawHubClient

    observer = await RawHubClient.open(ws(server))
    delays = []
    try:
        await observer.invoke("JoinGroup", "leave")
        await diff(observer)
        for _ in range(samples):
            subject = await RawHubClient.open(ws(server))
            await subject.invoke("JoinGroup", "leave")
            (joined,) = (await diff(observer))["joined"]
            started = time.perf_counter()
            if abort:
                subject.socket.transport.abort()
            else:
                await subject.close()
            change = await diff(observer)
            delays.append((time.perf_counter() - started) * 1000)
            assert change["left"] == [joined], change
    finally:
        await close([observer])
    return delays


async def kill_delay(observer_server: Any, env: dict[str, str], victims: int) -> float:
    """Seconds from ``kill -9`` of a process to the leave diffs of all its connections at another process."""
    from tests.signalr_client import RawHubClient

    observer = await RawHubClient.open(ws(observer_server))
    try:
        await observer.invoke("JoinGroup", "killed")
        await diff(observer)
        with conformance_server("daphne", env=env) as doomed:
            clients = [await RawHubClient.open(ws(doomed)) for _ in range(victims)]
            ids = set()
            for client in clients:
                await client.invoke("JoinGroup", "killed")
                ids.update((await diff(observer))["joined"])
            os.kill(doomed.process.pid, signal.SIGKILL)
            started = time.perf_counter()
            left: set[str] = set()
            while left != ids:
                left.update((await diff(observer, timeout=started + CLIENT_TIMEOUT - time.perf_counter()))["left"])
            delay = time.perf_counter() - started
            for client in clients:
                client.socket.transport.abort()
        return delay
    finally:
        await close([observer])


async def redis_load(window: float) -> dict[str, dict[str, Any]]:
    """Redis commands/s of one server process (its own Redis) with 1 tracked connection, then 1,000.

    Counted from ``INFO commandstats`` over ``window`` seconds with no joins or leaves: ``scripts`` are the
    presence round trips (``EVALSHA``), ``all`` every command, those the scripts run included.
    """
    from tests.signalr_client import RawHubClient

    results: dict[str, dict[str, Any]] = {}
    clients: list[Any] = []

    async def keep_alive() -> None:  # the server closes clients silent for CLIENT_TIMEOUT
        while True:
            await asyncio.sleep(10)
            await asyncio.gather(*(client.socket.send(PING) for client in list(clients)))

    with redis_server() as url, conformance_server("daphne", env={"REDIS_URL": url}) as server:
        stats = redis.asyncio.Redis.from_url(url, decode_responses=True)
        pinger = asyncio.create_task(keep_alive())
        try:
            for count in (1, 1000):
                while len(clients) < count:  # 100 groups of up to 10 members
                    client = await RawHubClient.open(ws(server))
                    clients.append(client)
                    await client.invoke("JoinGroup", f"load-{len(clients) % 100}")
                before = await stats.info("commandstats")
                await asyncio.sleep(window)  # the measured window
                after = await stats.info("commandstats")
                assert all(client.socket.state is State.OPEN for client in clients)
                calls = {
                    name.removeprefix("cmdstat_"): (value["calls"] - before.get(name, {"calls": 0})["calls"]) / window
                    for name, value in after.items()
                    if name != "cmdstat_info"
                }
                results[f"{count} connection(s)"] = {
                    "all": sum(calls.values()),
                    "scripts": calls.get("evalsha", 0.0),
                    "by_command": {name: rate for name, rate in sorted(calls.items()) if rate},
                }
        finally:
            pinger.cancel()
            await close(clients)
            await stats.aclose()
    return results


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


async def run(quick: bool) -> dict[str, Any]:
    from realtime.presence.memory import MemoryPresence
    from realtime.presence.redis import RedisPresence

    operations = 4_000 if quick else 20_000
    results: dict[str, Any] = {"store_ops_per_s": {}, "listing_ms": {}}
    redis_store = RedisPresence()
    async with redis_store.session():  # closes this loop's Redis client at the end
        for name, store in (("memory", MemoryPresence()), ("redis", redis_store)):
            for concurrency in (1, 32):
                rate = await store_rate(store, operations, concurrency)
                results["store_ops_per_s"][f"{name}, {concurrency} task(s)"] = rate
            results["listing_ms"][name] = await listing(store, 10_000, 3 if quick else 10)
    return results


async def end_to_end(url: str, quick: bool) -> dict[str, Any]:
    env = {"REDIS_URL": url}
    results: dict[str, Any] = {}
    with conformance_server("daphne", env=env) as server:
        results["hub_join_leave_per_s"] = await churn(server, 10, 1_000 if quick else 4_000)
        samples = 20 if quick else 100
        results["leave_diff_ms_close"] = percentiles(await leave_delays(server, samples, abort=False))
        results["leave_diff_ms_abort"] = percentiles(await leave_delays(server, samples, abort=True))
        results["kill_9_leave_diff_s"] = [await kill_delay(server, env, 5) for _ in range(2 if quick else 5)]
    results["redis_commands_per_s"] = await redis_load(40.0 if quick else 60.0)
    return results


def report(results: dict[str, Any]) -> None:
    print("\nPresence store: join + leave, single operations per second")
    for name, rate in results["store_ops_per_s"].items():
        print(f"  {name:<22} {rate:>10,.0f}/s")
    print("\nA group of 10,000 members (median ms, client decoding included)")
    print(f"  {'':<8} {'members()':>10} {'ids()':>10} {'count()':>10}")
    for name, figures in results["listing_ms"].items():
        row = "".join(f"{figures[key]:>11.2f}" for key in ("members", "connection_ids", "count"))
        print(f"  {name:<8}{row}")
    print(
        f"\nHub JoinGroup/LeaveGroup invocations (10 clients, Daphne, Redis): {results['hub_join_leave_per_s']:,.0f}/s"
    )
    for key, label in (("leave_diff_ms_close", "clean close"), ("leave_diff_ms_abort", "TCP abort")):
        figures = results[key]
        print(
            f"Disconnect → leave diff at another member, {label}: p50 {figures['p50']:.1f} ms, "
            f"p95 {figures['p95']:.1f} ms, max {figures['max']:.1f} ms"
        )
    kills = ", ".join(f"{value:.2f}" for value in results["kill_9_leave_diff_s"])
    print(f"kill -9 → leave diffs of its 5 connections (default settings, required < {CLIENT_TIMEOUT:g} s): {kills} s")
    print("\nRedis commands/s of one process, default presence settings, no joins or leaves")
    for name, figures in results["redis_commands_per_s"].items():
        detail = ", ".join(f"{command} {rate:.2f}" for command, rate in figures["by_command"].items())
        print(f"  {name:<17} scripts {figures['scripts']:.2f}/s, all {figures['all']:.2f}/s ({detail})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations and samples")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args()
    started = time.monotonic()
    with redis_server() as url:
        configure(url)
        results = asyncio.run(run(args.quick))
        results.update(asyncio.run(end_to_end(url, args.quick)))
    results["seconds"] = time.monotonic() - started
    results["python"] = platform.python_version()
    results["quick"] = args.quick
    report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\n{results['seconds']:.0f} s; results in {args.output}")


if __name__ == "__main__":
    main()
