"""Varint length prefix: boundaries, incomplete input, over-long prefixes."""

from __future__ import annotations

import pytest

from realtime.exceptions import LocalProtocolError, RemoteProtocolError
from realtime.protocol.varint import MAX_LENGTH, decode_length, encode_length

BOUNDARIES = [
    (0, b"\x00"),
    (1, b"\x01"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (300, b"\xac\x02"),
    (2**14 - 1, b"\xff\x7f"),
    (2**14, b"\x80\x80\x01"),
    (2**21 - 1, b"\xff\xff\x7f"),
    (2**21, b"\x80\x80\x80\x01"),
    (2**28 - 1, b"\xff\xff\xff\x7f"),
    (2**28, b"\x80\x80\x80\x80\x01"),
    (2**35 - 1, b"\xff\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("n", "encoded"), BOUNDARIES)
def test_encode(n: int, encoded: bytes) -> None:
    assert encode_length(n) == encoded


@pytest.mark.parametrize(("n", "encoded"), BOUNDARIES)
def test_decode(n: int, encoded: bytes) -> None:
    assert decode_length(encoded) == (n, len(encoded))
    assert decode_length(b"junk" + encoded + b"body", 4) == (n, len(encoded))


def test_max_length_is_35_bits() -> None:
    assert MAX_LENGTH == 2**35 - 1


@pytest.mark.parametrize("n", [-1, 2**35])
def test_encode_out_of_range(n: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_length(n)


@pytest.mark.parametrize("partial", [b"", b"\x80", b"\xff\xff", b"\x80\x80\x80\x80"])
def test_decode_incomplete(partial: bytes) -> None:
    assert decode_length(partial) is None


def test_decode_offset_past_end() -> None:
    assert decode_length(b"\x05", 1) is None


def test_decode_too_long_prefix() -> None:
    with pytest.raises(RemoteProtocolError, match="longer than 5 bytes"):
        decode_length(b"\x80\x80\x80\x80\x80\x01")


def test_decode_accepts_memoryview_and_bytearray() -> None:
    assert decode_length(memoryview(b"\xac\x02")) == (300, 2)
    assert decode_length(bytearray(b"\xac\x02")) == (300, 2)
