"""Handshake, keep-alive, timeouts and bad input (protocol.md §4, §5, §9, §10)."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest

from realtime.hubs import Hub
from realtime.protocol.json import JsonHubProtocol
from realtime.protocol.messages import CloseMessage, InvocationMessage, PingMessage
from realtime.protocol.msgpack import MessagePackHubProtocol
from realtime.testing import HubCommunicator

from .rawsocket import RS, RawSocket


class LifeHub(Hub):
    keep_alive_interval = 0.2
    client_timeout = 5.0
    handshake_timeout = 0.3
    max_message_size = 1024

    async def Echo(self, value):  # noqa: N802
        return value

    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)

    async def SendToGroup(self, group: str, text: str) -> None:  # noqa: N802
        await self.clients.group(group).asend("Msg", text)


class TimeoutHub(LifeHub):
    keep_alive_interval = 0.1
    client_timeout = 0.4


# -- keep-alive and client timeout -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_ping_after_keep_alive_interval_of_silence(protocol):
    async with HubCommunicator(LifeHub, protocol=protocol) as client:
        assert await client.invoke("Echo", 1) == 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        message = await client.receive_message(timeout=1)
        elapsed = loop.time() - started
    assert message == PingMessage()
    assert 0.15 <= elapsed <= 1.0


async def test_ping_frame_is_exact_json():
    async with RawSocket(LifeHub) as ws:
        await ws.handshake()
        assert await ws.receive_text(timeout=1) == '{"type":6}' + RS


async def test_no_ping_while_other_frames_flow():
    async with RawSocket(LifeHub) as ws:
        await ws.handshake()
        for index in range(8):  # 0.4 s of traffic in 0.05 s steps, never 0.2 s of silence
            await ws.send_json({"type": 1, "invocationId": str(index), "target": "Echo", "arguments": [index]})
            reply = json.loads((await ws.receive_text()).rstrip(RS))  # a Ping here would fail the test
            assert reply == {"type": 3, "invocationId": str(index), "result": index}
            await asyncio.sleep(0.05)


async def test_client_timeout_closes_with_error_and_allow_reconnect():
    async with RawSocket(TimeoutHub) as ws:
        await ws.handshake()
        frames, code = await ws.until_close(timeout=2)
    messages = [json.loads(frame["text"][:-1]) for frame in frames]
    assert messages[-1] == {
        "type": 7,
        "error": "Connection closed with an error. Client timeout elapsed without receiving a message.",
        "allowReconnect": True,
    }
    assert all(m == {"type": 6} for m in messages[:-1])
    assert code == 1000


async def test_pings_from_the_client_keep_the_connection_open():
    async with HubCommunicator(TimeoutHub) as client:
        for _ in range(8):  # 0.8 s, twice the client timeout
            await client.send_message(PingMessage())
            await asyncio.sleep(0.1)
        assert client.closed is None
        assert await client.invoke("Echo", "alive") == "alive"


async def test_handshake_timeout():
    async with RawSocket(LifeHub) as ws:
        frames, code = await ws.until_close(timeout=2)
    assert [frame["text"] for frame in frames] == ['{"error":"Handshake was canceled."}' + RS]


async def test_handshake_timeout_default_from_settings(settings):
    class DefaultHub(Hub):
        pass

    settings.REALTIME = {"HANDSHAKE_TIMEOUT": 0.2}
    async with RawSocket(DefaultHub) as ws:
        frames, _ = await ws.until_close(timeout=2)
    assert [frame["text"] for frame in frames] == ['{"error":"Handshake was canceled."}' + RS]


# -- handshake errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "error"),
    [
        ('{"protocol":"xml","version":1}', "The protocol 'xml' is not supported."),
        ('{"protocol":"json","version":3}', "The server does not support version 3 of the 'json' protocol."),
        (
            '{"protocol":"messagepack","version":3}',
            "The server does not support version 3 of the 'messagepack' protocol.",
        ),
        ("garbage", "An unexpected error occurred during connection handshake."),
        ('{"protocol":"json"}', "An unexpected error occurred during connection handshake."),
        ("[1,2]", "An unexpected error occurred during connection handshake."),
    ],
)
async def test_handshake_errors(request_text, error):
    async with RawSocket(LifeHub) as ws:
        await ws.send(request_text + RS)
        frames, code = await ws.until_close(timeout=2)
    assert [frame["text"] for frame in frames] == [json.dumps({"error": error}, separators=(",", ":")) + RS]
    assert code == 1000


async def test_handshake_error_detail_with_detailed_errors():
    class Detailed(LifeHub):
        detailed_errors = True

    async with RawSocket(Detailed) as ws:
        await ws.send("garbage" + RS)
        frames, _ = await ws.until_close(timeout=2)
    error = json.loads(frames[0]["text"][:-1])["error"]
    assert error.startswith("An unexpected error occurred during connection handshake. InvalidDataException: ")


async def test_handshake_version_2_and_split_handshake_are_accepted():
    async with RawSocket(LifeHub) as ws:
        await ws.send('{"protocol":"json",')
        await ws.send('"version":2}' + RS + '{"type":1,"invocationId":"1","target":"Echo","arguments":[5]}' + RS)
        assert await ws.receive_text() == "{}" + RS
        assert await ws.receive_json() == {"type": 3, "invocationId": "1", "result": 5}


async def test_messagepack_handshake_reply_is_binary():
    async with RawSocket(LifeHub) as ws:
        await ws.send('{"protocol":"messagepack","version":1}' + RS)
        reply = await ws.receive()
        assert reply.get("bytes") == b"{}\x1e"
        await ws.send(bytes([0x02, 0x91, 0x06]))  # Ping
        protocol = MessagePackHubProtocol()
        await ws.send(protocol.write(InvocationMessage(invocation_id="1", target="Echo", arguments=[1])))
        reply = await ws.receive()
        (completion,) = protocol.decoder().feed(reply["bytes"])
        assert (completion.invocation_id, completion.result) == ("1", 1)


# -- bad input after the handshake -----------------------------------------------------------------


def msgpack_frame(body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([len(body)]) + body


BAD_INPUTS = {
    "second handshake": ("json", '{"protocol":"json","version":1}' + RS, "Missing required property 'type'."),
    "malformed json": ("json", '{"type":1,' + RS, "Invalid JSON"),
    "json not an object": ("json", "[1]" + RS, "Expected a JSON object"),
    "invocation without target": ("json", '{"type":1,"invocationId":"1","arguments":[]}' + RS, "'target'"),
    "oversized json": ("json", '{"type":1,"target":"Echo","arguments":["' + "x" * 2000 + '"]}' + RS, "maximum message"),
    "oversized json without separator": ("json", '{"type":1,"target":"' + "x" * 2000, "maximum message"),
    "garbage messagepack": ("messagepack", msgpack_frame(b"\xc1\xc1\xc1"), "MessagePack"),
    "messagepack not an array": ("messagepack", msgpack_frame(msgpack.packb({"a": 1})), "MessagePack array"),
    "oversized messagepack": (
        "messagepack",
        b"\x80\x40" + b"\x00" * 10,  # declares 8192 bytes
        "maximum message",
    ),
}


def hub_messages(frames: list[dict], protocol: str) -> list:
    """The hub messages in raw frames, Pings left out."""
    decoder = (MessagePackHubProtocol if protocol == "messagepack" else JsonHubProtocol)(
        max_message_size=None
    ).decoder()
    messages = [m for frame in frames for m in decoder.feed(frame.get("bytes") or frame.get("text"))]
    return [m for m in messages if m != PingMessage()]


@pytest.fixture
async def bystander():
    """A well-behaved connection to the same hub, in group ``g``."""
    async with HubCommunicator(LifeHub) as client:
        await client.invoke("Join", "g")
        yield client


async def check_bystander(bystander: HubCommunicator) -> None:
    assert await bystander.invoke("Echo", "still here") == "still here"
    await bystander.invoke("SendToGroup", "g", "group works")
    assert (await bystander.receive_invocation("Msg")).arguments == ["group works"]
    assert bystander.closed is None


@pytest.mark.parametrize("case", list(BAD_INPUTS))
async def test_bad_input_closes_with_error_then_1000(case, bystander):
    protocol, data, reason = BAD_INPUTS[case]
    async with RawSocket(LifeHub) as ws:
        await ws.handshake(protocol)
        await ws.send(data)
        frames, code = await ws.until_close(timeout=2)
    (close,) = hub_messages(frames, protocol)
    assert isinstance(close, CloseMessage)
    error = close.error
    assert error.startswith("Connection closed with an error. InvalidDataException: "), error
    assert reason in error
    assert code == 1000
    await check_bystander(bystander)


async def test_text_frame_on_messagepack_connection_closes(bystander):
    async with RawSocket(LifeHub) as ws:
        await ws.handshake("messagepack")
        await ws.send('{"type":6}' + RS)
        frames, code = await ws.until_close(timeout=2)
    (close,) = hub_messages(frames, "messagepack")
    assert isinstance(close, CloseMessage) and close.error.startswith("Connection closed with an error.")
    assert code == 1000
    await check_bystander(bystander)


@pytest.mark.parametrize("case", ["handshake timeout", "bad handshake", "abrupt disconnect"])
async def test_bystander_survives_handshake_failures_and_drops(case, bystander):
    async with RawSocket(LifeHub) as ws:
        if case == "bad handshake":
            await ws.send("garbage" + RS)
            await ws.until_close()
        elif case == "handshake timeout":
            await ws.until_close()
        else:
            await ws.handshake()
            await ws.send_json({"type": 1, "target": "Join", "arguments": ["g"]})
            await ws.ws.disconnect(1006)
    await check_bystander(bystander)


async def test_unknown_message_types_are_ignored():
    async with RawSocket(LifeHub) as ws:
        await ws.handshake()
        await ws.send('{"type":99}' + RS + '{"type":99,"whatever":[1]}' + RS)
        await ws.send('{"type":8,"sequenceId":1}' + RS + '{"type":9,"sequenceId":1}' + RS)  # Ack, Sequence
        await ws.send('{"type":1,"invocationId":"1","target":"Echo","arguments":["ok"],"headers":{"a":"b"}}' + RS)
        assert await ws.receive_json() == {"type": 3, "invocationId": "1", "result": "ok"}


async def test_unknown_messagepack_type_is_ignored():
    async with HubCommunicator(LifeHub, protocol="messagepack") as client:
        await client.send_raw(msgpack_frame(msgpack.packb([99, {}, "x"])))
        assert await client.invoke("Echo", "ok") == "ok"


async def test_several_messages_in_one_frame_and_one_message_over_frames():
    async with RawSocket(LifeHub) as ws:
        await ws.handshake()
        one = '{"type":1,"invocationId":"1","target":"Echo","arguments":[1]}' + RS
        two = '{"type":1,"invocationId":"2","target":"Echo","arguments":[2]}' + RS
        await ws.send(one + two[:10])
        await ws.send(two[10:])
        replies = [await ws.receive_json(), await ws.receive_json()]
    assert replies == [
        {"type": 3, "invocationId": "1", "result": 1},
        {"type": 3, "invocationId": "2", "result": 2},
    ]


async def test_client_close_message_ends_cleanly_without_error():
    async with RawSocket(LifeHub) as ws:
        await ws.handshake()
        await ws.send('{"type":7}' + RS)
        frames, code = await ws.until_close(timeout=2)
    assert [f for f in frames if f.get("text") != '{"type":6}' + RS] == []
    assert code == 1000


disconnects: list[Exception | None] = []


class HookHub(LifeHub):
    async def on_disconnected(self, exception: Exception | None) -> None:
        disconnects.append(exception)


@pytest.mark.parametrize("how", ["close 1000", "close 1001", "Close message", "close 1006", "bad input"])
async def test_on_disconnected_gets_the_error_only_for_unclean_ends(how):
    disconnects.clear()
    async with RawSocket(HookHub) as ws:
        await ws.handshake()
        if how.startswith("close "):
            await ws.ws.disconnect(int(how.split()[1]))
        elif how == "Close message":
            await ws.send('{"type":7}' + RS)
            await ws.until_close()
        else:
            await ws.send("[1]" + RS)
            await ws.until_close()
    (exception,) = disconnects
    if how in ("close 1006", "bad input"):
        assert isinstance(exception, Exception)
    else:
        assert exception is None


async def test_on_disconnected_not_called_without_handshake():
    disconnects.clear()
    async with RawSocket(HookHub) as ws:
        await ws.send("garbage" + RS)
        await ws.until_close()
    assert disconnects == []


class AbortHub(HookHub):
    async def Leave(self) -> str:  # noqa: N802
        self.context.abort()
        return "bye"

    async def LeaveSlowly(self) -> str:  # noqa: N802
        self.context.abort()
        await asyncio.sleep(0.05)  # the Close must still wait for this method's Completion
        return "bye"


@pytest.mark.parametrize("target", ["Leave", "LeaveSlowly"])
async def test_context_abort_closes_cleanly_after_the_invocation(target):
    disconnects.clear()
    async with RawSocket(AbortHub) as ws:
        await ws.handshake()
        await ws.send_json({"type": 1, "invocationId": "1", "target": target, "arguments": []})
        frames, code = await ws.until_close(timeout=2)
    assert [frame["text"] for frame in frames if frame["text"] != '{"type":6}' + RS] == [
        '{"type":3,"invocationId":"1","result":"bye"}' + RS,
        '{"type":7}' + RS,
    ]
    assert code == 1000
    assert disconnects == [None]
