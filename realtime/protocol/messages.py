"""Hub protocol messages: frozen, slotted dataclasses for message types 1–9 and the handshake.

Field names are Pythonic; the codecs map them to the wire names (``invocationId``, ``streamIds``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class MessageType(IntEnum):
    """The ``type`` number of each hub message on the wire."""

    INVOCATION = 1
    STREAM_ITEM = 2
    COMPLETION = 3
    STREAM_INVOCATION = 4
    CANCEL_INVOCATION = 5
    PING = 6
    CLOSE = 7
    ACK = 8
    SEQUENCE = 9


Headers = dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvocationMessage:
    """Call ``target``; without ``invocation_id`` the caller wants no reply of any kind."""

    target: str
    arguments: list[Any] = field(default_factory=list)
    invocation_id: str | None = None
    stream_ids: list[str] | None = None
    headers: Headers | None = None
    type = MessageType.INVOCATION


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamInvocationMessage:
    """Call a streaming ``target``: StreamItems follow, then one Completion."""

    invocation_id: str
    target: str
    arguments: list[Any] = field(default_factory=list)
    stream_ids: list[str] | None = None
    headers: Headers | None = None
    type = MessageType.STREAM_INVOCATION


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamItemMessage:
    """One item of a server-to-client or client-to-server stream."""

    invocation_id: str
    item: Any = None
    headers: Headers | None = None
    type = MessageType.STREAM_ITEM


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionMessage:
    """End of an invocation or stream: ``error``, or ``result`` when ``has_result``, or neither (void)."""

    invocation_id: str
    result: Any = None
    error: str | None = None
    has_result: bool = False
    headers: Headers | None = None
    type = MessageType.COMPLETION

    def __post_init__(self) -> None:
        if self.error is not None and self.has_result:
            raise ValueError("A Completion carries either an error or a result, never both.")

    @classmethod
    def with_result(cls, invocation_id: str, result: Any) -> CompletionMessage:
        """A Completion that carries ``result`` (``None`` included)."""
        return cls(invocation_id=invocation_id, result=result, has_result=True)

    @classmethod
    def with_error(cls, invocation_id: str, error: str) -> CompletionMessage:
        """A Completion that carries ``error``."""
        return cls(invocation_id=invocation_id, error=error)

    @classmethod
    def void(cls, invocation_id: str) -> CompletionMessage:
        """A Completion with neither result nor error."""
        return cls(invocation_id=invocation_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelInvocationMessage:
    """Stop the stream (or invocation) ``invocation_id``."""

    invocation_id: str
    headers: Headers | None = None
    type = MessageType.CANCEL_INVOCATION


@dataclass(frozen=True, slots=True)
class PingMessage:
    """Keep-alive; carries nothing."""

    type = MessageType.PING


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseMessage:
    """The sender is closing; ``error`` says why, ``allow_reconnect`` invites an automatic reconnect."""

    error: str | None = None
    allow_reconnect: bool = False
    type = MessageType.CLOSE


@dataclass(frozen=True, slots=True, kw_only=True)
class AckMessage:
    """Stateful reconnect: the sender of this processed every sequenced message up to ``sequence_id``."""

    sequence_id: int
    type = MessageType.ACK


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceMessage:
    """Stateful reconnect: the sender of this replays its unacknowledged messages from ``sequence_id`` on."""

    sequence_id: int
    type = MessageType.SEQUENCE


HubMessage = (
    InvocationMessage
    | StreamInvocationMessage
    | StreamItemMessage
    | CompletionMessage
    | CancelInvocationMessage
    | PingMessage
    | CloseMessage
    | AckMessage
    | SequenceMessage
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeRequest:
    """The client's first message: which hub protocol and version it speaks."""

    protocol: str
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeResponse:
    """The server's answer to the handshake: ``{}`` on success, or an error text."""

    error: str | None = None
