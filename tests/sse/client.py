"""A plain HTTP SSE client for the tests: aiohttp reads the stream, parsed here as the HTML standard says.

Independent of ``realtime.protocol.event_stream``: it parses what arrives, it does not re-encode it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

WAIT = 20.0
"""Seconds any single expected item may take (generous: the machine is shared)."""


@dataclass
class Event:
    """A dispatched event: type (``message`` by default), data, and the last event id after it."""

    event: str
    data: str
    id: str


@dataclass
class EventStream:
    """One open ``text/event-stream`` response."""

    response: aiohttp.ClientResponse
    raw: bytearray = field(default_factory=bytearray)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    last_id: str = ""
    _items: asyncio.Queue = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        buffer = ""
        data: list[str] = []
        kind = ""
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            async for chunk in self.response.content.iter_any():
                self.raw += chunk
                buffer += decoder.decode(chunk)
                *lines, buffer = re.split(r"\r\n|\r(?!$)|\n", buffer)
                for line in lines:
                    if line == "":
                        if data:
                            self._items.put_nowait(Event(kind or "message", "\n".join(data), self.last_id))
                        data, kind = [], ""
                    elif line.startswith(":"):
                        self.comments.append(line[1:].removeprefix(" "))
                        self._items.put_nowait(("comment", line[1:].removeprefix(" ")))
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "data":
                            data.append(value)
                        elif name == "event":
                            kind = value
                        elif name == "id" and "\0" not in value:
                            self.last_id = value
                        elif name == "retry" and value.isdigit():
                            self.retry = int(value)
                            self._items.put_nowait(("retry", self.retry))
        except (aiohttp.ClientError, ConnectionError):
            pass
        self._items.put_nowait(None)

    async def next(self, timeout: float = WAIT) -> Event:
        """The next event (comments skipped); ``EOFError`` when the stream ended."""
        while True:
            item = await asyncio.wait_for(self._items.get(), timeout)
            if item is None:
                self._items.put_nowait(None)
                raise EOFError("the stream ended")
            if isinstance(item, Event):
                return item

    async def events(self, count: int, timeout: float = WAIT) -> list[Event]:
        """The next ``count`` events."""
        return [await self.next(timeout) for _ in range(count)]

    async def comment(self, timeout: float = WAIT) -> str:
        """The next comment (events and retry fields before it are dropped)."""
        return await self._next_field("comment", timeout)

    async def retry_field(self, timeout: float = WAIT) -> int:
        """The next ``retry:`` value (events and comments before it are dropped)."""
        return await self._next_field("retry", timeout)

    async def _next_field(self, kind: str, timeout: float) -> Any:
        while True:
            item = await asyncio.wait_for(self._items.get(), timeout)
            if item is None:
                raise EOFError("the stream ended")
            if isinstance(item, tuple) and item[0] == kind:
                return item[1]

    async def ended(self, timeout: float = WAIT) -> bool:
        """Wait until the server ends the stream (events meanwhile are dropped)."""
        while True:
            if await asyncio.wait_for(self._items.get(), timeout) is None:
                return True

    def idle(self) -> list[Event]:
        """Events already received and not yet read (does not wait)."""
        found = []
        while not self._items.empty():
            item = self._items.get_nowait()
            if item is None:
                self._items.put_nowait(None)
                break
            if isinstance(item, Event):
                found.append(item)
        return found


@contextlib.asynccontextmanager
async def open_stream(url: str, headers: dict[str, str] | None = None, **kwargs) -> AsyncIterator[EventStream]:
    """GET ``url`` and read it as an event stream (the response is checked by the caller)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        async with session.get(url, headers=headers or {}, **kwargs) as response:
            stream = EventStream(response)
            if response.status == 200:
                stream.start()
            try:
                yield stream
            finally:
                if stream._reader is not None:
                    stream._reader.cancel()
                    with contextlib.suppress(BaseException):
                        await stream._reader


async def publish(base: str, topic: str, data, event: str | None = None) -> str:
    """POST one event to the conformance route ``/sse/{topic}``; returns its id."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/sse/{topic}", json={"event": event, "data": data}) as response:
            body = await response.json(content_type=None) if response.status == 202 else await response.text()
            assert response.status == 202, (response.status, body)
            return body["id"]


async def request(method: str, url: str, **kwargs) -> tuple[int, str, dict[str, str]]:
    """One plain request: status, body text and headers."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        async with session.request(method, url, **kwargs) as response:
            return response.status, await response.text(), dict(response.headers)
