"""Several finished messages in one frame: what a batch of broadcasts becomes for each recipient.

A transport frame (a WebSocket message, an SSE event, a poll response) may carry several hub messages: JSON
messages each end with the ``0x1E`` record separator and MessagePack messages each start with their varint
length, so the frames :meth:`HubProtocol.write` makes join by plain concatenation. A :class:`FrameBatch` holds
messages encoded once per protocol, each for every recipient or for some user identifiers only, and joins
them once per protocol (and per user, when any message is restricted), so the recipients that may see the
same messages share one frame.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from .base import Frame

__all__ = ["FrameBatch", "join_frames"]


def join_frames(frames: Sequence[Frame]) -> Frame:
    """One frame holding every message of ``frames`` (finished frames of one protocol), in order."""
    if len(frames) == 1:
        return frames[0]
    if frames and isinstance(frames[0], bytes):
        return b"".join(frames)  # type: ignore[arg-type]
    return "".join(frames)  # type: ignore[arg-type]


class FrameBatch:
    """Messages in order, each ``(users, frames)``: ``users`` ``None`` (everyone) or who may receive it, and its
    frame per protocol name."""

    __slots__ = ("items", "restricted", "_frames", "_joined")

    def __init__(self, items: Sequence[tuple[Collection[str] | None, Mapping[str, Frame]]]) -> None:
        self.items = [(None if users is None else frozenset(users), frames) for users, frames in items]
        self.restricted = any(users is not None for users, _ in self.items)
        """Whether a message is for some users only (then frames are joined per user)."""
        self._frames: dict[tuple[str, str | None], list[Frame]] = {}
        self._joined: dict[tuple[str, str | None], Frame | None] = {}

    def frames(self, protocol: str, user: str | None) -> list[Frame]:
        """The frames of protocol ``protocol`` that ``user`` (``None``: anonymous) may receive, one per message."""
        key = (protocol, user if self.restricted else None)
        found = self._frames.get(key)
        if found is None:
            found = [
                frames[protocol]
                for users, frames in self.items
                if protocol in frames and (users is None or (user is not None and user in users))
            ]
            self._frames[key] = found
        return found

    def joined(self, protocol: str, user: str | None) -> Frame | None:
        """:meth:`frames` as one frame (``None`` when there is nothing for ``user``); computed once per key."""
        key = (protocol, user if self.restricted else None)
        if key not in self._joined:
            found = self.frames(protocol, user)
            self._joined[key] = join_frames(found) if found else None
        return self._joined[key]
