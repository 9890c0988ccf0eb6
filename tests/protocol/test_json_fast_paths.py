"""The JSON protocol's fast paths give what its general paths give.

It reads messages with msgspec and falls back to ``json``: the results must be ``json``'s. It writes a plain
result's Completion without building the message: the frame must be the one ``write`` makes of it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.exceptions import RemoteProtocolError
from realtime.protocol import CompletionMessage, JsonHubProtocol, MessagePackHubProtocol
from realtime.protocol.json import _DECODER, _load_exactly, _load_object

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None)),  # lone surrogates included
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


def reference(raw: bytes | str) -> Any:
    """What the protocol read before msgspec: ``json`` on the UTF-8 bytes (a text frame: its surrogatepass bytes)."""
    try:
        obj = _load_exactly(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    except RemoteProtocolError as exc:
        return ("error", str(exc))
    return obj if isinstance(obj, dict) else ("error", "Expected a JSON object as message.")


def read(raw: bytes | str) -> Any:
    try:
        return _load_object(raw)
    except RemoteProtocolError as exc:
        return ("error", str(exc))


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0), NaN equal to NaN, -0.0 not 0.0; iterative, as
    documents nested deeper than Python's recursion limit may read (json reads them on Python 3.12+)."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if not ((math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))):
                return False
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            pending.extend((x[k], y[k]) for k in x)
        elif isinstance(x, (list, tuple)):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif x != y:
            return False
    return True


@SETTINGS
@given(value=values, ensure_ascii=st.booleans(), as_bytes=st.booleans())
def test_any_json_document_reads_as_json_reads_it(value, ensure_ascii, as_bytes):
    text = json.dumps({"type": 1, "arguments": [value]}, ensure_ascii=ensure_ascii)  # NaN and Infinity too
    raw = text.encode("utf-8", "surrogatepass") if as_bytes else text
    assert same(read(raw), reference(raw))


@SETTINGS
@given(raw=st.binary(max_size=60) | st.text(max_size=60))
def test_any_input_reads_or_fails_as_json_does(raw):
    assert same(read(raw), reference(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":"\\ud800"}',  # a lone surrogate escape: json keeps it
        b'{"a":"\xed\xa0\x80"}',  # a surrogate encoded in UTF-8: not UTF-8
        b'{"a":1e400}',  # json: inf
        b'{"a":NaN}',  # refused by the protocol
        b'{"a":123456789012345678901234567890}',
        b'{"a":1,"a":2}',
        b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}",  # too deep for json on Python 3.11
        b'{"a":"\\ud83d\\ude00"}',
    ],
)
def test_edge_cases_read_as_json_reads_them(raw):
    assert same(read(raw), reference(raw))
    assert same(read(raw.decode("utf-8", "surrogateescape")), reference(raw.decode("utf-8", "surrogateescape")))


def test_the_reference_refuses_nan_as_the_protocol_does():
    with pytest.raises(ValueError, match="NaN is not valid JSON"):
        _DECODER.decode('{"a":NaN}')


results = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def written(write: Any) -> Any:
    try:
        return write()
    except (TypeError, ValueError) as exc:  # NaN and infinities are refused, on both paths
        return ("error", type(exc))


@SETTINGS
@given(
    protocol=st.sampled_from([JsonHubProtocol(), MessagePackHubProtocol()]),
    invocation_id=st.text(st.characters(codec=None), max_size=8),
    result=results,
)
def test_a_result_is_written_as_its_completion_message(protocol, invocation_id, result):
    expected = written(lambda: protocol.write(CompletionMessage.with_result(invocation_id, result)))
    assert written(lambda: protocol.write_result(invocation_id, result)) == expected
