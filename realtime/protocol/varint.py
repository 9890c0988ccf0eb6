"""The varint length prefix of the MessagePack framing (protocol.md §5).

7 bits per byte, least significant group first, the high bit set on every byte except the last, at most
5 bytes (so lengths up to ``2**35 - 1``).
"""

from __future__ import annotations

from realtime.exceptions import LocalProtocolError, RemoteProtocolError

MAX_PREFIX_SIZE = 5
MAX_LENGTH = (1 << (7 * MAX_PREFIX_SIZE)) - 1


def encode_length(n: int) -> bytes:
    """The varint prefix for a message body of ``n`` bytes.

    Raises:
        LocalProtocolError: ``n`` is negative or needs more than 5 bytes.
    """
    if not 0 <= n <= MAX_LENGTH:
        raise LocalProtocolError(f"A message length must be between 0 and {MAX_LENGTH}, got {n}.")
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_length(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int] | None:
    """Read the prefix at ``offset``: ``(length, header_size)``, or ``None`` while it is incomplete.

    Raises:
        RemoteProtocolError: the prefix runs past 5 bytes.
    """
    length = 0
    for index in range(MAX_PREFIX_SIZE):
        if offset + index >= len(buf):
            return None
        byte = buf[offset + index]
        length |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return length, index + 1
    raise RemoteProtocolError(f"The message length prefix is longer than {MAX_PREFIX_SIZE} bytes.")
