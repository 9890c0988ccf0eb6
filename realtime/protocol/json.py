"""The JSON hub protocol (``json``, transfer format Text): UTF-8 objects each ended by ``0x1E``.

Values are written by :func:`realtime.protocol.values.dumps`, the one value encoding (protocol.md §12).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

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
from .values import dumps

_string = json.encoder.encode_basestring  # a str as JSON, as dumps writes it (ensure_ascii off)

RECORD_SEPARATOR = "\x1e"
_SEPARATOR_BYTE = 0x1E

# --- reading ------------------------------------------------------------------------------------------

_KINDS: dict[type, str] = {str: "String", list: "Array", dict: "Object", int: "Integer", bool: "Boolean"}


def _is_kind(value: Any, kind: type) -> bool:
    if kind is int and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _optional(obj: dict[str, Any], name: str, kind: type) -> Any:
    """The property ``name`` checked against ``kind``; ``None`` when absent or null."""
    value = obj.get(name)
    if value is not None and not _is_kind(value, kind):
        raise RemoteProtocolError(f"Expected '{name}' to be of type {_KINDS[kind]}.")
    return value


def _required(obj: dict[str, Any], name: str, kind: type) -> Any:
    """The property ``name``, which must be present and of ``kind``."""
    value = _optional(obj, name, kind)
    if value is None:
        raise RemoteProtocolError(f"Missing required property '{name}'.")
    return value


def _headers(obj: dict[str, Any]) -> Headers | None:
    headers = _optional(obj, "headers", dict)
    if headers and not all(isinstance(v, str) for v in headers.values()):
        raise RemoteProtocolError("Expected header values to be of type String.")
    return headers or None


def _stream_ids(obj: dict[str, Any]) -> list[str] | None:
    ids = _optional(obj, "streamIds", list)
    if ids and not all(isinstance(i, str) for i in ids):
        raise RemoteProtocolError("Expected 'streamIds' to be an Array of String.")
    return ids or None


def _invocation(obj: dict[str, Any]) -> InvocationMessage:
    target, arguments, invocation_id = obj.get("target"), obj.get("arguments"), obj.get("invocationId")
    if (
        type(target) is str
        and type(arguments) is list
        and (invocation_id is None or type(invocation_id) is str)
        and "streamIds" not in obj
        and "headers" not in obj
    ):  # the common call, checked in one go
        return InvocationMessage(invocation_id=invocation_id, target=target, arguments=arguments)
    return InvocationMessage(
        invocation_id=_optional(obj, "invocationId", str),
        target=_required(obj, "target", str),
        arguments=_required(obj, "arguments", list),
        stream_ids=_stream_ids(obj),
        headers=_headers(obj),
    )


def _stream_invocation(obj: dict[str, Any]) -> StreamInvocationMessage:
    return StreamInvocationMessage(
        invocation_id=_required(obj, "invocationId", str),
        target=_required(obj, "target", str),
        arguments=_required(obj, "arguments", list),
        stream_ids=_stream_ids(obj),
        headers=_headers(obj),
    )


def _stream_item(obj: dict[str, Any]) -> StreamItemMessage:
    if "item" not in obj:
        raise RemoteProtocolError("Missing required property 'item'.")
    invocation_id = _required(obj, "invocationId", str)
    return StreamItemMessage(invocation_id=invocation_id, item=obj["item"], headers=_headers(obj))


def _completion(obj: dict[str, Any]) -> CompletionMessage:
    invocation_id = _required(obj, "invocationId", str)
    error = _optional(obj, "error", str)
    if error is not None and "result" in obj:
        raise RemoteProtocolError("The 'error' and 'result' properties are mutually exclusive.")
    return CompletionMessage(
        invocation_id=invocation_id,
        result=obj.get("result"),
        error=error,
        has_result="result" in obj,
        headers=_headers(obj),
    )


def _cancel(obj: dict[str, Any]) -> CancelInvocationMessage:
    return CancelInvocationMessage(invocation_id=_required(obj, "invocationId", str), headers=_headers(obj))


def _close(obj: dict[str, Any]) -> CloseMessage:
    allow = _optional(obj, "allowReconnect", bool)
    return CloseMessage(error=_optional(obj, "error", str), allow_reconnect=bool(allow))


_READERS: dict[int, Callable[[dict[str, Any]], HubMessage]] = {
    MessageType.INVOCATION: _invocation,
    MessageType.STREAM_ITEM: _stream_item,
    MessageType.COMPLETION: _completion,
    MessageType.STREAM_INVOCATION: _stream_invocation,
    MessageType.CANCEL_INVOCATION: _cancel,
    MessageType.PING: lambda obj: PingMessage(),
    MessageType.CLOSE: _close,
    MessageType.ACK: lambda obj: AckMessage(sequence_id=_required(obj, "sequenceId", int)),
    MessageType.SEQUENCE: lambda obj: SequenceMessage(sequence_id=_required(obj, "sequenceId", int)),
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # json.loads() with an option builds one per call
_FAST_DECODER = msgspec.json.Decoder()
"""Several times faster than ``json``. Where it decodes a message at all, its result is ``json``'s (numbers of
any size, escapes, duplicate keys); what it refuses (``NaN``, lone surrogates, numbers out of a float's
range, too deep) goes to ``json``, whose result or error text stands."""


def _load_object(raw: bytes | str) -> dict[str, Any]:
    """Decode one message (UTF-8 bytes, or the text of a WebSocket text frame) into a JSON object."""
    try:
        obj = _FAST_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeEncodeError):
        obj = _load_exactly(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if not isinstance(obj, dict):
        raise RemoteProtocolError("Expected a JSON object as message.")
    return obj


def _load_exactly(raw: bytes) -> Any:
    """``json``'s reading of ``raw``, and its errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"Invalid UTF-8 in message: {exc.reason}.") from None
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"Invalid JSON in message: {exc}") from None


def parse_message(raw: bytes | str) -> HubMessage | None:
    """Parse one message (without its ``0x1E``); ``None`` for an unknown ``type``."""
    obj = _load_object(raw)
    reader = _READERS.get(_required(obj, "type", int))
    return reader(obj) if reader is not None else None


class JsonMessageDecoder(MessageDecoder):
    """Splits a JSON byte stream on ``0x1E``; discard it after it raised."""

    __slots__ = ("max_message_size", "_buffer", "_scanned")

    def __init__(self, *, max_message_size: int | None) -> None:
        super().__init__()
        self.max_message_size = max_message_size
        self._buffer: bytearray | None = None  # an incomplete trailing message, if any (idle: none)
        self._scanned = 0  # bytes of _buffer known to hold no separator

    @property
    def pending(self) -> int:
        """Bytes of the incomplete trailing message."""
        return len(self._buffer) if self._buffer is not None else 0

    def messages(self, data: bytes | str) -> Iterable[HubMessage]:
        """Every complete message in ``data`` plus the kept partial data; see :class:`MessageDecoder`."""
        if (
            type(data) is str
            and self._buffer is None
            and data.isascii()
            and 0 <= data.find(RECORD_SEPARATOR) == len(data) - 1
        ):  # the usual text frame: one whole message, as many bytes as characters
            self._check_size(len(data) - 1)
            message = parse_message(data[:-1])
            self.last_size = len(data) - 1
            return () if message is None else (message,)
        return self._split(data)

    def _split(self, data: bytes | str) -> Iterator[HubMessage]:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        buffer = self._buffer if self._buffer is not None else bytearray()
        buffer += data
        start = 0
        try:
            while (end := buffer.find(_SEPARATOR_BYTE, max(start, self._scanned))) != -1:
                raw, start = bytes(buffer[start:end]), end + 1
                self._check_size(len(raw))
                if (message := parse_message(raw)) is not None:
                    self.last_size = len(raw)
                    yield message
        finally:
            del buffer[:start]
            self._buffer = buffer or None
            self._scanned = len(buffer)
        self._check_size(len(buffer))

    def _check_size(self, size: int) -> None:
        if self.max_message_size is not None and size > self.max_message_size:
            raise MessageTooLarge(f"The maximum message size of {self.max_message_size}B was exceeded.")


# --- writing ------------------------------------------------------------------------------------------


def _with_headers(fields: dict[str, Any], headers: Headers | None) -> dict[str, Any]:
    if headers:
        fields["headers"] = headers
    return fields


def _invocation_fields(message: InvocationMessage | StreamInvocationMessage) -> dict[str, Any]:
    fields = _with_headers({"type": int(message.type)}, message.headers)
    if message.invocation_id is not None:
        fields["invocationId"] = message.invocation_id
    fields["target"] = message.target
    fields["arguments"] = message.arguments
    if message.stream_ids:
        fields["streamIds"] = message.stream_ids
    return fields


def _completion_fields(message: CompletionMessage) -> dict[str, Any]:
    fields = _with_headers({"type": int(message.type)}, message.headers)
    fields["invocationId"] = message.invocation_id
    if message.error is not None:
        fields["error"] = message.error
    elif message.has_result:
        fields["result"] = message.result
    return fields


def _close_fields(message: CloseMessage) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": int(message.type)}
    if message.error is not None:
        fields["error"] = message.error
    if message.allow_reconnect:
        fields["allowReconnect"] = True
    return fields


def message_fields(message: HubMessage) -> dict[str, Any]:
    """The JSON object for ``message``, wire property names, ``type`` first."""
    match message:
        case InvocationMessage() | StreamInvocationMessage():
            return _invocation_fields(message)
        case StreamItemMessage():
            fields = _with_headers({"type": int(message.type)}, message.headers)
            return {**fields, "invocationId": message.invocation_id, "item": message.item}
        case CompletionMessage():
            return _completion_fields(message)
        case CancelInvocationMessage():
            fields = _with_headers({"type": int(message.type)}, message.headers)
            return {**fields, "invocationId": message.invocation_id}
        case PingMessage():
            return {"type": int(message.type)}
        case CloseMessage():
            return _close_fields(message)
        case AckMessage() | SequenceMessage():
            return {"type": int(message.type), "sequenceId": message.sequence_id}
    raise TypeError(f"Not a hub message: {type(message).__qualname__}.")


class JsonHubProtocol(HubProtocol):
    """The ``json`` hub protocol (transfer format Text)."""

    name = "json"
    transfer_format = "Text"

    def decoder(self) -> JsonMessageDecoder:
        """A fresh decoder enforcing this protocol's ``max_message_size``."""
        return JsonMessageDecoder(max_message_size=self.max_message_size)

    def write(self, message: HubMessage) -> str:
        """The message as JSON text ending in ``0x1E``.

        Raises:
            TypeError: a value has no JSON mapping (see :mod:`realtime.protocol.values`).
            ValueError: a float is NaN or infinite, or a value is circular.
        """
        return dumps(message_fields(message)) + RECORD_SEPARATOR

    def write_result(self, invocation_id: str, result: Any) -> str:
        """``write(CompletionMessage.with_result(invocation_id, result))``, without building the message."""
        if type(invocation_id) is str and type(result) is str:  # the usual reply: two strings in a fixed frame
            return f'{{"type":3,"invocationId":{_string(invocation_id)},"result":{_string(result)}}}\x1e'
        return dumps({"type": 3, "invocationId": invocation_id, "result": result}) + RECORD_SEPARATOR
