"""The background loops of an event loop (``loops.Services``)."""

from __future__ import annotations

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
