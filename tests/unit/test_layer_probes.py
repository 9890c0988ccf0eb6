"""The process channel's probes: when messages to this process may have been lost, and when delivery is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from realtime import lifetime, loops


@pytest.fixture
def probed() -> Iterator[tuple[lifetime.ProcessChannel, list[int]]]:
    """A process channel (not started) and the probe numbers at which the gap listeners ran."""
    process = lifetime.ProcessChannel()
    gaps: list[int] = []
    stop = lifetime.on_gap(lambda: gaps.append(process._probes_seen))
    yield process, gaps
    stop()


def test_probes_in_order_report_nothing(probed):
    process, gaps = probed
    for seq in (1, 2, 3):
        process._probes_sent = seq
        process._probe_arrived(seq)
    assert gaps == []


def test_a_lost_probe_reports_a_gap_when_the_next_one_arrives(probed):
    process, gaps = probed
    process._probes_sent = 4
    for seq in (1, 2, 4):  # 3 was lost: so may be anything sent before 4 was
        process._probe_arrived(seq)
    assert gaps == [4]


def test_after_a_layer_failure_only_a_later_probe_shows_delivery_is_back(probed):
    process, gaps = probed
    process._probes_sent = 2
    process._probe_arrived(1)
    process._maybe_lost()  # e.g. a receive or a probe send failed while probe 2 was on its way
    process._probe_arrived(2)  # sent before the failure: it proves nothing
    assert gaps == []
    process._probes_sent = 3
    process._maybe_lost()  # probe 3 could not be sent either
    process._probes_sent = 4
    process._probe_arrived(4)
    assert gaps == [4]


class CountingChannel(lifetime.ProcessChannel):
    """Sets ``three`` once three probes came back through the layer."""

    def __init__(self) -> None:
        super().__init__()
        self.three = asyncio.Event()

    def _probe_arrived(self, seq: int) -> None:
        super()._probe_arrived(seq)
        if seq == 3:
            self.three.set()


async def test_probes_flow_through_the_layer_in_order(settings):
    settings.REALTIME = {"LAYER_CHECK_INTERVAL": 0.01}
    process = CountingChannel()
    await process.start()
    try:
        await asyncio.wait_for(process.three.wait(), 5)
        assert process._lost_before is None
    finally:
        await loops.close()


async def until(condition, what: str, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never {what}"
        await asyncio.sleep(0.05)


async def test_without_probes_a_failing_receive_counts_until_the_groups_are_back(settings):
    """``failing`` (what negotiate asks) with LAYER_CHECK_INTERVAL = 0: set by a receive that fails (Redis
    stopped), cleared once the receive loop re-added its groups to the restarted Redis."""
    from tests.servers import free_port, start_redis, stop

    port = free_port()
    redis = start_redis(port)
    settings.REALTIME = {"LAYER_CHECK_INTERVAL": 0}
    host = {"address": f"redis://127.0.0.1:{port}/0", "socket_timeout": None, "socket_connect_timeout": 5}
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}
    }
    process = lifetime.ProcessChannel()
    try:
        await process.start()
        assert not process.failing
        stop(redis)
        await until(lambda: process.failing, "failing after Redis stopped")
        redis = start_redis(port)
        await until(lambda: not process.failing, "healthy after Redis came back")
    finally:
        await loops.close()
        stop(redis)
