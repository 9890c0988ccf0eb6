"""The push API bench's server: one hub, its push API (``/api/hubs/bench/...``) and a hub method that makes the
same pushes from Python through the hub context. Serve it with ``DJANGO_SETTINGS_MODULE=bench.push_api_settings``.
"""

import asyncio
import os
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.push_api_settings")

import django  # noqa: E402

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime import Hub, api_routes, get_hub_context, hub_routes  # noqa: E402


class PushBenchHub(Hub):
    """Members join a group; the sender asks for pushes made through the hub context."""

    track_presence = True  # the push API needs it; no diffs are sent
    presence_event = ""

    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)

    async def PushFromContext(self, group: str, first: int, count: int, in_flight: int, pad: str) -> int:  # noqa: N802
        """``count`` pushes to ``group`` (numbered from ``first``), ``in_flight`` at a time, as Python code would make
        them: ``get_hub_context(Hub).clients.group(group).asend(...)``; each payload carries its send time."""
        clients = get_hub_context(PushBenchHub).clients

        async def push(sequence: int) -> None:
            await clients.group(group).asend("Receive", {"s": sequence, "t": time.perf_counter(), "d": pad})

        for start in range(first, first + count, in_flight):
            await asyncio.gather(*(push(s) for s in range(start, min(start + in_flight, first + count))))
        return count


http_hubs, websocket_hubs = hub_routes({"pushbench": PushBenchHub})
push_api: list[Any] = api_routes({"bench": PushBenchHub})

application = ProtocolTypeRouter({"http": URLRouter([*push_api, *http_hubs]), "websocket": URLRouter(websocket_hubs)})
