"""Invocations run as tasks: the per-connection slot, stream cancellation and upload streams (protocol.md §7)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from realtime.exceptions import HubError
from realtime.hubs import Hub
from realtime.protocol.messages import (
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    InvocationMessage,
    PingMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from realtime.testing import HubCommunicator

from .rawsocket import RS, RawSocket

state = SimpleNamespace()


@pytest.fixture(autouse=True)
def fresh_state():
    state.gate = asyncio.Event()
    state.block_started = asyncio.Event()
    state.stream_started = asyncio.Event()
    state.stream_finished = asyncio.Event()
    state.barrier = asyncio.Barrier(2)
    state.received = []
    state.upload_error = None


class SlotHub(Hub):
    async def Block(self):  # noqa: N802
        state.block_started.set()
        await state.gate.wait()
        return "block"

    async def Quick(self):  # noqa: N802
        return "quick"

    async def Rendezvous(self):  # noqa: N802
        async with asyncio.timeout(0.5):
            await state.barrier.wait()
        return "met"

    async def Forever(self) -> AsyncIterator[int]:  # noqa: N802
        try:
            state.stream_started.set()
            yield 0
            await asyncio.Event().wait()
            yield 1  # pragma: no cover
        finally:
            state.stream_finished.set()

    async def Collect(self, stream: AsyncIterator[int]) -> list[int]:  # noqa: N802
        async for item in stream:
            state.received.append(item)
            await self.clients.caller.asend("Got", item)
        return state.received

    async def CollectCatching(self, stream: AsyncIterator[int]) -> str:  # noqa: N802
        try:
            async for item in stream:
                state.received.append(item)
        except HubError as exc:
            state.upload_error = exc
            return f"caught: {exc}"
        return "no error"

    async def Pair(self, first: AsyncIterator[str], second: AsyncIterator[str]) -> list[list[str]]:  # noqa: N802
        return [[item async for item in first], [item async for item in second]]

    async def Hold(self, stream: AsyncIterator[str]) -> None:  # noqa: N802
        await state.gate.wait()


class TwoSlotHub(SlotHub):
    max_parallel_invocations = 2


class ShortTimeoutHub(SlotHub):
    keep_alive_interval = 0.1
    client_timeout = 0.5


async def receive_completion(client: HubCommunicator, invocation_id: str, timeout: float = 5) -> CompletionMessage:
    while True:
        message = await client.receive_message(timeout)
        if isinstance(message, CompletionMessage) and message.invocation_id == invocation_id:
            return message


async def test_second_invocation_waits_while_other_messages_are_handled():
    async with HubCommunicator(ShortTimeoutHub) as client:
        # A server stream takes the slot only to start, then keeps running.
        await client.send_message(StreamInvocationMessage(invocation_id="s", target="Forever", arguments=[]))
        first = await client.receive_message()
        while isinstance(first, PingMessage):  # keep_alive_interval is 0.1 s: a Ping may come first
            first = await client.receive_message()
        assert first == StreamItemMessage(invocation_id="s", item=0)
        # A slow blocking invocation holds the only slot; the next one queues behind it.
        await client.send_message(InvocationMessage(invocation_id="b", target="Block", arguments=[]))
        await asyncio.wait_for(state.block_started.wait(), 2)
        await client.send_message(InvocationMessage(invocation_id="q", target="Quick", arguments=[]))
        assert await client.receive_nothing(0.2)
        # Meanwhile a stream cancel is handled at once: the generator's finally runs.
        await client.send_message(CancelInvocationMessage(invocation_id="s"))
        await asyncio.wait_for(state.stream_finished.wait(), 1)
        # ...and Pings keep the connection alive past client_timeout (0.5 s) while the slot is busy.
        for _ in range(8):
            await client.send_message(PingMessage())
            await asyncio.sleep(0.1)
        assert client.closed is None
        assert await client.receive_nothing(0.05)
        state.gate.set()
        first = await receive_completion(client, "b")
        second = await client.receive_message()
    assert (first.result, second.invocation_id, second.result) == ("block", "q", "quick")


async def test_one_slot_serializes_invocations():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(InvocationMessage(invocation_id="1", target="Rendezvous", arguments=[]))
        await client.send_message(InvocationMessage(invocation_id="2", target="Rendezvous", arguments=[]))
        # They never meet: the second starts only after the first gave up.
        first = await receive_completion(client, "1")
        assert first.error == "An unexpected error occurred invoking 'Rendezvous' on the server."


async def test_two_slots_run_two_invocations_concurrently():
    async with HubCommunicator(TwoSlotHub) as client:
        await client.send_message(InvocationMessage(invocation_id="1", target="Rendezvous", arguments=[]))
        await client.send_message(InvocationMessage(invocation_id="2", target="Rendezvous", arguments=[]))
        results = {(await client.receive_message()).result for _ in range(2)}
    assert results == {"met"}


async def test_max_parallel_invocations_from_settings(settings):
    settings.REALTIME = {"MAX_PARALLEL_INVOCATIONS": 2}
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(InvocationMessage(invocation_id="1", target="Rendezvous", arguments=[]))
        await client.send_message(InvocationMessage(invocation_id="2", target="Rendezvous", arguments=[]))
        assert (await client.receive_message()).result == "met"
        assert (await client.receive_message()).result == "met"


async def test_server_stream_cancel_stops_generator_promptly():
    async with HubCommunicator(SlotHub) as client:
        async for item in client.stream_iter("Forever"):
            assert item == 0
            break  # sends CancelInvocation
        await asyncio.wait_for(state.stream_finished.wait(), 1)
        assert await client.invoke("Quick") == "quick"


async def test_disconnect_stops_running_stream():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(StreamInvocationMessage(invocation_id="s", target="Forever", arguments=[]))
        await client.receive_message()
    assert state.stream_finished.is_set()


async def test_cancel_of_blocking_or_unknown_invocation_is_ignored():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(InvocationMessage(invocation_id="b", target="Block", arguments=[]))
        await asyncio.wait_for(state.block_started.wait(), 2)
        await client.send_message(CancelInvocationMessage(invocation_id="b"))
        await client.send_message(CancelInvocationMessage(invocation_id="unknown"))
        state.gate.set()
        completion = await client.receive_message()
    assert (completion.invocation_id, completion.result) == ("b", "block")


# -- upload streams ---------------------------------------------------------------------------------


async def test_upload_items_arrive_while_the_method_awaits_them():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(
            InvocationMessage(invocation_id="u", target="Collect", arguments=[], stream_ids=["s1"])
        )
        for item in (10, 20, 30):
            await client.send_message(StreamItemMessage(invocation_id="s1", item=item))
            got = await client.receive_invocation("Got")  # the method saw it before the next is sent
            assert got.arguments == [item]
        await client.send_message(CompletionMessage.void("s1"))
        completion = await client.receive_message()
    assert (completion.invocation_id, completion.result) == ("u", [10, 20, 30])


async def test_two_upload_streams_in_one_invocation():
    async with HubCommunicator(SlotHub) as client:
        result = await client.upload("Pair", streams=[["a", "b"], ["c"]])
    assert result == [["a", "b"], ["c"]]


async def test_upload_error_raises_hub_error_in_the_method():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(
            InvocationMessage(invocation_id="u", target="CollectCatching", arguments=[], stream_ids=["s1"])
        )
        await client.send_message(StreamItemMessage(invocation_id="s1", item=1))
        await client.send_message(CompletionMessage.with_error("s1", "Error: source failed"))
        completion = await client.receive_message()
    assert completion.result == "caught: Error: source failed"
    assert isinstance(state.upload_error, HubError)
    assert state.received == [1]


async def test_upload_error_reaches_the_caller_as_hub_exception():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(
            InvocationMessage(invocation_id="u", target="Collect", arguments=[], stream_ids=["s1"])
        )
        await client.send_message(CompletionMessage.with_error("s1", "Error: source failed"))
        completion = await client.receive_message()
    assert completion.error == (
        "An unexpected error occurred invoking 'Collect' on the server. HubException: Error: source failed"
    )


async def test_items_for_unknown_or_finished_streams_are_ignored():
    async with HubCommunicator(SlotHub) as client:
        await client.send_message(StreamItemMessage(invocation_id="nobody", item=1))
        await client.send_message(CompletionMessage.void("nobody"))
        await client.send_message(CompletionMessage.with_error("nobody", "x"))
        assert await client.upload("Pair", streams=[["a"], ["b"]]) == [["a"], ["b"]]
        # the streams of the finished call are gone: late items for them change nothing
        await client.send_message(StreamItemMessage(invocation_id="0", item="late"))
        await client.send_message(CompletionMessage.void("1"))
        assert await client.upload("Pair", streams=[["x"], []]) == [["x"], []]
        assert await client.receive_nothing(0.1)
        assert client.closed is None


class TinyBufferHub(SlotHub):
    stream_buffer_capacity = 2
    max_message_size = 200


async def test_exceeding_the_upload_buffer_closes_the_connection():
    async with HubCommunicator(TinyBufferHub) as client:
        await client.send_message(InvocationMessage(invocation_id="h", target="Hold", arguments=[], stream_ids=["s"]))
        for _ in range(10):
            await client.send_message(StreamItemMessage(invocation_id="s", item="x" * 120))
            if not await client.receive_nothing(0.02):
                break
        assert isinstance(client.closed, CloseMessage)
        assert client.closed.error == (
            "Connection closed with an error. InvalidDataException: "
            "Client sent more stream data than the server buffers (400 bytes)."
        )
        with pytest.raises(ConnectionError, match="code 1000"):
            await client.receive_message()


async def test_upload_buffer_is_freed_as_the_method_reads():
    async with HubCommunicator(TinyBufferHub) as client:
        items = ["x" * 120 for _ in range(12)]  # 3x the buffer, read as it arrives
        await client.send_message(
            InvocationMessage(invocation_id="u", target="Collect", arguments=[], stream_ids=["s1"])
        )
        for item in items:
            await client.send_message(StreamItemMessage(invocation_id="s1", item=item))
            await client.receive_invocation("Got")
        await client.send_message(CompletionMessage.void("s1"))
        completion = await receive_completion(client, "u")
    assert completion.result == items


class TakeOneHub(TinyBufferHub):
    async def TakeOne(self, stream: AsyncIterator[str]) -> str:  # noqa: N802
        async for item in stream:
            return item
        return ""


async def test_unread_items_of_finished_uploads_do_not_count_against_the_buffer():
    """Items a method never read are dropped with its invocation, even when their stream had completed."""
    async with RawSocket(TakeOneHub) as ws:
        await ws.handshake()
        item = "x" * 120  # a 400-byte buffer holds two such items
        for round_ in range(6):
            invocation = {"type": 1, "invocationId": f"i{round_}", "target": "TakeOne", "arguments": []}
            frame = json.dumps({**invocation, "streamIds": [f"s{round_}"]}) + RS
            frame += (json.dumps({"type": 2, "invocationId": f"s{round_}", "item": item}) + RS) * 2
            frame += json.dumps({"type": 3, "invocationId": f"s{round_}"}) + RS
            await ws.send(frame)  # invocation, items and completion arrive before the method runs
            assert await ws.receive_json() == {"type": 3, "invocationId": f"i{round_}", "result": item}
