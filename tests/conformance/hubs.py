"""The hubs of the conformance server, as fixed by shared/conformance.md."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

from realtime import Client
from realtime.capture.replay import replay_to_caller
from realtime.context import get_hub_context
from realtime.exceptions import HubError
from realtime.hubs import Hub
from realtime.permissions import IsAuthenticated


def username_id(user: Any) -> str | None:
    """User identifiers are usernames here (``testuser``), as in the ASP.NET test server."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.get_username()


class InvalidOperationException(Exception):  # noqa: N818  (the name clients see, as in .NET)
    """Raised by TestHub so clients see ``InvalidOperationException`` in detailed errors."""


COMPLEX_OBJECT = {
    "String": "hello world",
    "IntArray": [1, 2, 3],
    "ByteArray": bytes([1, 2, 3]),
    "Guid": uuid.UUID("00010203-0405-0607-0706-050403020100"),
    "DateTime": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
}


class TestHub(Hub):
    """The ASP.NET functional-test hub, re-created."""

    __test__ = False  # not a pytest test class

    detailed_errors = True
    track_presence = True  # the push API (/api/hubs/testhub/...) reads which connections exist from presence
    presence_event = ""  # and its clients get no PresenceChanged diffs, as before

    async def Echo(self, message: Any) -> Any:  # noqa: N802
        return message

    async def GetCallerConnectionId(self) -> str:  # noqa: N802
        return self.context.connection_id

    async def GetNumRedirects(self) -> int:  # noqa: N802
        return int(self.context.request.query_value("numRedirects") or 0)

    async def ThrowException(self, message: str) -> None:  # noqa: N802
        raise InvalidOperationException(message)

    async def InvokeWithString(self, message: str) -> None:  # noqa: N802
        await self.clients.caller.asend("Message", message)

    async def SendCustomObject(self, obj: Any) -> None:  # noqa: N802
        await self.clients.caller.asend("CustomObject", obj)

    async def Stream(self) -> AsyncIterator[str]:  # noqa: N802
        for item in ("a", "b", "c"):
            yield item

    async def InfiniteStream(self) -> AsyncIterator[Any]:  # noqa: N802
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await get_hub_context(TestHub).clients.client(self.context.connection_id).asend("StreamCanceled")
            raise
        yield None  # pragma: no cover  (never reached: the stream ends by cancellation)

    async def StreamingConcat(self, stream: AsyncIterator[str]) -> str:  # noqa: N802
        return "".join([item async for item in stream])

    async def EmptyStream(self) -> AsyncIterator[Any]:  # noqa: N802
        return
        yield  # pragma: no cover

    async def StreamThrowException(self, message: str) -> AsyncIterator[Any]:  # noqa: N802
        raise InvalidOperationException(message)
        yield  # pragma: no cover

    async def GetActiveTransportName(self) -> str:  # noqa: N802
        return self.context.transport

    async def EchoComplexObject(self, obj: Any) -> Any:  # noqa: N802
        return obj

    async def SendComplexObject(self) -> dict[str, Any]:  # noqa: N802
        return COMPLEX_OBJECT

    async def GetContentTypeHeader(self) -> str | None:  # noqa: N802
        return self.context.request.header("content-type")

    async def GetHeader(self, name: str) -> str | None:  # noqa: N802
        return self.context.request.header(name)

    async def GetCookie(self, name: str) -> str | None:  # noqa: N802
        return self.context.request.cookies.get(name)


class TestHubNoWebSockets(TestHub):
    """TestHub over Server-Sent Events and long polling only (``/testhub-nowebsockets``)."""

    transports = ["ServerSentEvents", "LongPolling"]


class AuthorizedHub(Hub):
    """Every request needs a valid JWT (``/authorizedhub``)."""

    permission_classes = [IsAuthenticated]

    async def Echo(self, message: Any) -> Any:  # noqa: N802
        return message

    async def GetUserNameIdentifier(self) -> str | None:  # noqa: N802
        return self.context.user_identifier

    async def GetUserClaim(self, claim: str) -> Any:  # noqa: N802
        return self.context.claims.get(claim)


class ChatHub(Hub):
    """Everyday features: broadcast, groups, users, presence, streams."""

    track_presence = True

    async def SendMessage(self, user: str, message: str) -> None:  # noqa: N802
        await self.clients.all.asend("ReceiveMessage", user, message)

    async def SendToOthers(self, message: str) -> None:  # noqa: N802
        await self.clients.others.asend("ReceiveMessage", self.context.connection_id, message)

    async def SendToUser(self, user_id: str, message: str) -> None:  # noqa: N802
        await self.clients.user(user_id).asend("ReceiveMessage", self.context.connection_id, message)

    async def JoinGroup(self, group: str):  # noqa: N802, ANN201  (returns null, not void)
        await self.groups.add(self.context.connection_id, group)

    async def LeaveGroup(self, group: str):  # noqa: N802, ANN201
        await self.groups.remove(self.context.connection_id, group)

    async def SendToGroup(self, group: str, message: str) -> None:  # noqa: N802
        await self.clients.group(group).asend("ReceiveMessage", self.context.connection_id, message)

    async def GetGroupMembers(self, group: str) -> list[str]:  # noqa: N802
        return await self.presence.connection_ids(group)

    async def Counter(self, count: int, delay_ms: int) -> AsyncIterator[int]:  # noqa: N802
        for index in range(count):
            yield index
            await asyncio.sleep(delay_ms / 1000)

    async def UploadStream(self, stream: AsyncIterator[Any]) -> int:  # noqa: N802
        return sum([1 async for _ in stream])

    async def ThrowException(self, message: str) -> None:  # noqa: N802
        raise HubError(message)

    async def DisconnectMe(self) -> None:  # noqa: N802
        self.context.abort()

    async def WhoAmI(self) -> str | None:  # noqa: N802
        return self.context.user_identifier

    async def ItemsSince(self, last_id: str) -> dict[str, Any]:  # noqa: N802
        """Change-capture replay: the ``ItemChanged`` calls missed after ``last_id`` (tests/capture)."""
        from tests.pushapp.models import Item

        return await replay_to_caller(self, Item, last_id)


class TypedClient(Client, Protocol):
    """The client methods of :class:`TypedHub` (conformance.md "Typed hub")."""

    async def greeted(self, user: str) -> None: ...


class TypedHub(Hub[TypedClient]):
    """The typed style: a client protocol, snake_case Python names, PascalCase wire names, checked arguments."""

    naming = "pascal"
    detailed_errors = False

    async def say_hello(self, name: str) -> str:
        return "hello " + name

    async def add_numbers(self, a: int, b: int) -> int:
        return a + b

    async def greet(self, user: str):  # noqa: ANN201  (returns null, not void)
        await self.clients.caller.greeted(user)
