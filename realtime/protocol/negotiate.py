"""Negotiate (protocol.md §2): version choice and the JSON bodies of ``POST [base]/negotiate``."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from realtime.exceptions import RemoteProtocolError

WEBSOCKETS = "WebSockets"
SERVER_SENT_EVENTS = "ServerSentEvents"
LONG_POLLING = "LongPolling"
"""The transport names of the wire (negotiate, the ``transport`` query value)."""

STANDARD_TRANSPORTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (WEBSOCKETS, ("Text", "Binary")),
    (SERVER_SENT_EVENTS, ("Text",)),
    (LONG_POLLING, ("Text", "Binary")),
)
"""Every transport with its transfer formats, in the order clients should try them."""

MAX_NEGOTIATE_VERSION = 1
_INT32 = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)  # what .NET's int.TryParse accepts


class NegotiateError(RemoteProtocolError):
    """The client asked for a negotiate version we do not serve; the text goes into the error body."""


def _parse_int32(raw: str) -> int | None:
    if not _INT32.fullmatch(raw):
        return None
    value = int(raw)
    return value if -(2**31) <= value < 2**31 else None


def select_negotiate_version(
    raw: str | None,
    *,
    minimum: int = 0,
    maximum: int = MAX_NEGOTIATE_VERSION,
) -> int:
    """The negotiate version to answer for the ``negotiateVersion`` query value ``raw`` (``None`` = absent).

    A version above ``maximum`` is answered as ``maximum``.

    Raises:
        NegotiateError: non-integer, or below ``minimum`` (protocol.md §2 texts).
    """
    version = 0 if raw is None else _parse_int32(raw)
    if version is None:
        raise NegotiateError("The client requested a non-integer protocol version.")
    if version < minimum:
        raise NegotiateError(
            f"The client requested version '{version}', but the server does not support this version.",
        )
    return min(version, maximum)


def available_transports(enabled: Collection[str] | None = None) -> list[tuple[str, list[str]]]:
    """The standard transports (in client order) restricted to ``enabled`` names (``None`` = all)."""
    chosen = [t for t in STANDARD_TRANSPORTS if enabled is None or t[0] in enabled]
    return [(name, list(formats)) for name, formats in chosen]


_dumps = msgspec.json.encode
"""Compact UTF-8 JSON, keys in insertion order: the bytes ``json.dumps(separators=(",", ":"),
ensure_ascii=False)`` would give for these bodies (strings, numbers, booleans, lists), several times faster."""


def negotiate_response(
    *,
    version: int,
    connection_id: str,
    connection_token: str | None = None,
    transports: Iterable[tuple[str, Sequence[str]]] | Mapping[str, Sequence[str]],
    stateful_reconnect: bool = False,
) -> bytes:
    """The 200 body: negotiateVersion, connectionId, (v1) connectionToken, availableTransports, and
    ``useStatefulReconnect`` when granted (only to a client that asked: the JS client refuses it otherwise).

    Raises:
        ValueError: ``version`` ≥ 1 without a ``connection_token``.
    """
    if version >= 1 and not connection_token:
        raise ValueError("Negotiate version 1 needs a connection token.")
    body: dict[str, Any] = {"negotiateVersion": version, "connectionId": connection_id}
    if version >= 1:
        body["connectionToken"] = connection_token
    items = transports.items() if isinstance(transports, Mapping) else transports
    body["availableTransports"] = [{"transport": n, "transferFormats": list(formats)} for n, formats in items]
    if stateful_reconnect:
        body["useStatefulReconnect"] = True
    return _dumps(body)


def negotiate_error(text: str) -> bytes:
    """The 200 body that makes the client fail with ``Error(text)``: ``{"error":"<text>"}``."""
    return _dumps({"error": text})


def redirect_response(url: str, access_token: str | None = None) -> bytes:
    """The 200 body that sends the client to negotiate again at ``url``, optionally with a new token."""
    body = {"url": url}
    if access_token is not None:
        body["accessToken"] = access_token
    return _dumps(body)
