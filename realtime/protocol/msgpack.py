"""The MessagePack hub protocol (``messagepack``, transfer format Binary): varint length + array.

Array layouts are those of protocol.md §6. Packing uses ``use_bin_type=True`` (bytes → bin) and turns every
datetime into a Timestamp extension in :func:`encode_value` (naive ones taken as UTC, milliseconds as on every
path); other values follow :mod:`realtime.protocol.values`. Unpacking uses ``raw=False, timestamp=3``
(Timestamp → aware UTC datetime).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgpack

from realtime.exceptions import MessageTooLarge, RemoteProtocolError

from .base import HubProtocol, MessageDecoder
from .messages import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    Headers,
    HubMessage,
    InvocationMessage,
    MessageType,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from .values import to_builtin, utc_millis
from .varint import decode_length, encode_length

ERROR_RESULT, VOID_RESULT, NON_VOID_RESULT = 1, 2, 3

# --- value mapping ------------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> msgpack.Timestamp:
    """The Timestamp of ``value`` (UTC, naive = UTC, milliseconds).

    Not ``Timestamp.from_datetime``: it truncates toward zero, one second late before 1970 (msgpack 1.1).
    """
    delta = utc_millis(value) - _EPOCH
    return msgpack.Timestamp(delta.days * 86400 + delta.seconds, delta.microseconds * 1000)


def encode_value(value: Any) -> Any:
    """``msgpack.packb`` ``default`` hook: datetime → :func:`timestamp`, else :func:`to_builtin`."""
    if isinstance(value, datetime):
        return timestamp(value)
    return to_builtin(value)


def packb(value: Any) -> bytes:
    """MessagePack bytes for ``value`` with the hub value mapping.

    ``datetime=False``: msgpack would pack aware datetimes itself, to the microsecond; :func:`encode_value`
    packs them all.
    """
    return msgpack.packb(value, use_bin_type=True, datetime=False, default=encode_value)


# --- reading ------------------------------------------------------------------------------------------

_KINDS: dict[type, str] = {str: "String", list: "Array", dict: "Map", int: "Integer", bool: "Boolean"}


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, timestamp=3, strict_map_key=False)
    except Exception as exc:  # msgpack raises ValueError, TypeError, OverflowError... for bad input
        raise RemoteProtocolError(f"Invalid MessagePack data: {type(exc).__name__}: {exc}") from None


def _is_kind(value: Any, kind: type) -> bool:
    if kind is int and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _get(array: list[Any], index: int, name: str, kind: type | None = None, *, nullable: bool = False) -> Any:
    """Element ``index`` (called ``name`` in errors), checked against ``kind`` unless ``None``."""
    if index >= len(array):
        raise RemoteProtocolError(f"Missing {name} in message of type {array[0]}.")
    value = array[index]
    if kind is None or (value is None and nullable) or _is_kind(value, kind):
        return value
    raise RemoteProtocolError(f"Expected {name} to be of type {_KINDS[kind]}.")


def _headers(array: list[Any]) -> Headers | None:
    headers = _get(array, 1, "headers", dict, nullable=True)
    if headers and not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise RemoteProtocolError("Expected headers to map String to String.")
    return headers or None


def _stream_ids(array: list[Any]) -> list[str] | None:
    ids = _get(array, 5, "stream ids", list, nullable=True) if len(array) > 5 else None
    if ids and not all(isinstance(i, str) for i in ids):
        raise RemoteProtocolError("Expected stream ids to be an Array of String.")
    return ids or None


def _invocation(array: list[Any]) -> InvocationMessage:
    return InvocationMessage(
        headers=_headers(array),
        invocation_id=_get(array, 2, "invocation id", str, nullable=True),
        target=_get(array, 3, "target", str),
        arguments=_get(array, 4, "arguments", list),
        stream_ids=_stream_ids(array),
    )


def _stream_invocation(array: list[Any]) -> StreamInvocationMessage:
    return StreamInvocationMessage(
        headers=_headers(array),
        invocation_id=_get(array, 2, "invocation id", str),
        target=_get(array, 3, "target", str),
        arguments=_get(array, 4, "arguments", list),
        stream_ids=_stream_ids(array),
    )


def _stream_item(array: list[Any]) -> StreamItemMessage:
    return StreamItemMessage(
        headers=_headers(array),
        invocation_id=_get(array, 2, "invocation id", str),
        item=_get(array, 3, "item"),
    )


def _completion(array: list[Any]) -> CompletionMessage:
    headers = _headers(array)
    invocation_id = _get(array, 2, "invocation id", str)
    kind = _get(array, 3, "result kind", int)
    if kind == ERROR_RESULT:
        error = _get(array, 4, "error", str)
        return CompletionMessage(invocation_id=invocation_id, error=error, headers=headers)
    if kind == NON_VOID_RESULT:
        result = _get(array, 4, "result")
        return CompletionMessage(invocation_id=invocation_id, result=result, has_result=True, headers=headers)
    if kind == VOID_RESULT:
        return CompletionMessage(invocation_id=invocation_id, headers=headers)
    raise RemoteProtocolError("Invalid invocation result kind.")


def _cancel(array: list[Any]) -> CancelInvocationMessage:
    invocation_id = _get(array, 2, "invocation id", str)
    return CancelInvocationMessage(headers=_headers(array), invocation_id=invocation_id)


def _close(array: list[Any]) -> CloseMessage:
    error = _get(array, 1, "error", str, nullable=True)
    allow = _get(array, 2, "allowReconnect", bool, nullable=True) if len(array) > 2 else False
    return CloseMessage(error=error, allow_reconnect=bool(allow))


_READERS: dict[int, Callable[[list[Any]], HubMessage]] = {
    MessageType.INVOCATION: _invocation,
    MessageType.STREAM_ITEM: _stream_item,
    MessageType.COMPLETION: _completion,
    MessageType.STREAM_INVOCATION: _stream_invocation,
    MessageType.CANCEL_INVOCATION: _cancel,
    MessageType.PING: lambda array: PingMessage(),
    MessageType.CLOSE: _close,
    MessageType.ACK: lambda array: AckMessage(sequence_id=_get(array, 1, "sequence id", int)),
    MessageType.SEQUENCE: lambda array: SequenceMessage(sequence_id=_get(array, 1, "sequence id", int)),
}


def parse_message(body: bytes) -> HubMessage | None:
    """Parse one message body (without its length prefix); ``None`` for an unknown type."""
    array = _unpack(body)
    if not isinstance(array, list) or not array:
        raise RemoteProtocolError("Expected a non-empty MessagePack array as message.")
    if not _is_kind(array[0], int):
        raise RemoteProtocolError("Expected the message type to be of type Integer.")
    reader = _READERS.get(array[0])
    return reader(array) if reader is not None else None


class MessagePackMessageDecoder(MessageDecoder):
    """Splits a MessagePack byte stream on its varint length prefixes; discard it after it raised."""

    __slots__ = ("max_message_size", "_buffer")

    def __init__(self, *, max_message_size: int | None) -> None:
        super().__init__()
        self.max_message_size = max_message_size
        self._buffer: bytearray | None = None  # an incomplete trailing message, if any (idle: none)

    @property
    def pending(self) -> int:
        """Bytes of the incomplete trailing message (prefix included)."""
        return len(self._buffer) if self._buffer is not None else 0

    def messages(self, data: bytes | str) -> Iterator[HubMessage]:
        """Every complete message in ``data`` plus the kept partial data; see :class:`MessageDecoder`.

        Raises:
            RemoteProtocolError: also for ``str`` data (a text frame): MessagePack is binary only.
        """
        if isinstance(data, str):
            raise RemoteProtocolError("The 'messagepack' protocol expects binary data, got text.")
        buffer = self._buffer if self._buffer is not None else bytearray()
        buffer += data
        start = 0
        try:
            while (found := self._next_body(buffer, start)) is not None:
                body, start = found
                if (message := parse_message(body)) is not None:
                    self.last_size = len(body)
                    yield message
        finally:
            del buffer[:start]
            self._buffer = buffer or None

    def _next_body(self, buffer: bytearray, start: int) -> tuple[bytes, int] | None:
        """``(body, end offset)`` of the message at ``start`` of ``buffer``, or ``None`` while it is incomplete."""
        header = decode_length(buffer, start)
        if header is None:
            return None
        length, size = header
        if self.max_message_size is not None and length > self.max_message_size:
            raise MessageTooLarge(f"The maximum message size of {self.max_message_size}B was exceeded.")
        end = start + size + length
        if end > len(buffer):
            return None
        return bytes(buffer[start + size : end]), end


# --- writing ------------------------------------------------------------------------------------------


def _completion_array(message: CompletionMessage, headers: Headers) -> list[Any]:
    head = [int(message.type), headers, message.invocation_id]
    if message.error is not None:
        return [*head, ERROR_RESULT, message.error]
    if message.has_result:
        return [*head, NON_VOID_RESULT, message.result]
    return [*head, VOID_RESULT]


def message_array(message: HubMessage) -> list[Any]:
    """The MessagePack array for ``message`` (protocol.md §6); headers written as a map, ``{}`` when unset."""
    match message:
        case InvocationMessage() | StreamInvocationMessage():
            head = [int(message.type), message.headers or {}, message.invocation_id, message.target]
            return [*head, message.arguments, message.stream_ids or []]
        case StreamItemMessage():
            return [int(message.type), message.headers or {}, message.invocation_id, message.item]
        case CompletionMessage():
            return _completion_array(message, message.headers or {})
        case CancelInvocationMessage():
            return [int(message.type), message.headers or {}, message.invocation_id]
        case PingMessage():
            return [int(message.type)]
        case CloseMessage():
            return [int(message.type), message.error, message.allow_reconnect]
        case AckMessage() | SequenceMessage():
            return [int(message.type), message.sequence_id]
    raise TypeError(f"Not a hub message: {type(message).__qualname__}.")


class MessagePackHubProtocol(HubProtocol):
    """The ``messagepack`` hub protocol (transfer format Binary)."""

    name = "messagepack"
    transfer_format = "Binary"

    def decoder(self) -> MessagePackMessageDecoder:
        """A fresh decoder enforcing this protocol's ``max_message_size``."""
        return MessagePackMessageDecoder(max_message_size=self.max_message_size)

    def write(self, message: HubMessage) -> bytes:
        """The message as varint length prefix + MessagePack array.

        Raises:
            TypeError: a value has no MessagePack mapping.
            ValueError, OverflowError: an integer does not fit 64 bits, or values nest too deeply.
        """
        body = packb(message_array(message))
        return encode_length(len(body)) + body
