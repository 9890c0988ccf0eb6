"""The handshake (protocol.md §4): the client's ``{"protocol":..,"version":..}`` + ``0x1E`` and our reply.

The handshake is always JSON, whatever hub protocol it selects.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from realtime.exceptions import HandshakeError

from .base import DEFAULT_MAX_MESSAGE_SIZE, HubProtocol
from .errors import (
    HANDSHAKE_CANCELED,
    HANDSHAKE_UNEXPECTED_ERROR,
    protocol_not_supported,
    transfer_format_not_supported,
    version_not_supported,
)
from .messages import HandshakeRequest

__all__ = [
    "HANDSHAKE_CANCELED",
    "HANDSHAKE_UNEXPECTED_ERROR",
    "MAX_HANDSHAKE_VERSION",
    "RECORD_SEPARATOR",
    "handshake_error_text",
    "handshake_response",
    "parse_handshake",
    "select_protocol",
]

RECORD_SEPARATOR = "\x1e"
MAX_HANDSHAKE_VERSION = 2
"""Highest handshake version accepted for every protocol (JS 10.x sends 2 with stateful reconnect)."""

_SEPARATOR = RECORD_SEPARATOR.encode()


def _malformed(detail: str) -> HandshakeError:
    """The generic handshake error; ``detail`` (``InvalidDataException: ...``) is for detailed errors."""
    error = HandshakeError(HANDSHAKE_UNEXPECTED_ERROR)
    error.detail = f"InvalidDataException: {detail}"
    return error


def parse_handshake(
    buffer: bytes | bytearray | str, *, max_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
) -> tuple[HandshakeRequest | None, bytes]:
    """Parse the handshake request at the start of ``buffer``.

    Returns ``(request, bytes after the 0x1E)``, or ``(None, buffer)`` while no ``0x1E`` has arrived.
    A ``str`` is taken as its UTF-8 bytes.

    Raises:
        HandshakeError: malformed request (text ``An unexpected error occurred during connection
            handshake.``; the cause is in its ``detail`` attribute), or one longer than ``max_size``.
    """
    data = buffer.encode("utf-8", "surrogatepass") if isinstance(buffer, str) else bytes(buffer)
    end = data.find(_SEPARATOR)
    size = len(data) if end == -1 else end
    if max_size is not None and size > max_size:
        raise _malformed(f"The maximum message size of {max_size}B was exceeded.")
    if end == -1:
        return None, data
    return _parse_request(data[:end]), data[end + 1 :]


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _malformed(f"Invalid UTF-8 in handshake: {exc.reason}.") from None
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"Invalid JSON in handshake: {exc}") from None


def _parse_request(raw: bytes) -> HandshakeRequest:
    known = _USUAL.get(raw)
    if known is not None:
        return known
    obj = _load(raw)
    if not isinstance(obj, dict):
        raise _malformed("Expected a JSON object as handshake request.")
    protocol, version = obj.get("protocol"), obj.get("version")
    if protocol is None:
        raise _malformed("Missing required property 'protocol'.")
    if not isinstance(protocol, str):
        raise _malformed("Expected 'protocol' to be of type String.")
    if version is None:
        raise _malformed("Missing required property 'version'.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _malformed("Expected 'version' to be of type Integer.")
    return HandshakeRequest(protocol=protocol, version=version)


_USUAL: dict[bytes, HandshakeRequest] = {}
_USUAL.update(
    (raw, _parse_request(raw))
    for raw in (b'{"protocol":"json","version":1}', b'{"protocol":"messagepack","version":1}',
                b'{"protocol":"json","version":2}', b'{"protocol":"messagepack","version":2}')
)  # fmt: skip
"""The requests official clients send, parsed once: the same bytes always parse the same."""

Protocols = Mapping[str, HubProtocol] | Iterable[HubProtocol]


def _find_protocol(name: str, protocols: Protocols) -> HubProtocol | None:
    """The offered protocol called ``name`` (case-insensitive, as ASP.NET's resolver)."""
    candidates = protocols.values() if isinstance(protocols, Mapping) else protocols
    wanted = name.casefold()
    return next((p for p in candidates if p.name.casefold() == wanted), None)


def select_protocol(
    request: HandshakeRequest,
    protocols: Protocols,
    *,
    transfer_formats: Collection[str],
) -> HubProtocol:
    """The offered protocol the handshake asks for, checked against its version and the transport.

    Args:
        protocols: the hub's protocol instances (a mapping's keys are ignored; names come from ``.name``).
        transfer_formats: what the transport carries (``{"Text", "Binary"}``, or ``{"Text"}`` for SSE).

    Raises:
        HandshakeError: with the exact texts of protocol.md §4.
    """
    protocol = _find_protocol(request.protocol, protocols)
    if protocol is None:
        raise HandshakeError(protocol_not_supported(request.protocol))
    if request.version > MAX_HANDSHAKE_VERSION:
        raise HandshakeError(version_not_supported(request.version, protocol.name))
    if protocol.transfer_format not in transfer_formats:
        raise HandshakeError(transfer_format_not_supported(protocol.name, protocol.transfer_format))
    return protocol


def handshake_response(error: str | None = None) -> bytes:
    """``{}`` + ``0x1E`` on success, ``{"error":"<text>"}`` + ``0x1E`` on failure."""
    if error is None:
        return b"{}" + _SEPARATOR
    return json.dumps({"error": error}, separators=(",", ":")).encode("ascii") + _SEPARATOR


def handshake_error_text(error: HandshakeError, *, detailed: bool) -> str:
    """The text to send for ``error``: with `` <detail>`` appended when ``detailed`` and available."""
    detail = getattr(error, "detail", None)
    return f"{error} {detail}" if detailed and detail else str(error)
