"""Hub protocol messages: frozen msgspec structs (built several times faster than frozen dataclasses) for
message types 1–9 and the handshake.

Field names are Pythonic; the codecs map them to the wire names (``invocationId``, ``streamIds``...).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import msgspec


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


class InvocationMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Call ``target``; without ``invocation_id`` the caller wants no reply of any kind."""

    target: str
    arguments: list[Any] = msgspec.field(default_factory=list)
    invocation_id: str | None = None
    stream_ids: list[str] | None = None
    headers: Headers | None = None
    type = MessageType.INVOCATION


class StreamInvocationMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Call a streaming ``target``: StreamItems follow, then one Completion."""

    invocation_id: str
    target: str
    arguments: list[Any] = msgspec.field(default_factory=list)
    stream_ids: list[str] | None = None
    headers: Headers | None = None
    type = MessageType.STREAM_INVOCATION


class StreamItemMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One item of a server-to-client or client-to-server stream."""

    invocation_id: str
    item: Any = None
    headers: Headers | None = None
    type = MessageType.STREAM_ITEM


class CompletionMessage(msgspec.Struct, frozen=True, kw_only=True):
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


class CancelInvocationMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Stop the stream (or invocation) ``invocation_id``."""

    invocation_id: str
    headers: Headers | None = None
    type = MessageType.CANCEL_INVOCATION


class PingMessage(msgspec.Struct, frozen=True):
    """Keep-alive; carries nothing."""

    type = MessageType.PING


class CloseMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The sender is closing; ``error`` says why, ``allow_reconnect`` invites an automatic reconnect."""

    error: str | None = None
    allow_reconnect: bool = False
    type = MessageType.CLOSE


class AckMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Stateful reconnect: the sender of this processed every sequenced message up to ``sequence_id``."""

    sequence_id: int
    type = MessageType.ACK


class SequenceMessage(msgspec.Struct, frozen=True, kw_only=True):
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


class HandshakeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The client's first message: which hub protocol and version it speaks."""

    protocol: str
    version: int


class HandshakeResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The server's answer to the handshake: ``{}`` on success, or an error text."""

    error: str | None = None
