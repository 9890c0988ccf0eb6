"""A typed hub with every kind of value ``realtime_typescript`` maps, for the TypeScript tests (never served)."""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from realtime import Hub


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Author(TypedDict):
    name: str
    id: uuid.UUID
    nickname: NotRequired[str | None]


class Message(TypedDict):
    """One chat message."""

    author: Author
    text: str
    sent: datetime.datetime
    tags: list[str]
    reply_to: Message | None


@dataclass
class Attachment:
    """A file sent with a message."""

    name: str
    content: bytes
    size: int = 0


class Stats(TypedDict, total=False):
    counts: dict[str, int]
    by_hour: dict[int, float]
    colours: dict[Colour, int]


class RoomClient(Protocol):  # not realtime.Client: on() takes only these names
    async def receive_message(self, message: Message) -> None:
        """A message arrived in one of the caller's rooms."""

    async def ask_colour(self, question: str) -> Colour: ...

    async def attachment(self, room: str, attachment: Attachment, at: datetime.datetime | None = None) -> None: ...


class RoomHub(Hub[RoomClient]):
    naming = "pascal"
    track_presence = True

    async def send_message(self, room: str, text: str, tags: list[str] | None = None) -> Message:
        """Post ``text`` to ``room``."""
        raise NotImplementedError

    async def upload(self, room: str, attachment: Attachment) -> uuid.UUID:
        raise NotImplementedError

    async def history(self, room: str, since: datetime.datetime) -> AsyncIterator[Message]:
        yield Message(author=Author(name="", id=uuid.uuid4()), text="", sent=since, tags=[], reply_to=None)

    async def sum_numbers(self, numbers: AsyncIterator[int], scale: float) -> float:
        raise NotImplementedError

    async def stats(self, mode: Literal["day", "week"], colour: Colour) -> Stats:
        raise NotImplementedError

    async def echo(self, value: Any, other):  # noqa: ANN001, ANN201  (unannotated: unknown)
        return value

    async def ping(self) -> None:
        return None
