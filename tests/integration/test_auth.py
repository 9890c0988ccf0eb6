"""Authentication, permissions, group authorization, hub filters, token expiry, origins and log masking."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from channels.routing import URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import override_settings

from realtime.auth import JWTAuthMiddleware, JWTAuthMiddlewareStack
from realtime.exceptions import HubError
from realtime.filters import HubFilter
from realtime.hubs import Hub, hub_method
from realtime.logging import MaskTokensFilter, mask
from realtime.permissions import IsAdminUser, IsAuthenticated
from realtime.routing import hub_routes
from realtime.testing import HubCommunicator

RS = "\x1e"
ALICE = SimpleNamespace(pk=1, is_authenticated=True, is_staff=False, username="alice")
ADMIN = SimpleNamespace(pk=2, is_authenticated=True, is_staff=True, username="admin")


class GuardedHub(Hub):
    permission_classes = [IsAuthenticated]

    async def Echo(self, value):  # noqa: N802
        return value

    @hub_method(permission_classes=[IsAdminUser])
    async def Purge(self) -> None:  # noqa: N802
        pass

    async def Join(self, group: str):  # noqa: N802
        await self.groups.add(self.context.connection_id, group)

    async def can_join_group(self, connection_id: str, group: str) -> bool:
        return not group.startswith("staff-") or self.context.user.is_staff

    async def Claim(self, name: str):  # noqa: N802
        return self.context.claims.get(name)


def jwt_for(user, seconds: int = 300) -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token)


# -- permissions -----------------------------------------------------------------------------------------


async def test_method_permissions_refuse_with_the_signalr_text():
    async with HubCommunicator(GuardedHub, user=ALICE) as client:
        assert await client.invoke("Echo", 1) == 1
        with pytest.raises(HubError, match="^Failed to invoke 'Purge' because user is unauthorized$"):
            await client.invoke("Purge")
    async with HubCommunicator(GuardedHub, user=ADMIN) as client:
        assert await client.invoke("Purge") is None


async def test_can_join_group_guards_groups():
    async with HubCommunicator(GuardedHub, user=ALICE) as client:
        assert await client.invoke("Join", "public") is None
        with pytest.raises(HubError, match="^Failed to invoke 'Join' because user is unauthorized$"):
            await client.invoke("Join", "staff-room")
    async with HubCommunicator(GuardedHub, user=ADMIN) as client:
        assert await client.invoke("Join", "staff-room") is None


@pytest.fixture
def guarded_app():
    http, websocket = hub_routes({"guarded": GuardedHub}, middleware=JWTAuthMiddlewareStack)
    return URLRouter(http), URLRouter(websocket)


@pytest.mark.django_db(transaction=True)
async def test_jwt_from_header_or_query_on_negotiate(guarded_app):
    from asgiref.sync import sync_to_async

    http, _ = guarded_app
    user = await sync_to_async(get_user_model().objects.create_user)("bob")
    token = await sync_to_async(jwt_for)(user)
    anonymous = HttpCommunicator(http, "POST", "/guarded/negotiate")
    assert (await anonymous.get_response())["status"] == 401
    header = HttpCommunicator(
        http, "POST", "/guarded/negotiate", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    assert (await header.get_response())["status"] == 200
    query = HttpCommunicator(http, "POST", f"/guarded/negotiate?access_token={token}")
    assert (await query.get_response())["status"] == 200
    forged = HttpCommunicator(http, "POST", f"/guarded/negotiate?access_token={token[:-2]}xx")
    response = await forged.get_response()
    assert (response["status"], response["body"]) == (401, b"")


@pytest.mark.django_db(transaction=True)
async def test_websocket_upgrade_needs_the_token_and_sees_its_claims(guarded_app):
    from asgiref.sync import sync_to_async

    _, websocket = guarded_app
    user = await sync_to_async(get_user_model().objects.create_user)("carol")
    token = await sync_to_async(jwt_for)(user)
    refused = WebsocketCommunicator(websocket, "/guarded")
    assert (await refused.connect())[0] is False
    socket = WebsocketCommunicator(websocket, f"/guarded?access_token={token}")
    assert (await socket.connect())[0] is True
    await socket.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await socket.receive_from() == "{}" + RS
    await socket.send_to(text_data='{"type":1,"invocationId":"1","target":"Claim","arguments":["token_type"]}' + RS)
    assert await socket.receive_from() == '{"type":3,"invocationId":"1","result":"access"}' + RS
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_connection_closes_when_its_token_expires():
    from asgiref.sync import sync_to_async

    _, websocket = hub_routes({"guarded": GuardedHub}, middleware=JWTAuthMiddleware)
    user = await sync_to_async(get_user_model().objects.create_user)("dave")
    token = await sync_to_async(jwt_for)(user, 2)
    socket = WebsocketCommunicator(URLRouter(websocket), f"/guarded?access_token={token}")
    assert (await socket.connect())[0] is True
    await socket.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await socket.receive_from() == "{}" + RS
    started = time.monotonic()
    close = await socket.receive_from(timeout=6)
    assert close == (
        '{"type":7,"error":"Connection closed with an error. Authentication token expired.","allowReconnect":true}' + RS
    )
    assert 0.5 < time.monotonic() - started < 6
    assert (await socket.receive_output(2))["type"] == "websocket.close"


# -- hub filters ----------------------------------------------------------------------------------------

calls: list[str] = []


class Outer(HubFilter):
    async def invoke(self, context, call_next):
        calls.append(f"outer>{context.method}")
        result = await call_next(context)
        calls.append("outer<")
        return result

    async def on_connected(self, hub, call_next):
        calls.append("outer connected")
        await call_next(hub)

    async def on_disconnected(self, hub, exception, call_next):
        calls.append(f"outer disconnected {exception}")
        await call_next(hub, exception)


class Doubler(HubFilter):
    async def invoke(self, context, call_next):
        calls.append("doubler")
        context.arguments = [argument * 2 for argument in context.arguments]
        return await call_next(context)


class Deny(HubFilter):
    async def invoke(self, context, call_next):
        from django.core.exceptions import PermissionDenied

        if context.method == "Secret":
            raise PermissionDenied
        return await call_next(context)


class FilteredHub(Hub):
    filters = [Doubler, Deny]

    async def Echo(self, value):  # noqa: N802
        return value

    async def Secret(self):  # noqa: N802
        return "no"

    async def Count(self, up_to: int):  # noqa: N802
        for number in range(up_to):
            yield number


@override_settings(REALTIME={"HUB_FILTERS": ["tests.integration.test_auth.Outer"]})
async def test_filters_run_global_then_per_hub_around_calls_and_hooks():
    calls.clear()
    async with HubCommunicator(FilteredHub) as client:
        assert await client.invoke("Echo", 21) == 42
        assert await client.stream("Count", 2) == [0, 1, 2, 3]
        with pytest.raises(HubError, match="^Failed to invoke 'Secret' because user is unauthorized$"):
            await client.invoke("Secret")
    assert calls[:4] == ["outer connected", "outer>Echo", "doubler", "outer<"]
    assert calls[4:6] == ["outer>Count", "doubler"]
    assert calls[-1] == "outer disconnected None"


# -- origins and logs -----------------------------------------------------------------------------------


class OpenHub(Hub):
    async def Echo(self, value):  # noqa: N802
        return value


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(None, True), (b"https://app.example.com", True), (b"https://evil.example.org", False), (b"null", False)],
)
async def test_origin_allow_list_on_negotiate_and_websockets(origin, allowed):
    http, websocket = hub_routes({"open": OpenHub})
    headers = [(b"origin", origin)] if origin else []
    with override_settings(ALLOWED_HOSTS=[".example.com"]):
        response = await HttpCommunicator(URLRouter(http), "POST", "/open/negotiate", headers=headers).get_response()
        connected, _ = await WebsocketCommunicator(URLRouter(websocket), "/open", headers=headers).connect()
    assert (response["status"] == 200) is allowed
    assert connected is allowed


def test_tokens_are_masked_in_log_records(caplog):
    logger = logging.getLogger("realtime.test.masking")
    logger.addFilter(MaskTokensFilter())
    with caplog.at_level(logging.INFO, logger="realtime.test.masking"):
        logger.info("GET %s", "/hub?id=SECRETTOKEN&access_token=eyJabc.def.ghi&x=1")
    assert "SECRETTOKEN" not in caplog.text and "eyJabc" not in caplog.text
    assert "/hub?id=***&access_token=***&x=1" in caplog.text
    assert mask('"GET /chathub?access_token=a.b.c HTTP/1.1"') == '"GET /chathub?access_token=*** HTTP/1.1"'


def test_uvicorn_access_log_keeps_its_arguments():
    """uvicorn's access formatter unpacks the record's five arguments: masking must leave them in place."""
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/hub/negotiate?access_token=eyJabc.def.ghi", "1.1", 200),
        None,
    )
    assert MaskTokensFilter().filter(record)
    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False).format(record)
    assert line == "127.0.0.1:5000 POST /hub/negotiate?access_token=*** HTTP/1.1 200 OK"


@pytest.mark.django_db(transaction=True)
async def test_session_cookie_authenticates_negotiate_and_websocket(guarded_app):
    """Session auth (a logged-in browser, same origin): the session cookie alone opens the hub."""
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.backends.db import SessionStore

    def login() -> str:
        user = get_user_model().objects.create_user("erin")
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.save()
        return session.session_key

    http, websocket = guarded_app
    cookie = [(b"cookie", f"sessionid={await sync_to_async(login)()}".encode())]
    response = await HttpCommunicator(http, "POST", "/guarded/negotiate", headers=cookie).get_response()
    assert response["status"] == 200
    socket = WebsocketCommunicator(websocket, "/guarded", headers=cookie)
    assert (await socket.connect())[0] is True
    await socket.disconnect()
    anonymous = await HttpCommunicator(http, "POST", "/guarded/negotiate").get_response()
    assert anonymous["status"] == 401
