"""The embedded registry: entries expire, and expired ones are forgotten without a scan per negotiate."""

from __future__ import annotations

import gc

import pytest

from realtime import registry as registry_module
from realtime.registry import Entry, MemoryRegistry


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``time.monotonic`` of the registry module, set by the test."""
    now = [1000.0]
    monkeypatch.setattr(registry_module.time, "monotonic", lambda: now[0])
    return now


async def test_an_unclaimed_entry_expires_and_a_later_negotiate_forgets_it(clock: list[float], settings) -> None:
    settings.REALTIME = {"DISCONNECT_TIMEOUT": 30}
    registry = MemoryRegistry()
    await registry.create("old", Entry(connection_id="a", endpoint="e"))
    clock[0] += 31
    assert await registry.lookup("old") is None
    assert "old" in registry._entries  # expired, not yet swept
    await registry.create("new", Entry(connection_id="b", endpoint="e"))
    assert set(registry._entries) == {"new"}
    assert (await registry.lookup("new")).connection_id == "b"


async def test_negotiates_within_a_sweep_interval_scan_nothing(clock: list[float], settings) -> None:
    settings.REALTIME = {"DISCONNECT_TIMEOUT": 0.1}
    assert MemoryRegistry.SWEEP_INTERVAL == 1.0
    registry = MemoryRegistry()
    await registry.create("first", Entry(connection_id="a", endpoint="e"))  # swept at 1000.0
    clock[0] += 0.5
    await registry.create("second", Entry(connection_id="b", endpoint="e"))
    assert set(registry._entries) == {"first", "second"}  # "first" expired, kept until the next sweep
    clock[0] += 0.5
    await registry.create("third", Entry(connection_id="c", endpoint="e"))  # a second later: swept
    assert set(registry._entries) == {"third"}


async def test_refreshes_and_sweeps_leave_nothing_new_for_the_garbage_collector(settings) -> None:
    """At thousands of connections, a new tracked object per entry per refresh or sweep would be promoted to the
    oldest generation and walked by every full collection: the deadlines are plain floats, rewritten in place."""
    settings.REALTIME = {"DISCONNECT_TIMEOUT": 30}
    registry = MemoryRegistry()
    for index in range(1000):
        await registry.create(f"t{index}", Entry(connection_id=str(index), endpoint="e"))
    owned = {}
    for index in range(500):
        claim = await registry.claim(f"t{index}", "WebSockets", "owner")
        owned[f"t{index}"] = claim.entry
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        await registry.refresh(owned)
        registry._next_sweep = 0.0
        await registry.create("new", Entry(connection_id="new", endpoint="e"))  # sweeps the table
        young = [obj for obj in gc.get_objects(generation=0) if isinstance(obj, tuple | Entry | dict)]
    finally:
        if was_enabled:
            gc.enable()
    assert len(young) < 50, young[:5]
    assert await registry.lookup("t1") is owned["t1"] and len(registry._entries) == 1001
