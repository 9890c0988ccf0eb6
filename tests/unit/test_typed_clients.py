"""Typed hubs: a ``typing.Protocol`` of client methods gives every target proxy those methods, spelt on the wire
by the hub's naming policy; a method that returns a value is a client result on one connection."""

from __future__ import annotations

from typing import Protocol

import pytest

from realtime import Client, Hub, HubCommunicator, get_hub_context
from realtime.protocol.messages import CompletionMessage


class ChatClient(Client, Protocol):
    async def receive_message(self, user: str, text: str) -> None: ...

    async def get_number(self) -> int: ...


class TypedChatHub(Hub[ChatClient]):
    naming = "pascal"

    async def say(self, text: str) -> None:
        await self.clients.caller.receive_message("me", text)
        await self.clients.all.receive_message("all", text)

    async def ask(self) -> int:
        return await self.clients.caller.get_number() + 1

    async def shout(self, text: str) -> None:
        await self.clients.caller.asend("Shout", text)  # the untyped call stays, through Client

    async def typo(self) -> None:
        await self.clients.caller.receive_mesage("x")  # type: ignore[attr-defined]


class SubHub(TypedChatHub):
    pass


def test_the_protocol_is_found_and_inherited():
    assert TypedChatHub.client_protocol is ChatClient and SubHub.client_protocol is ChatClient
    assert TypedChatHub.client_method("receive_message") == ("ReceiveMessage", False)
    assert TypedChatHub.client_method("get_number") == ("GetNumber", True)


async def test_typed_calls_send_what_the_naming_policy_spells():
    async with HubCommunicator(TypedChatHub) as client:
        await client.invoke("Say", "hi")
        received = [await client.receive_invocation("ReceiveMessage") for _ in range(2)]
        assert [message.arguments for message in received] == [["me", "hi"], ["all", "hi"]]
        await client.invoke("Shout", "HI")
        assert (await client.receive_invocation("Shout")).arguments == ["HI"]


async def test_a_method_that_returns_a_value_is_a_client_result():
    async with HubCommunicator(TypedChatHub) as client:
        client.on("GetNumber", lambda: 41)
        assert await client.invoke("Ask") == 42


async def test_a_name_outside_the_protocol_fails_the_call_with_what_to_do(caplog):
    async with HubCommunicator(TypedChatHub) as client:
        completion = await client.invoke_completion("Typo")
    assert isinstance(completion, CompletionMessage) and completion.error
    assert "'receive_mesage' is not a method of ChatClient" in caplog.text


def test_untyped_hubs_have_no_client_methods():
    class Untyped(Hub):
        pass

    proxy = get_hub_context(Untyped).clients.all
    with pytest.raises(AttributeError, match="declares no client protocol"):
        proxy.receive_message  # noqa: B018
    assert not hasattr(proxy, "__deepcopy__")  # dunder lookups stay ordinary AttributeErrors
