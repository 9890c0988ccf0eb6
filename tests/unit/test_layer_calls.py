"""Layer calls in flight at once are bounded (``LAYER_MAX_CONCURRENT_CALLS``); the rest wait their turn."""

from __future__ import annotations

import asyncio

from realtime import lifetime, loops


async def test_layer_calls_beyond_the_bound_wait_for_a_slot(settings):
    settings.REALTIME = {"LAYER_MAX_CONCURRENT_CALLS": 2}
    release = asyncio.Event()
    running: list[int] = []
    most = 0

    async def call(n: int) -> int:
        nonlocal most
        running.append(n)
        most = max(most, len(running))
        await release.wait()
        running.remove(n)
        return n

    calls = [asyncio.ensure_future(lifetime._bounded(call(n))) for n in range(5)]
    while len(running) < 2:
        await asyncio.sleep(0)
    for _ in range(10):  # the other three stay queued however long the first two take
        await asyncio.sleep(0)
    assert len(running) == 2
    release.set()
    assert await asyncio.gather(*calls) == [0, 1, 2, 3, 4]
    assert most == 2
    await loops.close()
