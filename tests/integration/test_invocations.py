"""Completions and error texts of invocations and streams (protocol.md §6 and §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtime.exceptions import HubError
from realtime.hubs import Hub
from realtime.protocol.messages import InvocationMessage
from realtime.testing import HubCommunicator

from .rawsocket import RS, RawSocket

calls: list[object] = []


class CallHub(Hub):
    async def Void(self) -> None:  # noqa: N802
        return None

    async def Unannotated(self):  # noqa: N802
        return None

    async def MaybeInt(self) -> int | None:  # noqa: N802
        return None

    async def Add(self, a, b):  # noqa: N802
        return a + b

    async def Record(self, value) -> None:  # noqa: N802
        calls.append(value)

    async def Throw(self, message):  # noqa: N802
        raise HubError(message)

    async def Fail(self, message):  # noqa: N802
        raise ValueError(message)

    async def Gen(self, n: int) -> AsyncIterator[int]:  # noqa: N802
        for i in range(n):
            yield i

    async def FailFirst(self, message: str) -> AsyncIterator[int]:  # noqa: N802
        raise ValueError(message)
        yield 0  # pragma: no cover

    async def ThrowFirst(self, message: str) -> AsyncIterator[int]:  # noqa: N802
        raise HubError(message)
        yield 0  # pragma: no cover

    async def FailLater(self, message: str) -> AsyncIterator[int]:  # noqa: N802
        yield 1
        yield 2
        raise ValueError(message)

    async def ThrowLater(self, message: str) -> AsyncIterator[int]:  # noqa: N802
        yield 1
        raise HubError(message)

    async def Upload(self, stream: AsyncIterator[int]) -> list[int]:  # noqa: N802
        return [item async for item in stream]

    async def Unserializable(self):  # noqa: N802
        return object()


class DetailedCallHub(CallHub):
    detailed_errors = True


async def stream_until_error(client: HubCommunicator, target: str, *args) -> tuple[list, str]:
    items = []
    with pytest.raises(HubError) as caught:
        async for item in client.stream_iter(target, *args):
            items.append(item)
    return items, str(caught.value)


# -- completions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_none_annotated_method_completes_void(protocol):
    async with HubCommunicator(CallHub, protocol=protocol) as client:
        completion = await client.invoke_completion("Void")
    assert completion.error is None
    assert completion.has_result is False


@pytest.mark.parametrize("target", ["Unannotated", "MaybeInt"])
@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_other_methods_returning_none_send_null_result(protocol, target):
    async with HubCommunicator(CallHub, protocol=protocol) as client:
        completion = await client.invoke_completion(target)
    assert completion.error is None
    assert completion.has_result is True
    assert completion.result is None


async def test_raw_json_frames_of_void_null_and_value():
    async with RawSocket(CallHub) as ws:
        await ws.handshake()
        await ws.send('{"type":1,"invocationId":"1","target":"Void","arguments":[]}' + RS)
        assert await ws.receive_text() == '{"type":3,"invocationId":"1"}' + RS
        await ws.send('{"type":1,"invocationId":"2","target":"Unannotated","arguments":[]}' + RS)
        assert await ws.receive_text() == '{"type":3,"invocationId":"2","result":null}' + RS
        await ws.send('{"type":1,"invocationId":"3","target":"Add","arguments":[[1],[2]]}' + RS)
        assert await ws.receive_text() == '{"type":3,"invocationId":"3","result":[1,2]}' + RS


async def test_server_stream_items_then_void_completion_raw():
    async with RawSocket(CallHub) as ws:
        await ws.handshake()
        await ws.send('{"type":4,"invocationId":"7","target":"Gen","arguments":[2]}' + RS)
        assert await ws.receive_text() == '{"type":2,"invocationId":"7","item":0}' + RS
        assert await ws.receive_text() == '{"type":2,"invocationId":"7","item":1}' + RS
        assert await ws.receive_text() == '{"type":3,"invocationId":"7"}' + RS


async def test_non_blocking_send_gets_no_reply_even_on_error():
    calls.clear()
    async with HubCommunicator(CallHub) as client:
        await client.send("Record", "ran")
        await client.send("Throw", "boom")
        await client.send("Fail", "boom")
        await client.send("Missing")
        await client.send("Gen", 1)  # streaming method called with an Invocation
        await client.send("Add", 1)  # wrong argument count
        await client.send_message(InvocationMessage(target="Add", arguments=[1, 2], stream_ids=["9"]))
        await client.send("Unserializable")
        # A later blocking call completes, and nothing else was ever sent back.
        assert await client.invoke("Add", 1, 2) == 3
        assert await client.receive_nothing(0.2)
    assert calls == ["ran"]


# -- error texts ------------------------------------------------------------------------------------


async def test_unknown_method():
    async with HubCommunicator(CallHub) as client:
        completion = await client.invoke_completion("Nope")
    assert completion.error == "Unknown hub method 'Nope'"


@pytest.mark.parametrize("hub", [CallHub, DetailedCallHub])
async def test_hub_error_text_is_always_sent(hub):
    async with HubCommunicator(hub) as client:
        completion = await client.invoke_completion("Throw", "no luck")
    assert completion.error == "An unexpected error occurred invoking 'Throw' on the server. HubException: no luck"


async def test_other_exceptions_send_only_the_prefix():
    async with HubCommunicator(CallHub) as client:
        completion = await client.invoke_completion("Fail", "secret detail")
    assert completion.error == "An unexpected error occurred invoking 'Fail' on the server."


async def test_other_exceptions_with_detailed_errors():
    async with HubCommunicator(DetailedCallHub) as client:
        completion = await client.invoke_completion("Fail", "detail")
    assert completion.error == "An unexpected error occurred invoking 'Fail' on the server. ValueError: detail"


async def test_detailed_errors_from_settings(settings):
    settings.REALTIME = {"DETAILED_ERRORS": True}
    async with HubCommunicator(CallHub) as client:
        completion = await client.invoke_completion("Fail", "detail")
    assert completion.error == "An unexpected error occurred invoking 'Fail' on the server. ValueError: detail"


async def test_streaming_method_with_invocation():
    async with HubCommunicator(CallHub) as client:
        completion = await client.invoke_completion("Gen", 1)
    assert (
        completion.error == "The client attempted to invoke the streaming 'Gen' method with a non-streaming invocation."
    )


async def test_non_streaming_method_with_stream_invocation():
    async with HubCommunicator(CallHub) as client:
        items, error = await stream_until_error(client, "Add", 1, 2)
    assert items == []
    assert error == "The client attempted to invoke the non-streaming 'Add' method with a streaming invocation."


@pytest.mark.parametrize(
    ("hub", "expected"),
    [
        (CallHub, "Failed to invoke 'Add' due to an error on the server."),
        (
            DetailedCallHub,
            "Failed to invoke 'Add' due to an error on the server. "
            "InvalidDataException: Invocation provides 1 argument(s) but target expects 2.",
        ),
    ],
)
async def test_argument_count_mismatch(hub, expected):
    async with HubCommunicator(hub) as client:
        completion = await client.invoke_completion("Add", 1)
        assert completion.error == expected
        too_many = await client.invoke_completion("Add", 1, 2, 3)
        assert too_many.error.startswith("Failed to invoke 'Add' due to an error on the server.")


@pytest.mark.parametrize(
    ("hub", "target", "expected"),
    [
        (CallHub, "FailFirst", "An unexpected error occurred invoking 'FailFirst' on the server."),
        (
            DetailedCallHub,
            "FailFirst",
            "An unexpected error occurred invoking 'FailFirst' on the server. ValueError: x",
        ),
        (CallHub, "ThrowFirst", "An unexpected error occurred invoking 'ThrowFirst' on the server. HubException: x"),
    ],
)
async def test_stream_error_before_first_item(hub, target, expected):
    async with HubCommunicator(hub) as client:
        items, error = await stream_until_error(client, target, "x")
    assert items == []
    assert error == expected


@pytest.mark.parametrize(
    ("hub", "target", "items", "expected"),
    [
        (CallHub, "FailLater", [1, 2], "An error occurred on the server while streaming results."),
        (
            DetailedCallHub,
            "FailLater",
            [1, 2],
            "An error occurred on the server while streaming results. ValueError: x",
        ),
        (CallHub, "ThrowLater", [1], "An error occurred on the server while streaming results. HubException: x"),
    ],
)
async def test_stream_error_after_items(hub, target, items, expected):
    async with HubCommunicator(hub) as client:
        got, error = await stream_until_error(client, target, "x")
    assert got == items
    assert error == expected


async def test_stream_id_count_mismatch():
    async with HubCommunicator(CallHub) as client:
        await client.send_message(
            InvocationMessage(invocation_id="a", target="Add", arguments=[1, 2], stream_ids=["s"])
        )
        extra = await client.receive_message()
        await client.send_message(InvocationMessage(invocation_id="b", target="Upload", arguments=[]))
        missing = await client.receive_message()
    assert extra.error == (
        "An unexpected error occurred invoking 'Add' on the server. HubException: Client sent 1 stream(s), "
        "Hub method expects 0."
    )
    assert missing.error == (
        "An unexpected error occurred invoking 'Upload' on the server. HubException: Client sent 0 stream(s), "
        "Hub method expects 1."
    )


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_result_that_cannot_be_serialized(protocol):
    async with HubCommunicator(CallHub, protocol=protocol) as client:
        completion = await client.invoke_completion("Unserializable")
        assert completion.error == "An unexpected error occurred invoking 'Unserializable' on the server."
        assert await client.invoke("Add", 1, 2) == 3  # the connection lives on


async def test_result_that_cannot_be_serialized_detailed():
    async with HubCommunicator(DetailedCallHub) as client:
        completion = await client.invoke_completion("Unserializable")
    assert completion.error == (
        "An unexpected error occurred invoking 'Unserializable' on the server. "
        "TypeError: Object of type object cannot be sent by a hub protocol."
    )
