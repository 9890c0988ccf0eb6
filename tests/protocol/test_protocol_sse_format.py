"""SSE framing: hub events (protocol.md §3.3) and plain SSE view events."""

from __future__ import annotations

import pytest

from realtime.protocol import SSE_PREAMBLE, format_comment, format_event, format_sse


def test_preamble() -> None:
    assert SSE_PREAMBLE == b":\r\n"


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        (b'{"type":6}\x1e', b'data: {"type":6}\x1e\r\n\r\n'),
        ('{"type":6}\x1e{"type":7}\x1e', b'data: {"type":6}\x1e{"type":7}\x1e\r\n\r\n'),
        ("é\x1e", "data: é\x1e\r\n\r\n".encode()),
        (b"", b"data: \r\n\r\n"),
        (b"a\nb", b"data: a\r\ndata: b\r\n\r\n"),
        (b"a\r\nb\r\n", b"data: a\r\ndata: b\r\ndata: \r\n\r\n"),
        (b"a\rb", b"data: a\rb\r\n\r\n"),  # no \n: written as is
    ],
)
def test_format_event(payload: bytes | str, event: bytes) -> None:
    assert format_event(payload) == event


def test_format_sse_plain() -> None:
    assert format_sse("hello") == b"data: hello\n\n"


def test_format_sse_fields_and_multiline() -> None:
    assert format_sse("a\nb\r\nc\rd", event="update", id=7, retry=1000) == (
        b"event: update\nid: 7\nretry: 1000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    )


def test_format_sse_unicode_and_empty() -> None:
    assert format_sse("") == b"data: \n\n"
    assert format_sse("é", id="x") == "id: x\ndata: é\n\n".encode()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\rb"},
        {"id": "1\n"},
        {"id": "1\r"},
        {"id": "a\0"},
        {"retry": -1},
        {"retry": True},
    ],
)
def test_format_sse_rejects(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        format_sse("x", **kwargs)


def test_format_comment() -> None:
    assert format_comment() == b":\n\n"
    assert format_comment("ping") == b": ping\n\n"
    assert format_comment("a\nb") == b": a\n: b\n\n"
