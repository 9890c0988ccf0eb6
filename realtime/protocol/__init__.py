"""The sans-IO SignalR wire format: messages, the JSON and MessagePack codecs, handshake, negotiate, SSE.

Imports nothing from Django, Channels or asyncio: bytes in, messages out.
"""

from __future__ import annotations

from .base import DEFAULT_MAX_MESSAGE_SIZE, Frame, HubProtocol, MessageDecoder, TransferFormat
from .event_stream import SSE_PREAMBLE, format_comment, format_event, format_sse
from .handshake import (
    HANDSHAKE_CANCELED,
    HANDSHAKE_UNEXPECTED_ERROR,
    MAX_HANDSHAKE_VERSION,
    RECORD_SEPARATOR,
    handshake_error_text,
    handshake_response,
    parse_handshake,
    select_protocol,
)
from .json import JsonHubProtocol
from .messages import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HandshakeRequest,
    HandshakeResponse,
    Headers,
    HubMessage,
    InvocationMessage,
    MessageType,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from .msgpack import MessagePackHubProtocol
from .negotiate import (
    STANDARD_TRANSPORTS,
    NegotiateError,
    available_transports,
    negotiate_error,
    negotiate_response,
    redirect_response,
    select_negotiate_version,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "HANDSHAKE_CANCELED",
    "HANDSHAKE_UNEXPECTED_ERROR",
    "MAX_HANDSHAKE_VERSION",
    "RECORD_SEPARATOR",
    "SSE_PREAMBLE",
    "STANDARD_TRANSPORTS",
    "AckMessage",
    "CancelInvocationMessage",
    "CloseMessage",
    "CompletionMessage",
    "Frame",
    "HandshakeRequest",
    "HandshakeResponse",
    "Headers",
    "HubMessage",
    "HubProtocol",
    "InvocationMessage",
    "JsonHubProtocol",
    "MessageDecoder",
    "MessagePackHubProtocol",
    "MessageType",
    "NegotiateError",
    "PingMessage",
    "SequenceMessage",
    "StreamInvocationMessage",
    "StreamItemMessage",
    "TransferFormat",
    "available_transports",
    "format_comment",
    "format_event",
    "format_sse",
    "handshake_error_text",
    "handshake_response",
    "negotiate_error",
    "negotiate_response",
    "parse_handshake",
    "redirect_response",
    "select_negotiate_version",
    "select_protocol",
]
