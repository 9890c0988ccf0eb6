from realtime.testing import HubCommunicator
from tests.conformance.hubs import ChatHub, TestHub


async def test_echo_json():
    async with HubCommunicator(TestHub) as client:
        assert await client.invoke("Echo", "hi") == "hi"


async def test_echo_msgpack():
    async with HubCommunicator(TestHub, protocol="messagepack") as client:
        assert await client.invoke("Echo", "hi") == "hi"
        assert await client.stream("Stream") == ["a", "b", "c"]


async def test_group():
    async with HubCommunicator(ChatHub) as a, HubCommunicator(ChatHub) as b:
        assert await a.invoke("JoinGroup", "g") is None
        await b.invoke("SendToGroup", "g", "hello")
        msg = await a.receive_invocation("ReceiveMessage")
        assert msg.arguments[1] == "hello"
