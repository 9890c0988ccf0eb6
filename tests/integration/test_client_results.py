"""Client results: the server invokes one client and awaits its answer (protocol.md §8)."""

from __future__ import annotations

import asyncio

import pytest

from realtime.context import get_hub_context
from realtime.exceptions import ClientResultError
from realtime.hubs import Hub
from realtime.testing import HubCommunicator

from .rawsocket import RawSocket


class AskHub(Hub):
    async def Ask(self, target: str):  # noqa: N802
        return await self.clients.caller.invoke(target, 1, 2)

    async def AskCatching(self, target: str):  # noqa: N802
        try:
            return await self.clients.caller.invoke(target)
        except ClientResultError as exc:
            return f"ClientResultError: {exc}"

    async def AskWithTimeout(self, timeout: float):  # noqa: N802
        try:
            return await self.clients.caller.invoke("Slow", timeout=timeout)
        except TimeoutError:
            return "timed out"

    async def AskOther(self, connection_id: str):  # noqa: N802
        return await self.clients.client(connection_id).invoke("Add", 20, 22)

    async def Quick(self):  # noqa: N802
        return "quick"

    async def GetId(self):  # noqa: N802
        return self.context.connection_id


async def test_hub_method_gets_the_callers_result():
    async with HubCommunicator(AskHub) as client:
        client.on("Sum", lambda a, b: a + b)
        assert await client.invoke("Ask", "Sum") == 3


async def test_async_client_handler_and_case_insensitive_target():
    async def handler(a, b):
        await asyncio.sleep(0)
        return [a, b]

    async with HubCommunicator(AskHub) as client:
        client.on("pAiR", handler)
        assert await client.invoke("Ask", "Pair") == [1, 2]


async def test_client_error_raises_client_result_error_with_the_text():
    def fail():
        raise RuntimeError("from callback")

    async with HubCommunicator(AskHub) as client:
        client.on("Fail", fail)
        assert await client.invoke("AskCatching", "Fail") == "ClientResultError: Error: from callback"


async def test_client_error_escaping_reaches_the_caller_as_hub_exception():
    async with HubCommunicator(AskHub) as client:
        client.on("Fail", lambda *args: 1 / 0)
        completion = await client.invoke_completion("Ask", "Fail")
    assert completion.error == (
        "An unexpected error occurred invoking 'Ask' on the server. HubException: Error: division by zero"
    )


async def test_no_handler_means_no_result():
    async with HubCommunicator(AskHub) as client:
        assert await client.invoke("AskCatching", "Missing") == "ClientResultError: Client didn't provide a result."


async def test_timeout_raises_timeout_error():
    async def slow():
        await asyncio.sleep(0.4)
        return "too late"

    async with HubCommunicator(AskHub) as client:
        client.on("Slow", slow)
        assert await client.invoke("AskWithTimeout", 0.1) == "timed out"
        # the late answer is ignored and the connection keeps working
        assert await client.invoke("Quick") == "quick"


async def test_client_result_timeout_setting(settings):
    settings.REALTIME = {"CLIENT_RESULT_TIMEOUT": 0.1}

    async def slow(*args):
        await asyncio.sleep(0.4)

    async with HubCommunicator(AskHub) as client:
        client.on("Slow", slow)
        completion = await client.invoke_completion("Ask", "Slow")
    assert completion.error == "An unexpected error occurred invoking 'Ask' on the server."


async def test_waiting_for_a_client_result_releases_the_slot():
    async with RawSocket(AskHub) as ws:
        await ws.handshake()
        await ws.send_json({"type": 1, "invocationId": "a", "target": "AskCatching", "arguments": ["Later"]})
        request = await ws.receive_json()
        assert request["type"] == 1 and request["target"] == "Later" and request["arguments"] == []
        # the single slot is free while AskCatching waits: another call completes first
        await ws.send_json({"type": 1, "invocationId": "q", "target": "Quick", "arguments": []})
        assert await ws.receive_json() == {"type": 3, "invocationId": "q", "result": "quick"}
        await ws.send_json({"type": 3, "invocationId": request["invocationId"], "result": "answered"})
        assert await ws.receive_json() == {"type": 3, "invocationId": "a", "result": "answered"}


async def test_hub_invokes_another_connection():
    async with HubCommunicator(AskHub) as asker, HubCommunicator(AskHub) as other:
        other.on("Add", lambda a, b: a + b)
        other_id = await other.invoke("GetId")
        task = asyncio.ensure_future(asker.invoke("AskOther", other_id))
        await other.receive_nothing(0.2)  # reading answers the client result
        assert await task == 42


async def test_invoke_from_outside_the_hub():
    async with HubCommunicator(AskHub) as client:
        client.on("Result", lambda: 7)
        connection_id = await client.invoke("GetId")
        proxy = get_hub_context(AskHub).clients.client(connection_id)
        task = asyncio.ensure_future(proxy.invoke("Result", timeout=2))
        await client.receive_nothing(0.2)
        assert await task == 7


async def test_invoke_from_outside_the_hub_error_and_timeout():
    async with HubCommunicator(AskHub) as client:
        connection_id = await client.invoke("GetId")
        proxy = get_hub_context(AskHub).clients.client(connection_id)
        task = asyncio.ensure_future(proxy.invoke("Missing", timeout=2))
        await client.receive_nothing(0.1)
        with pytest.raises(ClientResultError, match="^Client didn't provide a result.$"):
            await task
        with pytest.raises(TimeoutError):
            await proxy.invoke("Unread", timeout=0.1)  # nobody reads the socket, so nobody answers


async def test_disconnect_while_waiting_raises():
    client = HubCommunicator(AskHub)
    await client.connect()
    connection_id = await client.invoke("GetId")
    task = asyncio.ensure_future(get_hub_context(AskHub).clients.client(connection_id).invoke("Never", timeout=5))
    await asyncio.sleep(0.05)
    await client.disconnect()
    with pytest.raises(ClientResultError):
        await asyncio.wait_for(task, 1)


async def test_invoke_unknown_connection_times_out():
    proxy = get_hub_context(AskHub).clients.client("no-such-connection")
    with pytest.raises(TimeoutError):
        await proxy.invoke("Result", timeout=0.1)


async def answer_while(client: HubCommunicator, task: asyncio.Future) -> None:
    """Keep reading (and so answering client results) until ``task`` is done."""
    while not task.done():
        await client.receive_nothing(0.02)


async def test_invoke_sync_from_a_worker_thread():
    """From a thread there is no local connection: the request crosses the layer to the owner and back."""
    async with HubCommunicator(AskHub) as client:
        client.on("Result", lambda: {"n": 7})
        proxy = get_hub_context(AskHub).clients.client(await client.invoke("GetId"))
        task = asyncio.ensure_future(asyncio.to_thread(proxy.invoke_sync, "Result", timeout=2))
        await answer_while(client, task)
        assert await task == {"n": 7}
        failing = asyncio.ensure_future(asyncio.to_thread(proxy.invoke_sync, "Missing", timeout=2))
        await answer_while(client, failing)
        with pytest.raises(ClientResultError, match="^Client didn't provide a result.$"):
            await failing


async def test_disconnect_while_a_method_waits_for_a_client_result_and_another_holds_the_slot():
    class Waiting(AskHub):
        async def Block(self):  # noqa: N802
            await asyncio.Event().wait()

    async with RawSocket(Waiting) as ws:
        await ws.handshake()
        await ws.send_json({"type": 1, "invocationId": "a", "target": "AskCatching", "arguments": ["Never"]})
        await ws.receive_json()  # the client-result request, never answered
        await ws.send_json({"type": 1, "invocationId": "b", "target": "Block", "arguments": []})
        await asyncio.sleep(0.05)
        await asyncio.wait_for(ws.ws.disconnect(1000, timeout=2), 3)  # ends promptly, no task left hanging
        assert ws.ws.future.done()


class BoundedHub(Hub):
    max_pending_client_results = 2

    async def AskMany(self, count: int) -> list[str]:  # noqa: N802
        async def ask() -> str:
            try:
                return str(await self.clients.caller.invoke("Slow", timeout=2))
            except Exception as exc:  # noqa: BLE001
                return type(exc).__name__

        return list(await asyncio.gather(*[ask() for _ in range(count)]))


async def test_pending_client_results_are_bounded():
    async with HubCommunicator(BoundedHub) as client:
        client.on("Slow", lambda: 1)
        assert sorted(await client.invoke("AskMany", 3)) == ["1", "1", "ClientResultError"]
