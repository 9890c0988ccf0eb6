"""Handshake parsing, protocol selection and replies (protocol.md §4)."""

from __future__ import annotations

import pytest

from realtime.exceptions import HandshakeError
from realtime.protocol import (
    HANDSHAKE_CANCELED,
    HandshakeRequest,
    JsonHubProtocol,
    MessagePackHubProtocol,
    handshake_error_text,
    handshake_response,
    parse_handshake,
    select_protocol,
)

UNEXPECTED = "An unexpected error occurred during connection handshake."
BOTH = {"json": JsonHubProtocol(), "messagepack": MessagePackHubProtocol()}
ALL_FORMATS = {"Text", "Binary"}


def test_parse_json_request() -> None:
    request, rest = parse_handshake(b'{"protocol":"json","version":1}\x1e')
    assert request == HandshakeRequest(protocol="json", version=1)
    assert rest == b""


def test_parse_keeps_following_messages() -> None:
    request, rest = parse_handshake(b'{"protocol":"messagepack","version":2,"x":1}\x1e\x02\x91\x06')
    assert request == HandshakeRequest(protocol="messagepack", version=2)
    assert rest == b"\x02\x91\x06"


def test_parse_str() -> None:
    request, rest = parse_handshake('{"protocol":"json","version":1}\x1e{"type":6}\x1e')
    assert request == HandshakeRequest(protocol="json", version=1)
    assert rest == b'{"type":6}\x1e'


@pytest.mark.parametrize("partial", [b"", b'{"protocol":"json"', b'{"protocol":"json","version":1}'])
def test_parse_incomplete(partial: bytes) -> None:
    assert parse_handshake(partial) == (None, partial)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"nope\x1e", "InvalidDataException: Invalid JSON in handshake"),
        (b"\xff\x1e", "InvalidDataException: Invalid UTF-8 in handshake"),
        (b"[]\x1e", "InvalidDataException: Expected a JSON object as handshake request."),
        (b'{"version":1}\x1e', "InvalidDataException: Missing required property 'protocol'."),
        (b'{"protocol":"json"}\x1e', "InvalidDataException: Missing required property 'version'."),
        (
            b'{"protocol":1,"version":1}\x1e',
            "InvalidDataException: Expected 'protocol' to be of type String.",
        ),
        (
            b'{"protocol":"json","version":"1"}\x1e',
            "InvalidDataException: Expected 'version' to be of type Integer.",
        ),
        (
            b'{"protocol":"json","version":true}\x1e',
            "InvalidDataException: Expected 'version' to be of type Integer.",
        ),
    ],
)
def test_parse_malformed(data: bytes, detail: str) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_handshake(data)
    assert str(info.value) == UNEXPECTED
    assert info.value.detail is not None and info.value.detail.startswith(detail)
    assert handshake_error_text(info.value, detailed=False) == UNEXPECTED
    assert handshake_error_text(info.value, detailed=True) == f"{UNEXPECTED} {info.value.detail}"


def test_parse_too_large() -> None:
    with pytest.raises(HandshakeError, match="unexpected error") as info:
        parse_handshake(b"x" * 101, max_size=100)
    assert "maximum message size of 100B" in (info.value.detail or "")
    # only the handshake itself counts, not what follows it
    request, rest = parse_handshake(b'{"protocol":"json","version":1}\x1e' + b"x" * 200, max_size=100)
    assert request is not None and len(rest) == 200


@pytest.mark.parametrize("protocols", [BOTH, list(BOTH.values())])
def test_select(protocols: object) -> None:
    request = HandshakeRequest(protocol="messagepack", version=1)
    assert select_protocol(request, protocols, transfer_formats=ALL_FORMATS) is BOTH["messagepack"]  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [0, 1, 2])
def test_select_accepts_versions_up_to_2(version: int) -> None:
    request = HandshakeRequest(protocol="json", version=version)
    assert select_protocol(request, BOTH, transfer_formats={"Text"}) is BOTH["json"]


def test_select_is_case_insensitive() -> None:
    request = HandshakeRequest(protocol="JSON", version=1)
    assert select_protocol(request, BOTH, transfer_formats={"Text"}) is BOTH["json"]


@pytest.mark.parametrize(
    ("request_", "protocols", "formats", "text"),
    [
        (HandshakeRequest(protocol="xml", version=1), BOTH, ALL_FORMATS,
         "The protocol 'xml' is not supported."),
        (HandshakeRequest(protocol="messagepack", version=1), {"json": BOTH["json"]}, ALL_FORMATS,
         "The protocol 'messagepack' is not supported."),
        (HandshakeRequest(protocol="json", version=3), BOTH, ALL_FORMATS,
         "The server does not support version 3 of the 'json' protocol."),
        (HandshakeRequest(protocol="messagepack", version=1), BOTH, {"Text"},
         "Cannot use the 'messagepack' protocol on the current transport. "
         "The transport does not support 'Binary' transfer format."),
    ],
)  # fmt: skip
def test_select_errors(request_: HandshakeRequest, protocols: dict, formats: set[str], text: str) -> None:
    with pytest.raises(HandshakeError) as info:
        select_protocol(request_, protocols, transfer_formats=formats)
    assert str(info.value) == text
    assert handshake_error_text(info.value, detailed=True) == text


def test_responses() -> None:
    assert handshake_response() == b"{}\x1e"
    assert handshake_response(HANDSHAKE_CANCELED) == b'{"error":"Handshake was canceled."}\x1e'
    assert handshake_response("The protocol 'x' is not supported.") == (
        b'{"error":"The protocol \'x\' is not supported."}\x1e'
    )
    assert handshake_response('a "q" \x1e é') == b'{"error":"a \\"q\\" \\u001e \\u00e9"}\x1e'
