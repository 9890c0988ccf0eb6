"""JSON hub protocol: golden strings of protocol.md §6, value mapping (§12), framing and errors."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from realtime.exceptions import MessageTooLarge, RemoteProtocolError
from realtime.protocol import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    InvocationMessage,
    JsonHubProtocol,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from realtime.protocol.values import json_default

RS = "\x1e"

GOLDEN = [
    ('{"type":1,"invocationId":"0","target":"Echo","arguments":["hi"]}',
     InvocationMessage(invocation_id="0", target="Echo", arguments=["hi"])),
    ('{"type":1,"target":"ReceiveMessage","arguments":["server","hello"]}',
     InvocationMessage(target="ReceiveMessage", arguments=["server", "hello"])),
    ('{"type":4,"invocationId":"1","target":"Counter","arguments":[3,10]}',
     StreamInvocationMessage(invocation_id="1", target="Counter", arguments=[3, 10])),
    ('{"type":2,"invocationId":"1","item":0}', StreamItemMessage(invocation_id="1", item=0)),
    ('{"type":3,"invocationId":"0","result":"hi"}', CompletionMessage.with_result("0", "hi")),
    ('{"type":3,"invocationId":"0","result":null}', CompletionMessage.with_result("0", None)),
    ('{"type":3,"invocationId":"1"}', CompletionMessage.void("1")),
    ('{"type":3,"invocationId":"0","error":"Unknown hub method \'Nope\'"}',
     CompletionMessage.with_error("0", "Unknown hub method 'Nope'")),
    ('{"type":1,"invocationId":"2","target":"StreamingConcat","arguments":[],"streamIds":["3"]}',
     InvocationMessage(invocation_id="2", target="StreamingConcat", arguments=[], stream_ids=["3"])),
    ('{"type":5,"invocationId":"1"}', CancelInvocationMessage(invocation_id="1")),
    ('{"type":6}', PingMessage()),
    ('{"type":7,"error":"Connection closed with an error.","allowReconnect":true}',
     CloseMessage(error="Connection closed with an error.", allow_reconnect=True)),
    ('{"type":7}', CloseMessage()),
    ('{"type":8,"sequenceId":3}', AckMessage(sequence_id=3)),
    ('{"type":9,"sequenceId":1}', SequenceMessage(sequence_id=1)),
]  # fmt: skip


@pytest.fixture
def protocol() -> JsonHubProtocol:
    return JsonHubProtocol()


def test_protocol_identity(protocol: JsonHubProtocol) -> None:
    assert (protocol.name, protocol.transfer_format, protocol.version) == ("json", "Text", 1)


@pytest.mark.parametrize(("text", "message"), GOLDEN)
def test_write_golden(protocol: JsonHubProtocol, text: str, message: Any) -> None:
    assert protocol.write(message) == text + RS


@pytest.mark.parametrize(("text", "message"), GOLDEN)
def test_read_golden(protocol: JsonHubProtocol, text: str, message: Any) -> None:
    assert protocol.decoder().feed(text + RS) == [message]
    assert protocol.decoder().feed((text + RS).encode()) == [message]


def test_close_never_writes_false_or_null(protocol: JsonHubProtocol) -> None:
    assert protocol.write(CloseMessage(allow_reconnect=False)) == '{"type":7}' + RS
    assert protocol.write(CloseMessage(error="x")) == '{"type":7,"error":"x"}' + RS


def test_headers_written_when_set(protocol: JsonHubProtocol) -> None:
    message = CancelInvocationMessage(invocation_id="1", headers={"a": "b"})
    assert protocol.write(message) == '{"type":5,"headers":{"a":"b"},"invocationId":"1"}' + RS


@pytest.mark.parametrize(
    "text",
    [
        '{"type":1,"headers":{"k":"v"},"target":"T","arguments":[]}',
        '{"type":2,"headers":{"k":"v"},"invocationId":"1","item":1}',
        '{"type":3,"headers":{"k":"v"},"invocationId":"1"}',
        '{"type":4,"headers":{"k":"v"},"invocationId":"1","target":"T","arguments":[]}',
        '{"type":5,"headers":{"k":"v"},"invocationId":"1"}',
        '{"type":6,"headers":{"k":"v"}}',
        '{"type":7,"headers":{"k":"v"}}',
    ],
)
def test_headers_tolerated(protocol: JsonHubProtocol, text: str) -> None:
    [message] = protocol.decoder().feed(text + RS)
    assert getattr(message, "headers", {"k": "v"}) == {"k": "v"}


def test_unknown_type_skipped_and_extra_fields_ignored(protocol: JsonHubProtocol) -> None:
    data = '{"type":99,"whatever":[1]}' + RS + '{"type":6,"extra":true}' + RS
    assert protocol.decoder().feed(data) == [PingMessage()]


def test_null_optional_fields_are_absent(protocol: JsonHubProtocol) -> None:
    text = '{"type":1,"invocationId":null,"target":"T","arguments":[],"streamIds":null,"headers":null}'
    assert protocol.decoder().feed(text + RS) == [InvocationMessage(target="T")]


# --- value mapping (§12) ------------------------------------------------------------------------------

GUID = uuid.UUID("00010203-0405-0607-0706-050403020100")
COMPLEX = {
    "String": "hello world",
    "IntArray": [1, 2, 3],
    "ByteArray": bytes([1, 2, 3]),
    "Guid": GUID,
    "DateTime": datetime(2000, 1, 1, tzinfo=UTC),
}


def test_complex_object_round_trip(protocol: JsonHubProtocol) -> None:
    frame = protocol.write(CompletionMessage.with_result("0", COMPLEX))
    assert frame == (
        '{"type":3,"invocationId":"0","result":{"String":"hello world","IntArray":[1,2,3],"ByteArray":"AQID",'
        '"Guid":"00010203-0405-0607-0706-050403020100","DateTime":"2000-01-01T00:00:00Z"}}' + RS
    )
    [message] = protocol.decoder().feed(frame)
    assert message.result == {
        "String": "hello world",
        "IntArray": [1, 2, 3],
        "ByteArray": "AQID",
        "Guid": "00010203-0405-0607-0706-050403020100",
        "DateTime": "2000-01-01T00:00:00Z",
    }


@dataclasses.dataclass
class Point:
    x: int
    when: datetime


class WithHook:
    def to_json(self) -> dict[str, Any]:
        return {"Hooked": True}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"\x01\x02\x03", "AQID"),
        (bytearray(b"\x01\x02\x03"), "AQID"),
        (memoryview(b"\x01\x02\x03"), "AQID"),
        (datetime(2000, 1, 1, tzinfo=UTC), "2000-01-01T00:00:00Z"),
        (datetime(2000, 1, 1), "2000-01-01T00:00:00Z"),  # naive = UTC
        (datetime(2000, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), "2000-01-01T00:00:00Z"),
        (datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC), "2000-01-01T00:00:00.123Z"),  # milliseconds
        (datetime(2000, 1, 1, 0, 0, 0, 999, tzinfo=UTC), "2000-01-01T00:00:00.000Z"),  # as DjangoJSONEncoder
        (datetime(1969, 12, 31, 23, 59, 59, 250999), "1969-12-31T23:59:59.250Z"),
        (date(2000, 1, 2), "2000-01-02"),
        (time(12, 30), "12:30:00"),
        (time(12, 30, 0, 123456), "12:30:00.123"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5), "P1DT02H03M04.000005S"),
        (timedelta(seconds=-1.5), "-P0DT00H00M01.500000S"),
        (timedelta(0), "P0DT00H00M00S"),
        (GUID, "00010203-0405-0607-0706-050403020100"),
        (Decimal("1.10"), "1.10"),
        (WithHook(), {"Hooked": True}),
        (frozenset([1]), [1]),
        ({2}, [2]),
    ],
)
def test_encode_value(value: Any, expected: Any) -> None:
    assert json_default(value) == expected


def test_nested_values_written(protocol: JsonHubProtocol) -> None:
    point = Point(x=1, when=datetime(2000, 1, 1, tzinfo=UTC))
    frame = protocol.write(StreamItemMessage(invocation_id="1", item=[point, (1, 2), {3}]))
    assert json.loads(frame[:-1])["item"] == [{"x": 1, "when": "2000-01-01T00:00:00Z"}, [1, 2], [3]]


def test_unserializable_value_names_type(protocol: JsonHubProtocol) -> None:
    with pytest.raises(TypeError, match="Object of type object cannot be sent"):
        protocol.write(StreamItemMessage(invocation_id="1", item=object()))


def test_aware_time_refused(protocol: JsonHubProtocol) -> None:
    with pytest.raises(ValueError, match="timezone-aware times"):
        protocol.write(StreamItemMessage(invocation_id="1", item=time(12, tzinfo=UTC)))


def test_nan_refused(protocol: JsonHubProtocol) -> None:
    with pytest.raises(ValueError):
        protocol.write(StreamItemMessage(invocation_id="1", item=float("nan")))


def test_record_separator_and_unicode_in_values(protocol: JsonHubProtocol) -> None:
    frame = protocol.write(StreamItemMessage(invocation_id="1", item="a\x1eb é"))
    assert frame.count(RS) == 1 and frame.endswith(RS)
    assert '"a\\u001eb é"' in frame  # ensure_ascii=False keeps é raw
    assert protocol.decoder().feed(frame.encode())[0].item == "a\x1eb é"


# --- framing --------------------------------------------------------------------------------------------


def test_byte_by_byte(protocol: JsonHubProtocol) -> None:
    data = protocol.write(InvocationMessage(invocation_id="1", target="Echo", arguments=["héllo"])).encode()
    decoder = protocol.decoder()
    out = []
    for i in range(len(data)):
        out.append(decoder.feed(data[i : i + 1]))
        assert decoder.pending == (i + 1 if i < len(data) - 1 else 0)
    assert out[:-1] == [[]] * (len(data) - 1)
    assert out[-1] == [InvocationMessage(invocation_id="1", target="Echo", arguments=["héllo"])]


def test_several_messages_and_trailing_partial(protocol: JsonHubProtocol) -> None:
    decoder = protocol.decoder()
    assert decoder.feed('{"type":6}\x1e{"type":7}\x1e{"type"') == [PingMessage(), CloseMessage()]
    assert decoder.pending == len('{"type"')
    assert decoder.feed(":6}\x1e") == [PingMessage()]
    assert decoder.pending == 0


def test_empty_feed(protocol: JsonHubProtocol) -> None:
    assert protocol.decoder().feed(b"") == []


def test_max_size_exact_is_accepted() -> None:
    text = '{"type":6,"pad":"' + "x" * 10 + '"}'
    assert JsonHubProtocol(max_message_size=len(text)).decoder().feed(text + RS) == [PingMessage()]
    with pytest.raises(MessageTooLarge):
        JsonHubProtocol(max_message_size=len(text) - 1).decoder().feed(text + RS)


def test_max_size_pending_partial() -> None:
    decoder = JsonHubProtocol(max_message_size=16).decoder()
    decoder.feed("x" * 16)
    with pytest.raises(MessageTooLarge):
        decoder.feed("x")


def test_unlimited_size() -> None:
    text = '{"type":6,"pad":"' + "x" * 100_000 + '"}' + RS
    assert JsonHubProtocol(max_message_size=None).decoder().feed(text) == [PingMessage()]


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\xff\xfe\x1e", "Invalid UTF-8"),
        (b"{nope\x1e", "Invalid JSON"),
        (b"[1,2]\x1e", "Expected a JSON object"),
        (b"\x1e", "Invalid JSON"),
        (b'{"type":6,"x":NaN}\x1e', "Invalid JSON"),
        (b"{}\x1e", "Missing required property 'type'."),
        (b'{"type":"1"}\x1e', "Expected 'type' to be of type Integer."),
        (b'{"type":true}\x1e', "Expected 'type' to be of type Integer."),
        (b'{"type":1,"arguments":[]}\x1e', "Missing required property 'target'."),
        (b'{"type":1,"target":"T"}\x1e', "Missing required property 'arguments'."),
        (b'{"type":1,"target":1,"arguments":[]}\x1e', "Expected 'target' to be of type String."),
        (b'{"type":1,"target":"T","arguments":{}}\x1e', "Expected 'arguments' to be of type Array."),
        (
            b'{"type":1,"target":"T","arguments":[],"invocationId":1}\x1e',
            "'invocationId' to be of type String",
        ),
        (
            b'{"type":1,"target":"T","arguments":[],"streamIds":[1]}\x1e',
            "'streamIds' to be an Array of String",
        ),
        (b'{"type":1,"target":"T","arguments":[],"headers":{"a":1}}\x1e', "header values"),
        (b'{"type":1,"target":"T","arguments":[],"headers":[]}\x1e', "'headers' to be of type Object"),
        (b'{"type":4,"target":"T","arguments":[]}\x1e', "Missing required property 'invocationId'."),
        (b'{"type":2,"invocationId":"1"}\x1e', "Missing required property 'item'."),
        (b'{"type":3,"invocationId":"1","error":"e","result":1}\x1e', "mutually exclusive"),
        (b'{"type":3,"invocationId":"1","error":1}\x1e', "'error' to be of type String"),
        (b'{"type":5}\x1e', "Missing required property 'invocationId'."),
        (b'{"type":7,"allowReconnect":1}\x1e', "'allowReconnect' to be of type Boolean"),
        (b'{"type":8}\x1e', "Missing required property 'sequenceId'."),
        (b"[" * 100_000 + b"\x1e", "Invalid JSON"),
    ],
)
def test_invalid_messages(data: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error.replace("(", r"\(").replace("[", r"\[")):
        JsonHubProtocol(max_message_size=None).decoder().feed(data)


def test_lone_surrogate_text_is_protocol_error(protocol: JsonHubProtocol) -> None:
    with pytest.raises(RemoteProtocolError):
        protocol.decoder().feed('{"type":6,"x":"\ud800"}\x1e')
