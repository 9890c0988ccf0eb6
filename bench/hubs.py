"""The hub under test."""

from __future__ import annotations

from typing import Any

from realtime.hubs import Hub


class BenchHub(Hub):
    """Echo, group join and group broadcast: the work the raw consumers in ``consumers.py`` repeat."""

    async def Echo(self, message: Any):
        return message

    async def Join(self, group: str):
        await self.groups.add(self.context.connection_id, group)

    async def Broadcast(self, group: str, payload: Any):
        await self.clients.group(group).asend("Receive", payload)
