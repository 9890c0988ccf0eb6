"""The demo's hub: chat rooms for signed-in users, with a live list of who is in each room."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, Protocol

from rest_framework.permissions import IsAuthenticated

from realtime import Client, Hub, HubError

ROOM_NAME = re.compile(r"^[\w-]{1,30}$")


class ChatClient(Client, Protocol):
    """What the page handles (``connection.on("Message", ...)``): the wire names are these, in PascalCase."""

    async def message(self, user: str, text: str) -> None: ...

    async def notice(self, text: str) -> None: ...


class ChatHub(Hub[ChatClient]):
    """Join a room, talk to it, see who is there (presence: ``PresenceChanged`` diffs, ``online``).

    Typed: ``self.clients.group(room).notice(...)`` is checked against :class:`ChatClient`, and the methods are
    ``Join``, ``Online``, ``Say``... on the wire (``naming = "pascal"``; the page calls them in any case).
    """

    naming = "pascal"
    permission_classes = [IsAuthenticated]  # the page connects with its JWT (accessTokenFactory)
    track_presence = True

    async def presence_metadata(self) -> dict[str, Any]:
        return {"name": self._name()}

    async def join(self, room: str) -> list[dict[str, Any]]:
        """Move the caller to ``room``; returns who is in it."""
        if not ROOM_NAME.match(room):
            raise HubError("Room names are 1 to 30 letters, digits, - or _.")
        previous = self.context.items.get("room")
        if previous != room:
            if previous:
                await self.groups.remove(self.context.connection_id, previous)
                await self.clients.group(previous).notice(f"{self._name()} left #{previous}")
            self.context.items["room"] = room
            await self.groups.add(self.context.connection_id, room)
            await self.clients.group(room).notice(f"{self._name()} joined #{room}")
        return await self.online(room)

    async def online(self, room: str) -> list[dict[str, Any]]:
        """Who is in ``room``: one entry per user, with their number of open tabs."""
        users = await self.presence.users(room)
        return [{"name": user.entries[0].metadata.get("name"), "tabs": len(user.entries)} for user in users]

    async def transport(self) -> str:
        """The caller's transport: WebSockets, or ServerSentEvents / LongPolling when the browser fell back."""
        return self.context.transport

    async def say(self, text: str) -> None:
        """Send ``text`` to the caller's room."""
        room = self.context.items.get("room")
        if not room:
            raise HubError("Join a room first.")
        if not text.strip() or len(text) > 500:
            raise HubError("Messages are 1 to 500 characters.")
        await self.clients.group(room).message(self._name(), text.strip())

    async def count(self, total: int, interval_ms: int) -> AsyncIterator[int]:
        """Stream 1, 2, ... ``total``, one number every ``interval_ms``: the page drops its socket meanwhile and,
        with stateful reconnect, still gets each number once."""
        if not (0 < total <= 1000 and 0 <= interval_ms <= 1000):
            raise HubError("Count to 1 to 1000, 0 to 1000 ms apart.")
        for number in range(1, total + 1):
            yield number
            await asyncio.sleep(interval_ms / 1000)

    def _name(self) -> str:
        return self.context.user.get_username()
