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
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rest_framework import exceptions as drf_exceptions
from rest_framework import permissions as drf_permissions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from realtime import permissions as realtime_permissions
from realtime.auth import JWTAuthMiddleware, JWTAuthMiddlewareStack, JWTQueryAuthentication
from realtime.eventstream import TopicStreamView
from realtime.exceptions import HubError
from realtime.filters import HubFilter
from realtime.hubs import Hub, hub_method
from realtime.logging import MaskTokensFilter, mask
from realtime.permissions import BasePermission, ConnectionRequest, IsAdminUser, IsAuthenticated, refuses_anonymous
from realtime.request import RequestInfo
from realtime.routing import hub_routes
from realtime.testing import HubCommunicator
from tests.pushapp.models import Order

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


# -- DRF permission classes: as they are, composed, sync and async -------------------------------------------


class OnTeamBlue(BasePermission):
    """A sync DRF permission reading headers and the query."""

    def has_permission(self, request, view):
        return request.headers.get("X-Team") == "blue" or request.query_params.get("team") == "blue"


class EchoesAllowedValues(BasePermission):
    """An async permission reading the hub method and its arguments."""

    async def has_permission(self, request, view):
        return request.hub_method == "Echo" and request.arguments != ["forbidden"]


class RaisesDenied(BasePermission):
    def has_permission(self, request, view):
        raise drf_exceptions.PermissionDenied("no")


class ComposedHub(Hub):
    permission_classes = [drf_permissions.IsAuthenticated & (OnTeamBlue | drf_permissions.IsAdminUser)]

    @hub_method(permission_classes=[EchoesAllowedValues & ~drf_permissions.IsAdminUser])
    async def Echo(self, value):  # noqa: N802
        return value

    @hub_method(permission_classes=[IsAdminUser | EchoesAllowedValues])
    async def Purge(self) -> str:  # noqa: N802
        return "purged"

    @hub_method(permission_classes=[~RaisesDenied])  # a raised refusal refuses, even under ~ (as in DRF)
    async def Never(self) -> None:  # noqa: N802
        pass


def test_realtime_permission_classes_are_drfs():
    assert (IsAuthenticated, IsAdminUser) == (drf_permissions.IsAuthenticated, drf_permissions.IsAdminUser)
    assert issubclass(OnTeamBlue, realtime_permissions.BasePermission)
    assert refuses_anonymous(IsAuthenticated & OnTeamBlue) and refuses_anonymous(IsAdminUser | IsAuthenticated)
    assert not refuses_anonymous(IsAuthenticated | OnTeamBlue) and not refuses_anonymous(~IsAuthenticated)


async def test_drf_permissions_compose_with_and_or_not_on_hubs_and_methods():
    for user, headers, path in [(ALICE, [], "/hub"), (None, [(b"x-team", b"blue")], "/hub")]:
        with pytest.raises(ConnectionError, match="refused"):
            await HubCommunicator(ComposedHub, path, user=user, headers=headers).connect()
    async with HubCommunicator(ComposedHub, "/hub?team=blue", user=ALICE) as alice:
        assert await alice.invoke("Echo", 1) == 1
        for method, arguments in [("Echo", ["forbidden"]), ("Purge", []), ("Never", [])]:
            with pytest.raises(HubError, match=f"^Failed to invoke '{method}' because user is unauthorized$"):
                await alice.invoke(method, *arguments)
    async with HubCommunicator(ComposedHub, user=ADMIN, headers=[(b"x-team", b"red")]) as admin:
        assert await admin.invoke("Purge") == "purged"
        with pytest.raises(HubError, match="^Failed to invoke 'Echo' because user is unauthorized$"):
            await admin.invoke("Echo", 1)  # ~IsAdminUser


seen: list[tuple[object, object]] = []


class Records(BasePermission):
    """Records what it is given; allows access tokens only."""

    def has_permission(self, request, view):
        seen.append((request, view))
        return bool(request.auth) and request.auth["token_type"] == "access"


class RecordedHub(Hub):
    permission_classes = [Records]

    @hub_method(permission_classes=[Records])
    async def Who(self) -> str:  # noqa: N802
        return self.context.user.username


@pytest.mark.django_db(transaction=True)
async def test_drf_permissions_see_the_connection_request():
    from asgiref.sync import sync_to_async

    http, websocket = hub_routes({"recorded": RecordedHub}, middleware=JWTAuthMiddlewareStack)
    user = await sync_to_async(get_user_model().objects.create_user)("frank")
    token = await sync_to_async(jwt_for)(user)
    seen.clear()
    headers = [(b"x-team", b"blue"), (b"cookie", b"theme=dark")]
    negotiate = HttpCommunicator(URLRouter(http), "POST", f"/recorded/negotiate?access_token={token}", headers=headers)
    assert (await negotiate.get_response())["status"] == 200
    [(request, view)] = seen
    assert view is RecordedHub
    assert (request.method, request.hub_method, request.arguments) == ("GET", None, [])  # negotiate is a POST
    assert (request.user, request.user_id, request.auth["user_id"]) == (user, str(user.pk), str(user.pk))
    assert request.headers["X-TEAM"] == "blue" and request.COOKIES == {"theme": "dark"}
    assert request.query_params.getlist("access_token") == [token] and request.GET is request.query_params
    assert request.META["HTTP_X_TEAM"] == "blue" and request.META["REQUEST_METHOD"] == "GET"
    assert request.path == "/recorded/negotiate"
    socket = WebsocketCommunicator(URLRouter(websocket), f"/recorded?access_token={token}")
    assert (await socket.connect())[0] is True
    await socket.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await socket.receive_from() == "{}" + RS
    await socket.send_to(text_data='{"type":1,"invocationId":"1","target":"Who","arguments":[]}' + RS)
    assert await socket.receive_from() == '{"type":3,"invocationId":"1","result":"frank"}' + RS
    (request, view) = seen[-1]
    assert (request.method, request.hub_method, request.user_id, view) == ("GET", "Who", str(user.pk), RecordedHub)
    await socket.disconnect()
    served = RequestInfo.from_scope({"path": "/h", "client": ("192.0.2.7", 50000), "query_string": b"a=1&a=2"})
    assert ConnectionRequest(None, info=served).META["REMOTE_ADDR"] == "192.0.2.7"  # a server's scope has it
    assert ConnectionRequest(None, info=served).query_params.getlist("a") == ["1", "2"]


class CanViewOrders(drf_permissions.DjangoModelPermissions):
    """Connecting (GET) needs the view permission."""

    perms_map = {**drf_permissions.DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


class OrdersHub(Hub):
    queryset = Order.objects.all()
    permission_classes = [CanViewOrders]

    async def Count(self) -> int:  # noqa: N802
        return await Order.objects.acount()


@pytest.mark.django_db(transaction=True)
async def test_django_model_permissions_query_the_database_per_connection():
    """``user.has_perms`` queries the database: a sync permission runs in a worker thread."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import Permission

    def users() -> tuple[str, str]:
        reader, stranger = get_user_model().objects.create_user("reader"), get_user_model().objects.create_user("x")
        reader.user_permissions.add(Permission.objects.get(codename="view_order", content_type__app_label="pushapp"))
        return jwt_for(reader), jwt_for(stranger)

    reader, stranger = await sync_to_async(users)()
    http, _ = hub_routes({"orders": OrdersHub}, middleware=JWTAuthMiddlewareStack)
    statuses = []
    for query in ("", f"?access_token={stranger}", f"?access_token={reader}"):
        response = await HttpCommunicator(URLRouter(http), "POST", f"/orders/negotiate{query}").get_response()
        statuses.append(response["status"])
    assert statuses == [401, 403, 200]


def test_permissions_of_the_former_signature_say_how_to_rewrite_them():
    class Former(realtime_permissions.BasePermission):
        def has_permission(self, access, hub):
            return access.method != "Purge"

    former = r"OldHub.permission_classes: .*Former.has_permission\(access, hub\) is the signature of realtime's former"
    with pytest.raises(ImproperlyConfigured, match=former):

        class OldHub(Hub):
            permission_classes = [IsAuthenticated & Former]

    rewrite = r"OldMethodHub.Purge: .*request.hub_method \(None while connecting\) .* replace access.method"
    with pytest.raises(ImproperlyConfigured, match=rewrite):

        class OldMethodHub(Hub):
            @hub_method(permission_classes=[Former])
            async def Purge(self) -> None:  # noqa: N802
                pass

    with pytest.raises(ImproperlyConfigured, match=r"TopicStreamView.permission_classes: .*Former.has_permission"):
        TopicStreamView.as_view(permission_classes=[~Former])

    with pytest.raises(ImportError, match="AccessRequest is gone: .*ConnectionRequest"):
        from realtime.permissions import AccessRequest  # noqa: F401


# -- JWTQueryAuthentication in any DRF view -------------------------------------------------------------------


class WhoView(APIView):
    authentication_classes = [JWTQueryAuthentication]
    permission_classes = [drf_permissions.IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def get(self, request):
        return Response({"user": request.user.username, "type": request.auth["token_type"]})


@pytest.mark.django_db
def test_jwt_query_authentication_reads_the_header_then_the_query(settings):
    alice, bob = (get_user_model().objects.create_user(name) for name in ("alice", "bob"))
    token, other, expired = jwt_for(alice), jwt_for(bob), jwt_for(alice, -10)
    view = WhoView.as_view()

    def call(query: str = "", **headers: str) -> tuple[int, dict, str | None]:
        response = view(APIRequestFactory().get(f"/who{query}", **headers))
        return response.status_code, response.data, response.get("WWW-Authenticate")

    assert call(f"?access_token={token}") == (200, {"user": "alice", "type": "access"}, None)
    assert call(f"?x=1&Access_Token={token}")[1]["user"] == "alice"  # the name is matched case-insensitively
    assert call(f"?access_token={other}", HTTP_AUTHORIZATION=f"Bearer {token}")[1]["user"] == "alice"
    for query in ("?access_token=junk", f"?access_token={expired}"):
        status, data, challenge = call(query)
        assert (status, data["code"], challenge) == (401, "token_not_valid", 'Bearer realm="api"')
    assert call("?access_token=")[:2] == (401, {"detail": "Authentication credentials were not provided."})
    settings.REALTIME = {"JWT_QUERY_PARAM": "token"}
    assert call(f"?token={token}")[1]["user"] == "alice"
    assert call(f"?access_token={token}")[0] == 401


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


@pytest.mark.django_db(transaction=True)
async def test_websocket_auth_in_one_step_matches_channels_stack():
    """The lean WebSocket path of ``JWTAuthMiddlewareStack`` / ``SessionAuthMiddlewareStack`` puts the same
    cookies, session and user in the scope as Channels' ``AuthMiddlewareStack`` (plus ``JWTAuthMiddleware``),
    in one copy of the scope and without wrapping ``send``."""
    from asgiref.sync import sync_to_async
    from channels.auth import AuthMiddlewareStack
    from django.contrib.sessions.backends.db import SessionStore

    from realtime.auth import SessionAuthMiddlewareStack

    def login(name: str, tamper: bool = False) -> str:
        user = get_user_model().objects.create_user(name)
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = "forged" if tamper else user.get_session_auth_hash()
        session["colour"] = "teal"
        session.save()
        return session.session_key

    seen: list[tuple[dict, object]] = []

    async def probe(scope, receive, send):
        seen.append((scope, send))

    async def scope_of(stack, query: str = "", cookie: str | None = None) -> tuple[dict, object]:
        headers = [(b"cookie", cookie.encode())] if cookie else []
        scope = {"type": "websocket", "path": "/x", "query_string": query.encode(), "headers": headers}
        send = object()
        await stack(probe)(scope, None, send)
        found, passed_send = seen.pop()
        assert found is not scope and "cookies" not in scope  # a copy; the caller's scope is untouched
        return found, passed_send is send

    def summary(scope: dict) -> tuple:
        user = scope["user"]
        user = getattr(user, "_wrapped", user)
        session = scope["session"]
        colour = session.get("colour")
        return scope["cookies"], session.session_key, colour, user.is_authenticated, getattr(user, "pk", None)

    erin = await sync_to_async(login)("erin-ws")
    forged = await sync_to_async(login)("fred-ws", tamper=True)
    gina = await sync_to_async(get_user_model().objects.create_user)("gina-ws")
    token = await sync_to_async(jwt_for)(gina)
    cases = [("", None), ("", f"sessionid={erin}; theme=dark"), ("", f"sessionid={forged}"), ("", "sessionid=bogus")]
    for query, cookie in cases:
        ours, unwrapped = await scope_of(SessionAuthMiddlewareStack, query, cookie)
        channels, _ = await scope_of(AuthMiddlewareStack, query, cookie)
        assert unwrapped
        assert await sync_to_async(summary)(ours) == await sync_to_async(summary)(channels), cookie
    ours, _ = await scope_of(SessionAuthMiddlewareStack, "", f"sessionid={erin}")
    assert (ours["user"].username, "auth_claims" in ours) == ("erin-ws", False)
    with_token, _ = await scope_of(JWTAuthMiddlewareStack, f"access_token={token}", f"sessionid={erin}")
    assert (with_token["user"].username, with_token["auth_claims"]["token_type"]) == ("gina-ws", "access")
    bad_token, _ = await scope_of(JWTAuthMiddlewareStack, "access_token=junk", f"sessionid={erin}")
    assert (bad_token["user"].is_authenticated, "auth_error" in bad_token) == (False, True)
    ignored, _ = await scope_of(SessionAuthMiddlewareStack, f"access_token={token}", f"sessionid={erin}")
    assert ignored["user"].username == "erin-ws"  # session only: a token is not read

    def runs(stack, cookie: str) -> str:  # which coroutine the connection runs in: no frame of ours when anonymous
        coroutine = stack(probe)(
            {"type": "websocket", "query_string": b"", "headers": [(b"cookie", cookie)]}, None, None
        )
        coroutine.close()
        return coroutine.cr_code.co_name

    assert runs(JWTAuthMiddlewareStack, b"theme=dark") == "probe"
    assert runs(JWTAuthMiddlewareStack, f"sessionid={erin}".encode()) != "probe"
