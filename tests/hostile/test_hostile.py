"""Hostile input against a real server process: every case gets its documented answer, nothing crashes.

A well-behaved client stays connected throughout and must keep working. Hypothesis drives the
generated cases (bounded in count); hand-written cases cover tokens and the HTTP transports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.servers import conformance_server

pytestmark = pytest.mark.timeout(300)
RS = "\x1e"
TRIED: Counter[str] = Counter()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def server():
    with conformance_server("daphne", env={"REALTIME_LOG_LEVEL": "ERROR"}) as running:
        yield running
        running.shut_down()  # then the output is complete: its copy lags the process a little
        log = running.output()
        assert "Traceback" not in log, log[-4000:]
    print(f"\nhostile cases tried: {sum(TRIED.values())} ({dict(TRIED)})")


@pytest.fixture(scope="module")
def bystander(server):
    """A well-behaved connection that must survive every hostile case."""
    client = open_hub(server, "chathub")
    call(client, "JoinGroup", "bystanders")
    yield client
    assert call(client, "WhoAmI") is None
    client.close()


def ws_url(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + "/" + path


def open_hub(server, path: str) -> ClientConnection:
    client = connect(ws_url(server, path), open_timeout=10, close_timeout=2, legacy=True)
    client.send('{"protocol":"json","version":1}' + RS)
    assert client.recv(timeout=10) == "{}" + RS
    return client


def call(client: ClientConnection, target: str, *args: Any) -> Any:
    client.send(json.dumps({"type": 1, "invocationId": "c", "target": target, "arguments": list(args)}) + RS)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for part in client.recv(timeout=10).split(RS):
            message = json.loads(part) if part else {}
            if message.get("type") == 3 and message.get("invocationId") == "c":
                assert "error" not in message, message
                return message.get("result")
    raise AssertionError(f"no Completion for {target}")


PROBE_ID = "hostile-probe"
PROBE = json.dumps({"type": 1, "invocationId": PROBE_ID, "target": "Echo", "arguments": ["probe"]}) + RS


def outcome(client: ClientConnection, probe: bool = True) -> tuple[str, Any]:
    """What the server did after hostile input: answered, closed (with its Close message), or nothing.

    With ``probe`` (input that ends with a JSON separator, so the probe stays a message of its own) an Echo
    invocation follows the input. The server handles a connection's messages in order, so its Completion
    ends whatever the hostile input got ("open", with the frames before it), and a close comes instead of
    it. Without (MessagePack, or input left partial, where the probe would become part of the pending
    message) "open" means that 0.5 s passed in silence: a slow close is taken for "open" there, so those
    cases assert nothing about an open connection.
    """
    received: list[str | bytes] = []
    try:
        if probe:
            with contextlib.suppress(ConnectionClosed):  # the server may have closed already
                client.send(PROBE)
        while True:
            frame = client.recv(timeout=10 if probe else 0.5)
            if probe and isinstance(frame, str) and any(_answers_probe(part) for part in frame.split(RS)):
                before = [part for part in frame.split(RS) if part and not _answers_probe(part)]
                received += [RS.join(before) + RS] if before else []
                return "open", received
            received.append(frame)
    except TimeoutError:
        assert not probe, f"the server neither answered the probe nor closed; it sent {received!r}"
        return "open", received
    except ConnectionClosed as closed:
        return "closed", (closed.rcvd.code if closed.rcvd else None, received)


def _answers_probe(part: str) -> bool:
    """Whether ``part`` (one JSON message) is the Completion of the probe."""
    try:
        message = json.loads(part)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == 3 and message.get("invocationId") == PROBE_ID


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def still_fine(server, bystander: ClientConnection) -> None:
    assert call(bystander, "SendToGroup", "bystanders", "ping") is None
    assert http("GET", f"{server.url}/generateJwtToken")[0] == 200


# -- handshakes and frames ------------------------------------------------------------------------


@FUZZ
@given(first=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_garbage_handshakes(server, bystander, first):
    TRIED["handshake"] += 1
    client = connect(ws_url(server, "testhub"), open_timeout=10, close_timeout=2, legacy=True)
    try:
        client.send(first + (RS if isinstance(first, str) else RS.encode()))
        state, detail = outcome(client)
        if state == "closed":
            code, frames = detail
            assert code == 1000
            for frame in frames:
                text = frame if isinstance(frame, str) else frame.decode()
                assert (
                    text == "{}" + RS or json.loads(text.rstrip(RS)).get("error") or json.loads(text.split(RS)[0]) == {}
                )
    finally:
        client.close()


@FUZZ
@given(
    message=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=12,
    ),
    typed=st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99, "1", -1]),
)
def test_malformed_json_messages(server, bystander, message, typed):
    """Any JSON value as a hub message: ignored, answered, or the connection closes with a Close + 1000."""
    TRIED["json message"] += 1
    if isinstance(message, dict) and typed is not None:
        message["type"] = typed
    client = open_hub(server, "testhub")
    try:
        client.send(json.dumps(message) + RS)
        state, detail = outcome(client)
        if state == "closed":
            code, frames = detail
            assert code == 1000
            closes = [json.loads(p) for f in frames for p in f.split(RS) if p and json.loads(p).get("type") == 7]
            if isinstance(message, dict) and message.get("type") == 7 and not closes:
                return  # a well-formed client Close: the server just closes (no Close back)
            assert closes and closes[-1]["error"].startswith("Connection closed with an error."), frames
        else:
            assert call(client, "Echo", "ok") == "ok"
    finally:
        client.close()
    still_fine(server, bystander)


@FUZZ
@given(payload=st.binary(min_size=1, max_size=300))
def test_garbage_messagepack_frames(server, bystander, payload):
    TRIED["msgpack frame"] += 1
    client = connect(ws_url(server, "testhub"), open_timeout=10, close_timeout=2, legacy=True)
    try:
        client.send('{"protocol":"messagepack","version":1}' + RS)
        assert client.recv(timeout=10) == b"{}" + RS.encode()
        client.send(payload)
        state, detail = outcome(client, probe=False)
        if state == "closed":
            assert detail[0] == 1000
    finally:
        client.close()
    still_fine(server, bystander)


def test_oversized_and_bad_frames(server, bystander):
    cases = {
        "oversized": '{"type":1,"target":"Echo","arguments":["' + "x" * 40000 + '"]}' + RS,
        "second handshake": '{"protocol":"json","version":1}' + RS,
        "private method": '{"type":1,"invocationId":"1","target":"_connection","arguments":[]}' + RS,
        "wrong arity": '{"type":1,"invocationId":"1","target":"Echo","arguments":[1,2,3]}' + RS,
        "partial": '{"type":1,"invocationId":"1","target":"Echo",',
        "binary on json": b"\x93\x01\x02\x03\x1e",
        "huge varint": msgpack.packb([1, {}, "1", "Echo", []]),
    }
    for name, frame in cases.items():
        TRIED["hand-written frame"] += 1
        client = open_hub(server, "testhub")
        client.send(frame)
        # a frame without a separator leaves a partial message that would swallow the probe
        state, detail = outcome(client, probe=frame.endswith(RS if isinstance(frame, str) else RS.encode()))
        if name in ("oversized", "second handshake", "binary on json"):
            assert state == "closed" and detail[0] == 1000, name
        if name in ("private method", "wrong arity"):
            assert state == "open" and "error" in detail[0], (name, detail)
        client.close()
    still_fine(server, bystander)


# -- negotiate, ids and tokens -------------------------------------------------------------------


@FUZZ
@given(query=st.text(alphabet=st.characters(codec="ascii", exclude_characters="#"), max_size=60))
def test_negotiate_queries(server, bystander, query):
    TRIED["negotiate query"] += 1
    status, body = http("POST", f"{server.url}/testhub/negotiate?{urllib.parse.quote(query, safe='=&')}")
    assert status == 200
    answer = json.loads(body)
    assert "error" in answer or answer["availableTransports"]


@FUZZ
@given(token=st.text(min_size=1, max_size=80), method=st.sampled_from(["GET", "POST", "DELETE"]))
def test_unknown_ids(server, bystander, token, method):
    TRIED["connection id"] += 1
    status, body = http(
        method, f"{server.url}/testhub?id={urllib.parse.quote(token)}", b"x" if method == "POST" else None
    )
    assert (status, body) == (404, b"No Connection with that ID")


def _jwt(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"sig") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(payload).encode()), part(signature)])


def test_bad_tokens(server, bystander):
    good = http("GET", f"{server.url}/generateJwtToken")[1].decode()
    expired = http("GET", f"{server.url}/generateJwtToken?seconds=-10")[1].decode()
    head, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tokens = {
        "expired": expired,
        "bad signature": f"{head}.{payload}.{signature[::-1]}",
        "alg none": _jwt({"alg": "none", "typ": "JWT"}, claims, b""),
        "wrong type": _jwt({"alg": "HS256", "typ": "JWT"}, {**claims, "token_type": "refresh"}),
        "garbage": "not.a.token",
        "empty claims": _jwt({"alg": "HS256"}, {}),
        "huge": "a" * 10000,
    }
    for name, token in tokens.items():
        TRIED["token"] += 1
        for how in ("header", "query"):
            url = f"{server.url}/authorizedhub/negotiate?negotiateVersion=1"
            headers = {"Authorization": f"Bearer {token}"} if how == "header" else {}
            if how == "query":
                url += f"&access_token={urllib.parse.quote(token)}"
            assert http("POST", url, b"", headers) == (401, b""), (name, how)
        with pytest.raises(InvalidStatus):
            connect(
                ws_url(server, f"authorizedhub?access_token={urllib.parse.quote(token)}"), open_timeout=10, legacy=True
            )
    assert http("POST", f"{server.url}/authorizedhub/negotiate", b"", {"Authorization": f"Bearer {good}"})[0] == 200
    assert "Traceback" not in server.output()
    still_fine(server, bystander)
