"""Negotiate version choice and response bodies (protocol.md §2)."""

from __future__ import annotations

import json

import pytest

from realtime.exceptions import RemoteProtocolError
from realtime.protocol import (
    NegotiateError,
    available_transports,
    negotiate_error,
    negotiate_response,
    redirect_response,
    select_negotiate_version,
)

ALL = (
    b'[{"transport":"WebSockets","transferFormats":["Text","Binary"]},'
    b'{"transport":"ServerSentEvents","transferFormats":["Text"]},'
    b'{"transport":"LongPolling","transferFormats":["Text","Binary"]}]'
)


@pytest.mark.parametrize(
    ("raw", "version"), [(None, 0), ("0", 0), ("1", 1), ("2", 1), ("99", 1), (" 1 ", 1), ("+1", 1), ("01", 1)]
)
def test_select_version(raw: str | None, version: int) -> None:
    assert select_negotiate_version(raw) == version


@pytest.mark.parametrize("raw", ["", "abc", "1.0", "1_0", "٣", "99999999999", "0x1"])
def test_select_non_integer(raw: str) -> None:
    with pytest.raises(NegotiateError) as info:
        select_negotiate_version(raw)
    assert str(info.value) == "The client requested a non-integer protocol version."
    assert isinstance(info.value, RemoteProtocolError)


@pytest.mark.parametrize(("raw", "shown"), [(None, "0"), ("0", "0"), ("-5", "-5"), ("+0", "0")])
def test_select_below_minimum(raw: str | None, shown: str) -> None:
    with pytest.raises(NegotiateError) as info:
        select_negotiate_version(raw, minimum=1)
    text = f"The client requested version '{shown}', but the server does not support this version."
    assert str(info.value) == text


def test_available_transports() -> None:
    assert available_transports() == [
        ("WebSockets", ["Text", "Binary"]),
        ("ServerSentEvents", ["Text"]),
        ("LongPolling", ["Text", "Binary"]),
    ]
    assert available_transports({"LongPolling", "WebSockets"}) == [
        ("WebSockets", ["Text", "Binary"]),
        ("LongPolling", ["Text", "Binary"]),
    ]
    assert available_transports(set()) == []


def test_v1_body() -> None:
    transports = available_transports()
    body = negotiate_response(version=1, connection_id="id", connection_token="tok", transports=transports)
    start = b'{"negotiateVersion":1,"connectionId":"id","connectionToken":"tok","availableTransports":'
    assert body == start + ALL + b"}"


def test_v0_body() -> None:
    transports = available_transports()
    body = negotiate_response(version=0, connection_id="id", connection_token="t", transports=transports)
    assert body == b'{"negotiateVersion":0,"connectionId":"id","availableTransports":' + ALL + b"}"


def test_transports_mapping_and_no_forbidden_keys() -> None:
    transports = {"WebSockets": ("Text",)}
    body = negotiate_response(version=1, connection_id="i", connection_token="t", transports=transports)
    parsed = json.loads(body)
    assert parsed["availableTransports"] == [{"transport": "WebSockets", "transferFormats": ["Text"]}]
    assert "ProtocolVersion" not in parsed and "useStatefulReconnect" not in parsed
    granted = json.loads(
        negotiate_response(
            version=1, connection_id="i", connection_token="t", transports=transports, stateful_reconnect=True
        )
    )
    assert granted["useStatefulReconnect"] is True


def test_v1_requires_token() -> None:
    with pytest.raises(ValueError):
        negotiate_response(version=1, connection_id="id", transports=[])


def test_error_body() -> None:
    assert negotiate_error("The client requested a non-integer protocol version.") == (
        b'{"error":"The client requested a non-integer protocol version."}'
    )


def test_redirect_body() -> None:
    assert redirect_response("http://h/hub") == b'{"url":"http://h/hub"}'
    assert redirect_response("http://h/hub", "jwt") == b'{"url":"http://h/hub","accessToken":"jwt"}'
