"""The process channel's probes: when messages to this process may have been lost, and when delivery is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from realtime import lifetime, loops
from realtime.probes import LayerProbes


@pytest.fixture
def probed() -> Iterator[tuple[lifetime.ProcessChannel, list[int]]]:
    """A process channel (not started) and the probe numbers at which the gap listeners ran."""
    process = lifetime.ProcessChannel()
    gaps: list[int] = []
    stop = lifetime.on_gap(lambda: gaps.append(process.probes.seen))
    yield process, gaps
    stop()


def test_probes_in_order_report_nothing(probed):
    process, gaps = probed
    for seq in (1, 2, 3):
        process.probes.sent = seq
        process.probes.arrived(seq)
    assert gaps == []


def test_a_lost_probe_reports_a_gap_when_the_next_one_arrives(probed):
    process, gaps = probed
    process.probes.sent = 4
    for seq in (1, 2, 4):  # 3 was lost: so may be anything sent before 4 was
        process.probes.arrived(seq)
    assert gaps == [4]


def test_after_a_layer_failure_only_a_later_probe_shows_delivery_is_back(probed):
    process, gaps = probed
    process.probes.sent = 2
    process.probes.arrived(1)
    process.probes.lost()  # e.g. a receive or a probe send failed while probe 2 was on its way
    process.probes.arrived(2)  # sent before the failure: it proves nothing
    assert gaps == []
    process.probes.sent = 3
    process.probes.lost()  # probe 3 could not be sent either
    process.probes.sent = 4
    process.probes.arrived(4)
    assert gaps == [4]


class CountingProbes(LayerProbes):
    """Sets ``three`` once three probes came back through the layer."""

    def __init__(self) -> None:
        super().__init__()
        self.three = asyncio.Event()

    def arrived(self, seq: int) -> None:
        super().arrived(seq)
        if seq == 3:
            self.three.set()


async def test_probes_flow_through_the_layer_in_order(settings):
    settings.REALTIME = {"LAYER_CHECK_INTERVAL": 0.01}
    process = lifetime.ProcessChannel()
    process.probes = CountingProbes()
    await process.start()
    try:
        await asyncio.wait_for(process.probes.three.wait(), 5)
        assert not process.failing
    finally:
        await loops.close()


async def test_a_probe_group_join_that_fails_is_retried_and_probes_follow():
    """The layer may fail between the channel's start and its probe group's join (a loaded machine, Redis
    stopping): the join is retried, and the channel counts as failing until a probe comes back."""
    probes = LayerProbes("test")
    joins: list[str] = []
    arrived = asyncio.Event()

    async def join() -> None:
        joins.append("join")
        if len(joins) == 1:
            raise ConnectionError("Redis is down")

    async def send(seq: int) -> None:
        probes.arrived(seq)
        arrived.set()

    running = asyncio.ensure_future(probes.run(0.01, join, lambda: joins.append("leave"), send))
    try:
        await asyncio.wait_for(arrived.wait(), 5)
    finally:
        running.cancel()
    assert joins == ["join", "leave", "join"]
    assert not probes.failing and probes.seen >= 1


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
