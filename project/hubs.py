"""The demo's hub: a chat with rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator

from realtime.exceptions import HubError
from realtime.hubs import Hub


class ChatHub(Hub):
    """Chat rooms: join a room, talk to it, count along with a server stream."""

    async def on_connected(self) -> None:
        await self.clients.others.asend("Notice", f"{self._name()} arrived")

    async def on_disconnected(self, exception: Exception | None) -> None:
        await self.clients.others.asend("Notice", f"{self._name()} left")

    async def join(self, room: str) -> None:
        """Join ``room`` (leaving the previous one)."""
        previous = self.context.items.get("room")
        if previous:
            await self.groups.remove(self.context.connection_id, previous)
            await self.clients.group(previous).asend("Notice", f"{self._name()} left {previous}")
        self.context.items["room"] = room
        await self.groups.add(self.context.connection_id, room)
        await self.clients.group(room).asend("Notice", f"{self._name()} joined {room}")

    async def say(self, text: str) -> None:
        """Send ``text`` to everyone in the caller's room."""
        room = self.context.items.get("room")
        if not room:
            raise HubError("Join a room first.")
        if not text.strip() or len(text) > 500:
            raise HubError("Messages are 1 to 500 characters.")
        await self.clients.group(room).asend("Message", self._name(), text)

    async def countdown(self, start: int) -> AsyncIterator[int]:
        """A server-to-client stream."""
        import asyncio

        for value in range(min(int(start), 20), -1, -1):
            yield value
            await asyncio.sleep(0.5)

    def _name(self) -> str:
        return self.context.request.query_value("name") or self.context.connection_id[:6]
