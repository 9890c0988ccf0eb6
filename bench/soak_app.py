"""The soak run's server: the conformance application unchanged, plus ``GET /_soak/stats`` for 127.0.0.1 only.

``python -m daphne ... bench.soak_app:application`` (or uvicorn). The stats route answers what only the server
process itself can see, as JSON: its asyncio task count, ``sys.getallocatedblocks()``, thread count, and the
sizes of realtime's connection table on this event loop. Every other request goes to
``tests.conformance.asgi.application``, so the conformance contract is untouched.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections import Counter
from typing import Any

from tests.conformance.asgi import application as conformance

STATS_PATH = "/_soak/stats"


def stats() -> dict[str, Any]:
    """What this process holds right now (read on the server's event loop)."""
    from realtime import local
    from realtime.eventstream import topics
    from realtime.transports import claim, owner

    found: dict[str, Any] = {
        "tasks": len(asyncio.all_tasks()),
        "allocated_blocks": sys.getallocatedblocks(),
        "threads": threading.active_count(),
    }
    # A private look into realtime's per-loop state, to tell a leak in realtime from one in the server.
    table = local._tables.current()  # this loop's table, None before the first connection
    if table is not None:
        found["table"] = {
            "connections": len(table.connections),
            "http_owners": len(owner._owners.current() or {}),
            "claimed": len(claim._owned.current() or {}),
            "groups": len(table.members),
            "listeners": len(topics._feeds.current() or {}),
            "by_state": dict(Counter(f"{c.state.value} {c.transport.name}" for c in table.connections.values())),
        }
    return found


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve ``STATS_PATH`` to 127.0.0.1 (403 to anyone else); hand everything else to the conformance app."""
    if scope["type"] != "http" or scope["path"] != STATS_PATH:
        await conformance(scope, receive, send)
        return
    local_client = (scope.get("client") or ("",))[0] == "127.0.0.1"
    body = json.dumps(stats()).encode() if local_client else b""
    await send(
        {
            "type": "http.response.start",
            "status": 200 if local_client else 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
