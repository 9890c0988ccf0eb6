"""Property tests: every message round-trips through both codecs; garbage only raises protocol errors."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.exceptions import RemoteProtocolError
from realtime.protocol import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    HubProtocol,
    InvocationMessage,
    JsonHubProtocol,
    MessagePackHubProtocol,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
    parse_handshake,
)
from realtime.protocol.varint import encode_length

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNLIMITED = [JsonHubProtocol(max_message_size=None), MessagePackHubProtocol(max_message_size=None)]
PROTOCOLS = st.sampled_from(UNLIMITED)

# --- strategies -----------------------------------------------------------------------------------------

texts = st.text(max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
arguments = st.lists(json_values, max_size=4)
headers = st.none() | st.dictionaries(texts, texts, min_size=1, max_size=3)
stream_ids = st.none() | st.lists(texts, min_size=1, max_size=3)
sequence_ids = st.integers(min_value=0, max_value=2**53)

with_result = partial(CompletionMessage, has_result=True)
completions = st.one_of(
    st.builds(CompletionMessage, invocation_id=texts, headers=headers),
    st.builds(with_result, invocation_id=texts, result=json_values, headers=headers),
    st.builds(CompletionMessage, invocation_id=texts, error=texts, headers=headers),
)
messages: st.SearchStrategy[HubMessage] = st.one_of(
    st.builds(
        InvocationMessage,
        target=texts,
        arguments=arguments,
        invocation_id=st.none() | texts,
        stream_ids=stream_ids,
        headers=headers,
    ),
    st.builds(
        StreamInvocationMessage,
        invocation_id=texts,
        target=texts,
        arguments=arguments,
        stream_ids=stream_ids,
        headers=headers,
    ),
    st.builds(StreamItemMessage, invocation_id=texts, item=json_values, headers=headers),
    completions,
    st.builds(CancelInvocationMessage, invocation_id=texts, headers=headers),
    st.just(PingMessage()),
    st.builds(CloseMessage, error=st.none() | texts, allow_reconnect=st.booleans()),
    st.builds(AckMessage, sequence_id=sequence_ids),
    st.builds(SequenceMessage, sequence_id=sequence_ids),
)

FIELD_NAMES = [
    "type", "invocationId", "target", "arguments", "streamIds", "headers", "item", "result", "error",
    "allowReconnect", "sequenceId", "protocol", "version",
]  # fmt: skip
json_objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values | st.integers(0, 10), max_size=6)
int64 = st.integers(-(2**63), 2**63 - 1)
msgpack_scalars = st.none() | st.booleans() | int64 | st.integers(0, 2**64 - 1) | st.floats() | texts
msgpack_values = st.recursive(
    msgpack_scalars | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts | int64, children, max_size=3),
    max_leaves=10,
)
msgpack_arrays = st.builds(lambda t, r: [t, *r], st.integers(-1, 11), st.lists(msgpack_values, max_size=6))


def _split(data: Any, cuts: list[int]) -> list[Any]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _feed_all(protocol: HubProtocol, chunks: list[Any]) -> list[HubMessage] | None:
    """Feed ``chunks``; ``None`` when the decoder raised a protocol error (anything else escapes)."""
    decoder = protocol.decoder()
    out: list[HubMessage] = []
    try:
        for chunk in chunks:
            out.extend(decoder.feed(chunk))
    except RemoteProtocolError:
        return None
    return out


# --- round trips ----------------------------------------------------------------------------------------


@SETTINGS
@given(protocol=PROTOCOLS, message=messages)
def test_round_trip(protocol: HubProtocol, message: HubMessage) -> None:
    assert protocol.decoder().feed(protocol.write(message)) == [message]


@SETTINGS
@given(
    protocol=PROTOCOLS,
    batch=st.lists(messages, min_size=1, max_size=5),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
    as_bytes=st.booleans(),
)
def test_round_trip_chunked(
    protocol: HubProtocol,
    batch: list[HubMessage],
    cuts: list[int],
    as_bytes: bool,
) -> None:
    frames = [protocol.write(m) for m in batch]
    data: Any = "".join(frames) if isinstance(frames[0], str) else b"".join(frames)  # type: ignore[arg-type]
    if as_bytes and isinstance(data, str):
        data = data.encode()
    assert _feed_all(protocol, _split(data, cuts)) == batch


@SETTINGS
@given(message=messages)
def test_json_frame_has_one_separator(message: HubMessage) -> None:
    frame = JsonHubProtocol().write(message)
    assert frame.index("\x1e") == len(frame) - 1


# --- garbage in: only protocol errors out ---------------------------------------------------------------


@SETTINGS
@given(protocol=PROTOCOLS, data=st.binary(max_size=64), cuts=st.lists(st.integers(0, 100), max_size=3))
def test_random_bytes(protocol: HubProtocol, data: bytes, cuts: list[int]) -> None:
    _feed_all(protocol, _split(data, cuts))


@SETTINGS
@given(text=st.text(max_size=64))
def test_random_text_json(text: str) -> None:
    _feed_all(JsonHubProtocol(), [text, "\x1e"])


@SETTINGS
@given(text=st.text(max_size=64))
def test_random_text_msgpack(text: str) -> None:
    assert _feed_all(MessagePackHubProtocol(), [text]) is None


@SETTINGS
@given(obj=json_objects)
def test_random_json_objects(obj: dict[str, Any]) -> None:
    _feed_all(JsonHubProtocol(), [json.dumps(obj) + "\x1e"])


@SETTINGS
@given(body=st.binary(max_size=32))
def test_random_msgpack_bodies(body: bytes) -> None:
    _feed_all(MessagePackHubProtocol(), [encode_length(len(body)) + body])


@SETTINGS
@given(array=msgpack_arrays)
def test_random_msgpack_arrays(array: list[Any]) -> None:
    body = msgpack.packb(array, use_bin_type=True)
    _feed_all(MessagePackHubProtocol(), [encode_length(len(body)) + body])


@SETTINGS
@given(data=st.binary(max_size=64) | st.text(max_size=64).map(lambda t: t + "\x1e"))
def test_random_handshake(data: bytes | str) -> None:
    try:
        parse_handshake(data)
    except RemoteProtocolError:
        pass


@SETTINGS
@given(obj=json_objects)
def test_random_handshake_objects(obj: dict[str, Any]) -> None:
    try:
        parse_handshake(json.dumps(obj) + "\x1e")
    except RemoteProtocolError:
        pass
