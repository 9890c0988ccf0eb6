"""MessagePack hub protocol: golden bytes of protocol.md §5–6, value mapping (§12), framing and errors."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import pytest

from realtime.exceptions import MessageTooLarge, RemoteProtocolError
from realtime.protocol import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    InvocationMessage,
    MessagePackHubProtocol,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from realtime.protocol.varint import encode_length

GOLDEN = [
    ("02 91 06", PingMessage()),
    ("06 94 03 80 a1 31 02", CompletionMessage.void("1")),
    ("09 95 03 80 a1 30 03 a2 68 69", CompletionMessage.with_result("0", "hi")),
    ("07 95 03 80 a1 30 03 c0", CompletionMessage.with_result("0", None)),
    ("08 95 03 80 a1 30 01 a1 45", CompletionMessage.with_error("0", "E")),
    ("0f 96 01 80 a1 30 a4 45 63 68 6f 91 a2 68 69 90",
     InvocationMessage(invocation_id="0", target="Echo", arguments=["hi"])),
    ("0e 96 01 80 c0 a4 45 63 68 6f 91 a2 68 69 90", InvocationMessage(target="Echo", arguments=["hi"])),
    ("0e 96 01 80 a1 32 a4 45 63 68 6f 90 91 a1 33",
     InvocationMessage(invocation_id="2", target="Echo", arguments=[], stream_ids=["3"])),
    ("0e 96 04 80 a1 31 a4 45 63 68 6f 92 03 0a 90",
     StreamInvocationMessage(invocation_id="1", target="Echo", arguments=[3, 10])),
    ("06 94 02 80 a1 31 00", StreamItemMessage(invocation_id="1", item=0)),
    ("05 93 05 80 a1 31", CancelInvocationMessage(invocation_id="1")),
    ("04 93 07 c0 c2", CloseMessage()),
    ("05 93 07 a1 45 c3", CloseMessage(error="E", allow_reconnect=True)),
    ("03 92 08 05", AckMessage(sequence_id=5)),
    ("03 92 09 01", SequenceMessage(sequence_id=1)),
    ("0a 94 02 81 a1 6b a1 76 a1 31 00", StreamItemMessage(invocation_id="1", item=0, headers={"k": "v"})),
]  # fmt: skip


@pytest.fixture
def protocol() -> MessagePackHubProtocol:
    return MessagePackHubProtocol()


def test_protocol_identity(protocol: MessagePackHubProtocol) -> None:
    assert (protocol.name, protocol.transfer_format) == ("messagepack", "Binary")


@pytest.mark.parametrize(("hexdata", "message"), GOLDEN)
def test_write_golden(protocol: MessagePackHubProtocol, hexdata: str, message: Any) -> None:
    assert protocol.write(message) == bytes.fromhex(hexdata)


@pytest.mark.parametrize(("hexdata", "message"), GOLDEN)
def test_read_golden(protocol: MessagePackHubProtocol, hexdata: str, message: Any) -> None:
    assert protocol.decoder().feed(bytes.fromhex(hexdata)) == [message]


def frame(array: list[Any]) -> bytes:
    body = msgpack.packb(array, use_bin_type=True)
    return encode_length(len(body)) + body


@pytest.mark.parametrize(
    ("array", "message"),
    [
        ([1, {}, "0", "Echo", ["hi"]], InvocationMessage(invocation_id="0", target="Echo", arguments=["hi"])),
        ([1, {}, None, "Echo", []], InvocationMessage(target="Echo")),
        (
            [4, {}, "1", "Counter", [3]],
            StreamInvocationMessage(invocation_id="1", target="Counter", arguments=[3]),
        ),
        ([7, None], CloseMessage()),
        ([7, "bye"], CloseMessage(error="bye")),
        ([7, None, None], CloseMessage()),
        ([6, {}], PingMessage()),
        ([1, None, None, "T", [], None], InvocationMessage(target="T")),
    ],
)
def test_read_client_variants(protocol: MessagePackHubProtocol, array: list[Any], message: Any) -> None:
    """Shapes written by the JS client (5-element Invocation, 2-element Close) and tolerated nils."""
    assert protocol.decoder().feed(frame(array)) == [message]


def test_unknown_type_skipped(protocol: MessagePackHubProtocol) -> None:
    data = frame([42, "whatever", {1: 2}]) + frame([6])
    assert protocol.decoder().feed(data) == [PingMessage()]


# --- value mapping (§12) ------------------------------------------------------------------------------

GUID = uuid.UUID("00010203-0405-0607-0706-050403020100")
DT = datetime(2000, 1, 1, tzinfo=UTC)


def test_complex_object_round_trip(protocol: MessagePackHubProtocol) -> None:
    value = {
        "String": "hello world",
        "IntArray": [1, 2, 3],
        "ByteArray": bytes([1, 2, 3]),
        "Guid": GUID,
        "DateTime": DT,
    }
    data = protocol.write(CompletionMessage.with_result("0", value))
    assert b"\xc4\x03\x01\x02\x03" in data  # bin 8
    assert b"\xd6\xff" + (946684800).to_bytes(4, "big") in data  # Timestamp 32
    [message] = protocol.decoder().feed(data)
    result = message.result
    assert result == {**value, "Guid": "00010203-0405-0607-0706-050403020100"}
    assert type(result["ByteArray"]) is bytes
    assert result["DateTime"].tzinfo is not None


@dataclasses.dataclass
class Point:
    x: int
    guid: uuid.UUID


class WithHook:
    def to_json(self) -> list[int]:
        return [7]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2000, 1, 1), DT),  # naive = UTC
        (datetime(2000, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), DT),
        (
            datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
            datetime(2000, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),  # milliseconds, as JSON
        ),
        (
            datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        ),
        (
            datetime(1969, 12, 31, 23, 59, 59, 250999),  # naive = UTC; not a second late before 1970
            datetime(1969, 12, 31, 23, 59, 59, 250000, tzinfo=UTC),
        ),
        (GUID, "00010203-0405-0607-0706-050403020100"),
        (Decimal("1.10"), "1.10"),
        (date(2000, 1, 2), "2000-01-02"),
        (time(12, 30, 0, 123456), "12:30:00.123"),
        (timedelta(days=1, seconds=1), "P1DT00H00M01S"),
        (Point(x=1, guid=GUID), {"x": 1, "guid": "00010203-0405-0607-0706-050403020100"}),
        (WithHook(), [7]),
        ({1}, [1]),
        ((1, 2), [1, 2]),
        (bytearray(b"ab"), b"ab"),
        (memoryview(b"ab"), b"ab"),
    ],
)
def test_value_mapping(protocol: MessagePackHubProtocol, value: Any, expected: Any) -> None:
    [message] = protocol.decoder().feed(protocol.write(StreamItemMessage(invocation_id="1", item=[value])))
    assert message.item == [expected]


def test_unserializable_value(protocol: MessagePackHubProtocol) -> None:
    with pytest.raises(TypeError, match="Object of type object cannot be sent"):
        protocol.write(StreamItemMessage(invocation_id="1", item=object()))


# --- framing --------------------------------------------------------------------------------------------


def test_byte_by_byte(protocol: MessagePackHubProtocol) -> None:
    message = InvocationMessage(invocation_id="1", target="Echo", arguments=["x" * 200])
    data = protocol.write(message)
    assert data[:2] == encode_length(len(data) - 2)  # a 2-byte prefix
    decoder = protocol.decoder()
    results = [decoder.feed(data[i : i + 1]) for i in range(len(data))]
    assert results[:-1] == [[]] * (len(data) - 1)
    assert results[-1] == [message]
    assert decoder.pending == 0


def test_several_messages_and_partial(protocol: MessagePackHubProtocol) -> None:
    ping = protocol.write(PingMessage())
    decoder = protocol.decoder()
    assert decoder.feed(ping * 3 + ping[:2]) == [PingMessage()] * 3
    assert decoder.pending == 2
    assert decoder.feed(ping[2:]) == [PingMessage()]


def test_text_input_refused(protocol: MessagePackHubProtocol) -> None:
    with pytest.raises(RemoteProtocolError, match="expects binary data"):
        protocol.decoder().feed("\x02\x91\x06")


def test_max_size_checked_before_body() -> None:
    decoder = MessagePackHubProtocol(max_message_size=10).decoder()
    with pytest.raises(MessageTooLarge):
        decoder.feed(encode_length(11))


def test_max_size_exact_is_accepted() -> None:
    data = frame([2, {}, "1", "x" * 20])
    size = len(data) - 1
    assert MessagePackHubProtocol(max_message_size=size).decoder().feed(data) == [
        StreamItemMessage(invocation_id="1", item="x" * 20)
    ]
    with pytest.raises(MessageTooLarge):
        MessagePackHubProtocol(max_message_size=size - 1).decoder().feed(data)


def test_huge_length_without_body() -> None:
    with pytest.raises(MessageTooLarge):
        MessagePackHubProtocol().decoder().feed(b"\xff\xff\xff\xff\x7f")


def test_huge_length_unlimited_waits() -> None:
    decoder = MessagePackHubProtocol(max_message_size=None).decoder()
    assert decoder.feed(b"\xff\xff\xff\xff\x7fabc") == []
    assert decoder.pending == 8


def test_too_long_prefix() -> None:
    with pytest.raises(RemoteProtocolError, match="longer than 5 bytes"):
        MessagePackHubProtocol().decoder().feed(b"\x80\x80\x80\x80\x80\x01")


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "Invalid MessagePack data"),
        (b"\xc1", "Invalid MessagePack data"),
        (b"\x91\x06\x06", "Invalid MessagePack data"),  # extra data
        (b"\x91", "Invalid MessagePack data"),  # incomplete
        (b"\x81\x91\x01\x02", "Invalid MessagePack data"),  # unhashable key
        (b"\xd6\xff\xff\xff\xff\xff\xff\xff", "Invalid MessagePack data"),  # bad Timestamp ext
        (msgpack.packb({"type": 1}), "non-empty MessagePack array"),
        (msgpack.packb([]), "non-empty MessagePack array"),
        (msgpack.packb(["1"]), "message type to be of type Integer"),
        (msgpack.packb([True]), "message type to be of type Integer"),
        (msgpack.packb([1, {}, "0", "T"]), "Missing arguments"),
        (msgpack.packb([1, {}, 0, "T", []]), "invocation id to be of type String"),
        (msgpack.packb([1, {}, None, 5, []]), "target to be of type String"),
        (msgpack.packb([1, {}, None, "T", {}]), "arguments to be of type Array"),
        (msgpack.packb([1, {}, None, "T", [], [1]]), "stream ids to be an Array of String"),
        (msgpack.packb([1, [], None, "T", []]), "headers to be of type Map"),
        (msgpack.packb([1, {"a": 1}, None, "T", []]), "headers to map String to String"),
        (msgpack.packb([4, {}, None, "T", []]), "invocation id to be of type String"),
        (msgpack.packb([2, {}, "1"]), "Missing item"),
        (msgpack.packb([3, {}, "1"]), "Missing result kind"),
        (msgpack.packb([3, {}, "1", 4]), "Invalid invocation result kind."),
        (msgpack.packb([3, {}, "1", 1]), "Missing error"),
        (msgpack.packb([3, {}, "1", 1, 5]), "error to be of type String"),
        (msgpack.packb([3, {}, "1", 3]), "Missing result"),
        (msgpack.packb([5, {}]), "Missing invocation id"),
        (msgpack.packb([7]), "Missing error"),
        (msgpack.packb([7, None, 1]), "allowReconnect to be of type Boolean"),
        (msgpack.packb([8]), "Missing sequence id"),
        (msgpack.packb([9, "1"]), "sequence id to be of type Integer"),
    ],
)
def test_invalid_messages(body: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        MessagePackHubProtocol().decoder().feed(encode_length(len(body)) + body)
