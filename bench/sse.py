"""Benchmark SSE topic streams (``realtime.eventstream``) against a plain Django baseline, in the same run.

Usage::

    .venv/bin/python -m bench.sse                    # 1,000 subscribers, uvicorn, about 1-2 minutes
    .venv/bin/python -m bench.sse --quick            # 500 subscribers, fewer events
    .venv/bin/python -m bench.sse --server daphne

Two sides, each on a fresh server process serving this module's ASGI app (plain Django views):

- **realtime**: ``TopicStreamView`` streams, ``apublish()`` publishes (one layer message per process,
  fanned out locally; every event kept in the memory history).
- **raw**: the plain way: an async view returning a ``StreamingHttpResponse`` whose generator makes a layer
  channel per stream, ``group_add``\\ s it and writes each ``layer.receive()``; publishing is one
  ``group_send`` (one layer message per stream). No history, no heartbeat.

Figures: events per second to N subscribers and deliveries per second (back to back: the next event is
published when the previous publish answered; bounded by count and time), send → receive latency, lost
deliveries, server CPU per delivery, and the server's RSS growth per open idle stream. Ratios compare the
two sides of this run. Results: a table on stdout and ``bench/results/sse.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import RESULTS, Meter, ms, percentile, raise_fd_limit, ratio, versions
from bench.common import Server as BenchServer

APP = "bench.sse:application"
SIDES = ("realtime", "raw")
STEP_TIMEOUT = 20.0
GRACE = 5.0
now = time.perf_counter
_DATA = re.compile(rb'data: "(\d+) ([0-9.]+)"')


@dataclass(frozen=True)
class Plan:
    subscribers: int = 1000
    events: int = 50
    time_limit: float = 30.0  # stop publishing after this long
    idle_settle: float = 2.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(subscribers=500, events=20, time_limit=15.0, idle_settle=1.0)


# -- the server side: a plain Django app (imported by the server process as ``bench.sse:application``) --------


def _configure() -> Any:
    import django
    from django.conf import settings

    from bench import settings as base

    values = {name: getattr(base, name) for name in dir(base) if name.isupper()}
    settings.configure(**{**values, "ROOT_URLCONF": "bench.sse"})
    django.setup()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def __getattr__(name: str) -> Any:
    """``application`` (and ``urlpatterns``) are built on first access, in the server process only."""
    if name == "application":
        globals()["application"] = found = _configure()
        return found
    if name == "urlpatterns":
        globals()["urlpatterns"] = found = _urlpatterns()
        return found
    raise AttributeError(name)


def _urlpatterns() -> list[Any]:
    from channels.layers import get_channel_layer
    from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from realtime.eventstream import TopicStreamView, apublish

    layer = get_channel_layer()

    async def raw_stream(request: HttpRequest, topic: str) -> StreamingHttpResponse:
        channel = await layer.new_channel()
        await layer.group_add(topic, channel)

        async def events() -> Any:
            try:
                yield b":\n\n"
                while True:
                    message = await layer.receive(channel)
                    yield f"id: {message['id']}\ndata: {message['data']}\n\n".encode()
            finally:
                await layer.group_discard(topic, channel)

        return StreamingHttpResponse(events(), content_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    counter = [0]

    @csrf_exempt
    async def publish(request: HttpRequest, side: str, topic: str) -> HttpResponse:
        text = request.body.decode()
        if side == "realtime":
            event_id = await apublish(topic, text)
        else:
            counter[0] += 1
            event_id = str(counter[0])
            await layer.group_send(topic, {"type": "sse.event", "id": event_id, "data": json.dumps(text)})
        return HttpResponse(event_id, status=202)

    return [
        path("realtime/<str:topic>", TopicStreamView.as_view()),
        path("raw/<str:topic>", raw_stream),
        path("publish/<str:side>/<str:topic>", publish),
    ]


# -- the client side --------------------------------------------------------------------------------------


class Server(BenchServer):
    """``bench.common``'s server process, serving this module's app (which configures Django itself)."""

    app = APP
    settings = None


class Stream:
    """One open SSE GET on a raw socket: chunked body decoded, ``data: "<n> <sent>"`` lines counted."""

    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task[None] | None = None
        self.seen: set[int] = set()
        self.duplicates = 0

    async def open(self, port: int, target: str, on_event: Any) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"SSE GET {target} answered {head[:40]!r}")
        if b"transfer-encoding: chunked" not in head.lower():
            raise RuntimeError("expected a chunked response")
        first = await self._chunk(reader)  # the first comment: subscribed
        assert first.startswith(b":")
        self.reader_task = asyncio.create_task(self._read(reader, on_event))

    @staticmethod
    async def _chunk(reader: asyncio.StreamReader) -> bytes:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        return (await reader.readexactly(size + 2))[:-2]

    async def _read(self, reader: asyncio.StreamReader, on_event: Any) -> None:
        pending = b""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                pending += await self._chunk(reader)
                if not pending.endswith(b"\n\n"):
                    continue
                arrived = now()
                for match in _DATA.finditer(pending):
                    number = int(match[1])
                    if number in self.seen:
                        self.duplicates += 1
                    else:
                        self.seen.add(number)
                        on_event(arrived - float(match[2]))
                pending = b""

    async def close(self) -> None:
        if self.reader_task is not None:
            self.reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self.reader_task
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


async def open_streams(port: int, target: str, count: int, on_event: Any) -> list[Stream]:
    streams = [Stream() for _ in range(count)]
    limit = asyncio.Semaphore(100)

    async def one(stream: Stream) -> None:
        async with limit, asyncio.timeout(STEP_TIMEOUT):
            await stream.open(port, target, on_event)

    await asyncio.gather(*(one(stream) for stream in streams))
    return streams


async def close_streams(streams: list[Stream]) -> None:
    await asyncio.gather(*(stream.close() for stream in streams))


async def post(port: int, target: str, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n")
        if b" 202 " not in head:
            raise RuntimeError(f"publish answered {head!r}: {await reader.read(2000)!r}")
        await reader.read()
    finally:
        writer.close()


async def run_fanout(server: Server, side: str, plan: Plan) -> dict[str, Any]:
    """Publish ``plan.events`` back to back to ``plan.subscribers`` streams of one topic."""
    latencies: list[float] = []
    streams = await open_streams(server.port, f"/{side}/fan", plan.subscribers, latencies.append)
    try:
        await post(server.port, f"/publish/{side}/fan", f"0 {now()}".encode())  # warm-up, uncounted
        deadline = time.monotonic() + STEP_TIMEOUT
        while len(latencies) < plan.subscribers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        latencies.clear()
        sent = 0
        with Meter(server) as meter:
            started = now()
            stop_at = started + plan.time_limit
            for number in range(1, plan.events + 1):
                await post(server.port, f"/publish/{side}/fan", f"{number} {now()}".encode())
                sent += 1
                if now() > stop_at:
                    break
            expected = sent * plan.subscribers
            grace_end = now() + GRACE + plan.time_limit
            last = len(latencies)
            while len(latencies) < expected and now() < grace_end:
                await asyncio.sleep(0.01)
                if len(latencies) == last and now() > stop_at + GRACE:
                    break
                last = len(latencies)
            elapsed = now() - started
        received = len(latencies)
        latencies.sort()
        return {
            "subscribers": plan.subscribers,
            "events_sent": sent,
            "deliveries": received,
            "lost": expected - received,
            "duplicates": sum(stream.duplicates for stream in streams),
            "seconds": round(elapsed, 3),
            "events_per_s": round(received / plan.subscribers / elapsed, 1),
            "deliveries_per_s": round(received / elapsed),
            "p50_ms": ms(percentile(latencies, 50)),
            "p99_ms": ms(percentile(latencies, 99)),
            **meter.figures(received),
        }
    finally:
        await close_streams(streams)


async def run_idle(server: Server, side: str, plan: Plan) -> dict[str, Any]:
    """Server RSS growth per open idle stream (all on one topic)."""
    await close_streams(await open_streams(server.port, f"/{side}/idle", 20, lambda _: None))  # warm code paths
    await asyncio.sleep(plan.idle_settle)
    before = server.rss_kb()
    streams = await open_streams(server.port, f"/{side}/idle", plan.subscribers, lambda _: None)
    await asyncio.sleep(plan.idle_settle)
    during = server.rss_kb()
    await close_streams(streams)
    return {
        "streams": plan.subscribers,
        "rss_before_kb": before,
        "rss_open_kb": during,
        "kb_per_stream": round((during - before) * 1.024 / plan.subscribers, 2),
    }


async def run_all(server_kind: str, plan: Plan, log: Any) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {"idle": {}, "fanout": {}}
    for name, run in (("idle", run_idle), ("fanout", run_fanout)):
        for side in SIDES:
            started = now()
            with Server(server_kind, f"sse-{name}-{side}") as server:
                async with asyncio.timeout(300):
                    results[name][side] = figures = await run(server, side, plan)
            log(f"  {name} {side}: {json.dumps(figures)} ({now() - started:.1f} s)")
    fan, idle = results["fanout"], results["idle"]
    return {
        "fanout": {
            **fan,
            "ratio_realtime_raw": ratio(fan["realtime"]["deliveries_per_s"], fan["raw"]["deliveries_per_s"]),
            "p99_ratio_raw_realtime": ratio(fan["raw"]["p99_ms"], fan["realtime"]["p99_ms"]),
        },
        "idle": {**idle, "ratio_realtime_raw": ratio(idle["realtime"]["kb_per_stream"], idle["raw"]["kb_per_stream"])},
    }


def table(report: dict[str, Any]) -> str:
    fan, idle = report["results"]["fanout"], report["results"]["idle"]
    rows = [f"SSE fan-out to {report['plan']['subscribers']:,} subscribers of one topic ({report['server']})"]
    rows.append(
        "       side | events/s  deliveries/s   p50 ms   p99 ms  lost  dup  cpu µs/delivery  cpu % server/client/other"
    )
    for side in SIDES:
        f = fan[side]
        rows.append(
            f"{side:>11} | {f['events_per_s']:>8,.1f}  {f['deliveries_per_s']:>12,}  {f['p50_ms']:>7}  {f['p99_ms']:>7}"
            f"  {f['lost']:>4}  {f['duplicates']:>3}  {f['server_cpu_us_per_op']:>15}"
            f"  {f['server_cpu_pct']:.0f} / {f['client_cpu_pct']:.0f} / {f['others_cpu_pct']:.0f}"
        )
    rows.append(
        f"realtime/raw deliveries/s: {fan['ratio_realtime_raw']}x   p99 raw/realtime: {fan['p99_ratio_raw_realtime']}x"
    )
    rows.append(
        f"Memory per open idle stream: realtime {idle['realtime']['kb_per_stream']} KB   "
        f"raw {idle['raw']['kb_per_stream']} KB   realtime/raw {idle['ratio_realtime_raw']}x"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 subscribers, 20 events")
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--subscribers", type=int, help="override the number of subscribers")
    parser.add_argument("--events", type=int, help="override the number of events")
    parser.add_argument("--output", type=Path, default=RESULTS / "sse.json")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    if args.subscribers or args.events:
        plan = Plan(args.subscribers or plan.subscribers, args.events or plan.events, plan.time_limit, plan.idle_settle)
    RESULTS.mkdir(exist_ok=True)
    raise_fd_limit(plan.subscribers * 2 + 256)
    started = now()
    print(f"bench.sse: {plan}, {args.server}", flush=True)
    results = asyncio.run(run_all(args.server, plan, lambda line: print(line, flush=True)))
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "server": args.server,
        "plan": plan.__dict__,
        "python": platform.python_version(),
        "versions": versions(),
        "seconds": round(now() - started, 1),
        "results": results,
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"({report['seconds']} s; written to {args.output})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
