"""Change-capture bench: commit-to-client latency at a fixed commit rate to many subscribers, and the writer's
added cost per row, in the same run.

Usage::

    .venv/bin/python -m bench.capture                       # 100 subscribers, 1,000 rows/s for 5 s (~1 min)
    .venv/bin/python -m bench.capture --rate 200 --seconds 3

A fresh PostgreSQL database (127.0.0.1:5432, user postgres) and a private Redis; one daphne conformance server
(pub/sub layer) whose in-process publisher sends ``conformance_item`` changes to ChatHub group ``items``.

1. **Writer cost**: the same inserts into ``conformance_item`` (captured) and into ``plain_item`` (the same
   columns, no trigger), alternating, one row per transaction and 100 rows per transaction; first with no
   publisher running (what the triggers cost), then while the server's publisher sends every change.
2. **Latency**: ``--subscribers`` WebSocket clients join ``items``; a writer commits ``--rate`` rows/s (every
   10 ms, the rows due, one transaction) for ``--seconds``; each row's name is its index, and the latency is
   the time from ``COMMIT`` returning to the frame's arrival at each subscriber (one clock: this process).

Results: a table on stdout and ``bench/results/capture-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.common import ms, percentile
from tests.servers import conformance_server, redis_server

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
RS = "\x1e"
MARK = '"target":"ItemChanged"'
ROW_NAME = re.compile(r'"target":"ItemChanged","arguments":\[\{[^}]*?"name":"(\d+)"')
RESULTS = Path(__file__).parent / "results" / "capture-latest.json"


def admin(statement: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=10) as connection:
        connection.execute(statement)


def writer_cost(url: str, rows: int, rounds: int) -> dict[str, Any]:
    """Microseconds per row, captured vs plain, single-row transactions and 100-row transactions."""
    found: dict[str, dict[str, list[float]]] = {"single": {}, "batch": {}}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS plain_item (LIKE conformance_item INCLUDING ALL)")
        for _ in range(rounds):
            for table in ("conformance_item", "plain_item"):
                statement = f"INSERT INTO {table} (name) VALUES (%s)"
                start = time.perf_counter()
                for n in range(rows):
                    connection.execute(statement, [f"cost-{n}"])
                found["single"].setdefault(table, []).append((time.perf_counter() - start) / rows * 1e6)
                start = time.perf_counter()
                for first in range(0, rows, 100):
                    with connection.transaction(), connection.cursor() as cursor:
                        cursor.executemany(statement, [[f"cost-{n}"] for n in range(first, first + 100)])
                found["batch"].setdefault(table, []).append((time.perf_counter() - start) / rows * 1e6)
    out: dict[str, Any] = {}
    for kind, tables in found.items():
        captured, plain = statistics.median(tables["conformance_item"]), statistics.median(tables["plain_item"])
        out[kind] = {
            "captured_us": round(captured, 1),
            "plain_us": round(plain, 1),
            "added_us": round(captured - plain, 1),
        }
    return out


def caught_up(url: str, timeout: float) -> None:
    """Wait until the publisher has sent every committed change (its stored position is the newest id)."""
    query = (
        "SELECT published >= (SELECT coalesce(max(last_event), 0) FROM realtime_capture_txn) "
        "FROM realtime_capture_state"
    )
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as connection:
        while not connection.execute(query).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise TimeoutError("the capture publisher did not catch up with the writer-cost rows")
            time.sleep(0.05)


def write_at_rate(url: str, rate: int, seconds: float, committed: list[float], done: threading.Event) -> None:
    """Commit ``rate`` rows/s for ``seconds`` (every 10 ms, the rows due); ``committed[i]``: row i's commit time."""
    total = int(rate * seconds)
    with psycopg.connect(url) as connection:
        start = time.perf_counter()
        index = 0
        while index < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            if due > index:
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO conformance_item (name) VALUES (%s)", [[str(n)] for n in range(index, due)]
                    )
                connection.commit()
                now = time.perf_counter()
                committed.extend([now] * (due - index))
                index = due
            time.sleep(max(0.0, start + index / rate - time.perf_counter()))
    done.set()


async def subscriber(
    ws_url: str, total: int, frames: list[tuple[float, str]], ready: asyncio.Event, deflate: bool
) -> None:
    """Join ``items`` and keep each frame with its arrival time until ``total`` changes came (parsed afterwards,
    so the clients' own work delays the next frame less)."""
    compression = "deflate" if deflate else None  # browsers offer permessage-deflate; daphne declines it
    async with connect(ws_url, open_timeout=30, max_queue=None, compression=compression) as socket:
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        await socket.recv()
        await socket.send(
            json.dumps({"type": 1, "invocationId": "1", "target": "JoinGroup", "arguments": ["items"]}) + RS
        )
        while '"invocationId":"1"' not in (await socket.recv()).replace(" ", ""):
            pass
        ready.set()
        seen = 0
        while seen < total:
            try:
                data = await socket.recv()
            except ConnectionClosed:  # the server closes a subscriber that cannot keep up (MAX_OUTBOUND_BYTES)
                return
            frames.append((time.perf_counter(), data))
            seen += data.count(MARK)  # one frame may hold many ItemChanged invocations


async def latency(
    base: str, url: str, subscribers: int, rate: int, seconds: float, deflate: bool = True
) -> dict[str, Any]:
    total = int(rate * seconds)
    ws_url = base.replace("http://", "ws://") + "/chathub"
    frames: list[tuple[float, str]] = []
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = [asyncio.create_task(subscriber(ws_url, total, frames, ready, deflate)) for ready in readies]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
    committed: list[float] = []
    done = threading.Event()
    began = time.perf_counter()
    writer = asyncio.create_task(asyncio.to_thread(write_at_rate, url, rate, seconds, committed, done))
    finished, pending = await asyncio.wait(tasks, timeout=seconds + 60)
    for task in pending:
        task.cancel()
    await writer
    elapsed = time.perf_counter() - began
    arrivals = [(int(name), now) for now, data in frames for name in ROW_NAME.findall(data)]
    delays = sorted(arrival - committed[index] for index, arrival in arrivals)
    return {
        "subscribers": subscribers,
        "rows_per_s_offered": rate,
        "rows": total,
        "deliveries_expected": total * subscribers,
        "deliveries": len(delays),
        "deliveries_per_s": round(len(delays) / elapsed),
        "subscribers_done": len(finished),
        "p50_ms": ms(percentile(delays, 50)),
        "p99_ms": ms(percentile(delays, 99)),
        "max_ms": ms(delays[-1] if delays else None),
    }


async def measure(base: str, url: str, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The writer's cost with no publisher running (the triggers alone), then with the server's publisher
    sending every change (on the same cores), then the latency. A connection is open from the second step: the
    publisher starts with the server's process channel (its first connection), and the cost rows' changes are
    all sent before the subscribers join."""
    alone = await asyncio.to_thread(writer_cost, url, args.cost_rows, 2)
    ws_url = base.replace("http://", "ws://") + "/chathub"
    async with connect(ws_url, open_timeout=30) as socket:
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        await socket.recv()
        await asyncio.to_thread(caught_up, url, 120)
        live = await asyncio.to_thread(writer_cost, url, args.cost_rows, 2)
        await asyncio.to_thread(caught_up, url, 120)
        measured = await latency(base, url, args.subscribers, args.rate, args.seconds, not args.no_deflate)
    return {"triggers_only": alone, "with_publisher": live}, measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cost-rows", type=int, default=1000)
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--no-deflate", action="store_true", help="subscribers do not offer permessage-deflate")
    args = parser.parse_args()
    name = f"realtime_capture_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"{POSTGRES}/{name}"
        with redis_server() as redis_url:
            env = {"REDIS_URL": redis_url, "CHANNEL_LAYER": "pubsub", "CONFORMANCE_DATABASE_URL": url}
            with conformance_server(args.server, env=env) as server:
                cost, measured = asyncio.run(measure(server.url, url, args))
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result = {
        "server": args.server,
        "writer_cost": cost,
        "latency": measured,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
