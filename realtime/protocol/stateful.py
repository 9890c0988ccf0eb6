"""Stateful reconnect bookkeeping (protocol.md §13), sans-IO: sequence ids, the unacknowledged frames, Ack/Sequence.

Only Invocation, StreamItem, Completion, StreamInvocation and CancelInvocation (types 1-5) carry sequence ids.
They are implicit: each side numbers what it sends from 1 and what it receives from 1, as the official
clients' ``MessageBuffer`` does. A sender keeps what it sent until the peer acknowledges it (``Ack``, at
most once a second) and replays it after a reconnect, announced by ``Sequence`` (the first id it replays);
the receiver drops what it already processed.
"""

from __future__ import annotations

from collections import deque

from ..exceptions import RemoteProtocolError
from .base import Frame
from .messages import MessageType

SEQUENCED = frozenset(
    {
        MessageType.INVOCATION,
        MessageType.STREAM_ITEM,
        MessageType.COMPLETION,
        MessageType.STREAM_INVOCATION,
        MessageType.CANCEL_INVOCATION,
    }
)
"""The message types that carry (implicit) sequence ids."""


class SentFrames:
    """The frames this side sent and the peer has not acknowledged, bounded in bytes by ``limit``."""

    __slots__ = ("limit", "size", "_frames", "_last_id")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._frames: deque[tuple[int, Frame]] = deque()
        self._last_id = 0

    @property
    def full(self) -> bool:
        """Whether a sender must wait for an Ack before the next sequenced frame (as ``MessageBuffer`` does)."""
        return self.size >= self.limit

    @property
    def last_id(self) -> int:
        """The sequence id of the last frame sent (0 before the first)."""
        return self._last_id

    def add(self, frame: Frame) -> int:
        """Keep ``frame``, the next sequenced frame sent; returns its sequence id."""
        self._last_id += 1
        self._frames.append((self._last_id, frame))
        self.size += len(frame)
        return self._last_id

    def restore(self, frames: list[tuple[int, Frame]], last_id: int) -> None:
        """Start from what another process kept: unacknowledged ``frames`` (id, frame), ``last_id`` sent."""
        self._frames = deque(frames)
        self.size = sum(len(frame) for _, frame in frames)
        self._last_id = last_id

    def ack(self, sequence_id: int) -> None:
        """The peer processed everything up to ``sequence_id``: forget those frames.

        Raises:
            RemoteProtocolError: ``sequence_id`` is below 0 or above the last id sent.
        """
        if not 0 <= sequence_id <= self._last_id:
            raise RemoteProtocolError(
                f"Ack of sequence id {sequence_id}, but the server sent sequence ids up to {self._last_id}."
            )
        frames = self._frames
        while frames and frames[0][0] <= sequence_id:
            self.size -= len(frames.popleft()[1])

    def first_unacked_id(self) -> int:
        """The ``Sequence`` id to announce before replaying: the oldest frame kept, else the next id."""
        return self._frames[0][0] if self._frames else self._last_id + 1

    def frame(self, sequence_id: int) -> Frame | None:
        """The kept frame with ``sequence_id``, or ``None`` (acknowledged already, or not sent yet)."""
        if not self._frames:
            return None
        index = sequence_id - self._frames[0][0]
        return self._frames[index][1] if 0 <= index < len(self._frames) else None


class ReceivedSequence:
    """Sequence ids of what the peer sent: which messages are new, and what to acknowledge."""

    __slots__ = ("_next_id", "latest", "acked")

    def __init__(self) -> None:
        self._next_id = 1
        self.latest = 0
        """The id of the newest message processed."""
        self.acked = 0
        """The id this side acknowledged last."""

    def accept(self) -> bool:
        """Count one sequenced message; ``False`` when it was processed before (a replayed duplicate)."""
        current = self._next_id
        self._next_id += 1
        if current <= self.latest:
            return False
        self.latest = current
        return True

    def restore(self, latest: int) -> None:
        """Start from what another process processed: every message up to ``latest``."""
        self._next_id = latest + 1
        self.latest = self.acked = latest

    def reset(self, sequence_id: int) -> None:
        """The peer replays from ``sequence_id`` (a ``Sequence`` message).

        Raises:
            RemoteProtocolError: ``sequence_id`` is below 1 or beyond the next id expected, which would leave a gap.
        """
        if not 1 <= sequence_id <= self.latest + 1:
            raise RemoteProtocolError(
                f"Sequence id {sequence_id} out of range: the server processed sequence ids up to {self.latest}."
            )
        self._next_id = sequence_id

    @property
    def ack_due(self) -> bool:
        """Whether messages arrived since the last ``Ack``."""
        return self.latest > self.acked
