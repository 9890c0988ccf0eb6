"""Shared fixtures of the in-process suites (``tests/unit``, ``tests/integration``).

Not autouse here: ``tests/protocol`` is pure (no Django) and uses Hypothesis, which refuses
function-scoped fixtures it did not ask for. The suites that need it turn it on in their own conftest.
"""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture
async def realtime_cleanup():
    """After the test: close this loop's connection table (process channel, tasks) and flush the layer."""
    yield
    from channels.layers import get_channel_layer

    from realtime import local

    table = local._tables.pop(asyncio.get_running_loop(), None)
    if table is not None:
        await table.close()
    layer = get_channel_layer()
    if layer is not None:
        await layer.flush()
