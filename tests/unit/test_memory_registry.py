"""The embedded registry: entries expire, and expired ones are forgotten without a scan per negotiate."""

from __future__ import annotations

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
