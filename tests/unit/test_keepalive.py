"""The process's keep-alive clock: one tick for every connection, and time the process stood still not counted."""

from __future__ import annotations

import asyncio
import time

from realtime import keepalive


class Recorder:
    """A ticking thing that records what the clock told it."""

    def __init__(self) -> None:
        self.ticks: list[tuple[float, float]] = []
        self.ticked = asyncio.Event()

    def tick(self, now: float, stalled: float) -> None:
        self.ticks.append((now, stalled))
        self.ticked.set()


async def test_the_clock_ticks_at_a_quarter_of_the_shortest_duty():
    fast, slow = Recorder(), Recorder()
    keepalive.watch(slow, 60.0)  # a 1 s tick (the coarsest)
    keepalive.watch(fast, 0.2)  # asks for a 50 ms tick: the clock follows at once
    for _ in range(3):
        fast.ticked.clear()
        await asyncio.wait_for(fast.ticked.wait(), 1)
    gaps = [b[0] - a[0] for a, b in zip(fast.ticks, fast.ticks[1:], strict=False)]
    assert all(gap < 0.5 for gap in gaps), gaps
    assert len(slow.ticks) == len(fast.ticks)  # one clock, every connection on each tick
    keepalive.unwatch(fast)
    keepalive.unwatch(slow)


async def test_a_late_tick_reports_the_time_the_process_stood_still():
    watched = Recorder()
    keepalive.watch(watched, 0.2)
    await asyncio.wait_for(watched.ticked.wait(), 1)
    watched.ticked.clear()
    time.sleep(2.5)  # the whole loop stands still, as a stopped process does
    await asyncio.wait_for(watched.ticked.wait(), 1)
    stalled = [stall for _, stall in watched.ticks if stall]
    assert stalled and stalled[0] > 2.0, watched.ticks
    keepalive.unwatch(watched)


class Failing:
    def tick(self, now: float, stalled: float) -> None:
        raise RuntimeError("broken duty")


async def test_a_failing_connection_does_not_stop_the_clock_of_the_others(caplog):
    broken, watched = Failing(), Recorder()
    keepalive.watch(broken, 0.2)
    keepalive.watch(watched, 0.2)
    for _ in range(2):
        watched.ticked.clear()
        await asyncio.wait_for(watched.ticked.wait(), 1)
    assert any("keep-alive duties" in record.getMessage() for record in caplog.records)
    keepalive.unwatch(broken)
    keepalive.unwatch(watched)
