"""The background loops of an event loop (``loops.Services``)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from realtime import loops
from tests.unit.test_layer_probes import until


async def test_a_background_loop_that_fails_is_logged(caplog):
    async def broken() -> None:
        raise RuntimeError("broken loop")

    loops.services().start("broken", broken)
    with caplog.at_level("ERROR", logger="realtime"):
        await until(lambda: "realtime-broken stopped on an error" in caplog.text, "logged")
    assert "RuntimeError: broken loop" in caplog.text
    await loops.close()


def test_a_per_loop_value_is_one_per_loop_and_goes_with_its_loop() -> None:
    class Value:
        pass

    per_loop: loops.PerLoop[Value] = loops.PerLoop(Value)

    async def read() -> tuple[Value, Value, Value | None]:
        return per_loop.get(), per_loop.get(), per_loop.current()

    first, again, current = asyncio.run(read())
    assert first is again is current
    gone = weakref.ref(first)
    del first, again, current
    gc.collect()
    assert gone() is None  # the last loop's value is not kept once that loop is collected
    second, _, _ = asyncio.run(read())
    assert isinstance(second, Value)  # a new loop gets a value of its own
