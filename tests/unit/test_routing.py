"""Hub routes, negotiate and the plain HTTP answers of a hub's base URL (protocol.md §1, §2, §3.1)."""

from __future__ import annotations

import json

import pytest
from channels.routing import URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.core.exceptions import ImproperlyConfigured

from realtime.hubs import Hub
from realtime.routing import HubRouter, hub_routes

RS = "\x1e"

ALL = [
    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
    {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
    {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
]


class RoutedHub(Hub):
    transports = ["LongPolling", "ServerSentEvents", "WebSockets"]  # listed in SignalR's order regardless

    async def GetCallerConnectionId(self):  # noqa: N802
        return self.context.connection_id


class WebSocketsOnlyHub(Hub):
    transports = ["WebSockets"]


class HttpOnlyHub(Hub):
    transports = ["ServerSentEvents", "LongPolling"]


class NoResumeHub(Hub):
    stateful_reconnect = False


HUBS = {"testhub": RoutedHub, "/wsonly/": WebSocketsOnlyHub, "api/httponly": HttpOnlyHub, "noresume": NoResumeHub}


@pytest.fixture(scope="module", params=["URLRouter", "HubRouter"])
def router(request):
    """Each test runs on both recipes: ``hub_routes`` in Channels' ``URLRouter``, and ``HubRouter``."""
    if request.param == "HubRouter":
        app = HubRouter(HUBS)
        return request.param, app, app
    http, websocket = hub_routes(HUBS)
    return request.param, URLRouter(http), URLRouter(websocket)


@pytest.fixture
def http_app(router):
    return router[1]


@pytest.fixture
def ws_app(router):
    return router[2]


async def request(app, method: str, path: str, *, headers=None, body: bytes = b"") -> dict:
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
    communicator = HttpCommunicator(app, method, path, body=body, headers=headers or [])
    communicator.scope["query_string"] = query.encode()
    response = await communicator.get_response(timeout=2)
    await communicator.wait()
    return response


def header(response: dict, name: bytes) -> bytes | None:
    return dict(response["headers"]).get(name)


# -- routes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/testhub/negotiate", "/testHub/negotiate", "/TESTHUB/Negotiate", "/API/HttpOnly/negotiate"]
)
async def test_routes_match_case_insensitively(http_app, path):
    response = await request(http_app, "POST", path + "?negotiateVersion=1")
    assert response["status"] == 200


@pytest.mark.parametrize("path", ["/testhub/", "/testhub/negotiate/", "/testhubx", "/testhub/other"])
async def test_no_trailing_slash_or_prefix_match(router, path):
    kind, http_app, _ = router
    if kind == "HubRouter":  # no route: 404 (a URLRouter with Django's app would answer it)
        assert (await request(http_app, "POST", path))["status"] == 404
        return

    async def never(*args):
        raise AssertionError("the router must refuse before any I/O")

    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"", "headers": []}
    with pytest.raises(ValueError, match="No route found"):
        await http_app(scope, never, never)


async def test_websocket_route_is_case_insensitive(ws_app):
    communicator = WebsocketCommunicator(ws_app, "/testHub")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await communicator.receive_from() == "{}" + RS
    await communicator.disconnect()


def test_duplicate_routes_are_refused():
    with pytest.raises(ImproperlyConfigured, match="same route"):
        hub_routes({"chat": RoutedHub, "/Chat/": WebSocketsOnlyHub})


@pytest.mark.parametrize("bad", [{"": RoutedHub}, {"x": object}, {"x": "RoutedHub"}])
def test_bad_routes_are_refused(bad):
    with pytest.raises((ImproperlyConfigured, TypeError)):
        hub_routes(bad)


# -- negotiate ----------------------------------------------------------------------------------------


async def test_negotiate_v1(http_app):
    response = await request(http_app, "POST", "/testhub/negotiate?negotiateVersion=1")
    assert response["status"] == 200
    assert header(response, b"content-type") == b"application/json"
    body = json.loads(response["body"])
    assert list(body) == ["negotiateVersion", "connectionId", "connectionToken", "availableTransports"]
    assert body["negotiateVersion"] == 1
    assert body["availableTransports"] == ALL
    assert body["connectionId"] and body["connectionToken"] and body["connectionId"] != body["connectionToken"]
    assert len(body["connectionToken"]) >= 22  # 128 random bits, URL-safe


@pytest.mark.parametrize(
    ("path", "granted"),
    [
        ("/testhub/negotiate?negotiateVersion=1&useStatefulReconnect=true", True),
        ("/testhub/negotiate?negotiateVersion=1", False),  # the JS client refuses a grant it did not ask for
        ("/testhub/negotiate?negotiateVersion=1&useStatefulReconnect=false", False),
        ("/noresume/negotiate?negotiateVersion=1&useStatefulReconnect=true", False),  # the hub turned it off
        ("/api/httponly/negotiate?negotiateVersion=1&useStatefulReconnect=true", False),  # WebSockets only
    ],
)
async def test_negotiate_grants_stateful_reconnect_to_clients_that_ask(http_app, path, granted):
    body = json.loads((await request(http_app, "POST", path))["body"])
    assert body.get("useStatefulReconnect", False) is granted
    assert list(body)[-1] == ("useStatefulReconnect" if granted else "availableTransports")


async def test_negotiate_v0_has_no_token(http_app):
    response = await request(http_app, "POST", "/testhub/negotiate")
    body = json.loads(response["body"])
    assert list(body) == ["negotiateVersion", "connectionId", "availableTransports"]
    assert body["negotiateVersion"] == 0
    assert body["availableTransports"] == ALL


class VersionOneHub(Hub):
    min_negotiate_version = 1


@pytest.mark.parametrize("query", ["", "?negotiateVersion=0"])
async def test_min_negotiate_version_refuses_version_0(query, settings):
    (http_route,), _ = hub_routes({"v1only": VersionOneHub})
    response = await request(URLRouter([http_route]), "POST", f"/v1only/negotiate{query}")
    assert json.loads(response["body"]) == {
        "error": "The client requested version '0', but the server does not support this version."
    }
    settings.REALTIME = {"MIN_NEGOTIATE_VERSION": 1}
    (http_route,), _ = hub_routes({"testhub": RoutedHub})
    response = await request(URLRouter([http_route]), "POST", f"/testhub/negotiate{query}")
    assert "error" in json.loads(response["body"])
    version_1 = await request(URLRouter([http_route]), "POST", "/testhub/negotiate?negotiateVersion=1")
    assert "connectionToken" in json.loads(version_1["body"])


async def test_negotiate_query_keys_are_case_insensitive_and_versions_above_1_answer_1(http_app):
    response = await request(http_app, "POST", "/testhub/negotiate?NegotiateVersion=5")
    assert json.loads(response["body"])["negotiateVersion"] == 1


async def test_negotiate_lists_only_enabled_transports(http_app):
    ws_only = json.loads((await request(http_app, "POST", "/wsonly/negotiate?negotiateVersion=1"))["body"])
    http_only = json.loads((await request(http_app, "POST", "/api/httponly/negotiate?negotiateVersion=1"))["body"])
    assert ws_only["availableTransports"] == ALL[:1]
    assert http_only["availableTransports"] == ALL[1:]


async def test_negotiate_version_error(http_app):
    response = await request(http_app, "POST", "/testhub/negotiate?negotiateVersion=abc")
    assert response["status"] == 200
    assert json.loads(response["body"]) == {"error": "The client requested a non-integer protocol version."}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_negotiate_needs_post(http_app, method):
    response = await request(http_app, "GET" if method == "GET" else method, "/testhub/negotiate")
    assert (response["status"], response["body"]) == (405, b"")


# -- the base URL over HTTP -----------------------------------------------------------------------------


async def test_other_methods_on_base_url(http_app):
    response = await request(http_app, "PUT", "/testhub?id=x")
    assert (response["status"], response["body"]) == (405, b"")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_connection_id_required(http_app, method):
    headers = [(b"accept", b"text/event-stream")] if method == "GET" else []
    response = await request(http_app, method, "/testhub", headers=headers)
    assert (response["status"], response["body"]) == (400, b"Connection ID required")
    assert header(response, b"content-type") == b"text/plain"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([(b"accept", b"text/event-stream")], b"ServerSentEvents transport not supported by this end point type"),
        ([], b"LongPolling transport not supported by this end point type"),
    ],
)
async def test_http_transports_not_enabled(http_app, headers, body):
    token = json.loads((await request(http_app, "POST", "/wsonly/negotiate?negotiateVersion=1"))["body"])[
        "connectionToken"
    ]
    response = await request(http_app, "GET", f"/wsonly?id={token}", headers=headers)
    assert (response["status"], response["body"]) == (404, body)
    assert header(response, b"content-type") == b"text/plain"


async def test_post_to_unknown_connection(http_app):
    response = await request(http_app, "POST", "/testhub?id=unknown", body=b"{}\x1e")
    assert (response["status"], response["body"]) == (404, b"No Connection with that ID")


# -- WebSockets with and without negotiate ------------------------------------------------------------


async def websocket_upgrade(ws_app, path: str, *, http_response: bool = True):
    """Open a WebSocket; returns the communicator and the first ASGI message the app sent."""
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
    communicator = WebsocketCommunicator(ws_app, path)
    communicator.scope["query_string"] = query.encode()
    if http_response:
        communicator.scope["extensions"] = {"websocket.http.response": {}}
    await communicator.send_input({"type": "websocket.connect"})
    return communicator, await communicator.receive_output(2)


async def refused(communicator, first: dict) -> tuple[int, bytes]:
    assert first["type"] == "websocket.http.response.start", first
    body = await communicator.receive_output(2)
    await communicator.wait()
    return first["status"], body["body"]


async def test_negotiated_websocket_uses_the_negotiated_connection_id(http_app, ws_app):
    negotiated = json.loads((await request(http_app, "POST", "/testhub/negotiate?negotiateVersion=1"))["body"])
    token = negotiated["connectionToken"]
    communicator, first = await websocket_upgrade(ws_app, f"/testhub?id={token}")
    assert first["type"] == "websocket.accept"
    await communicator.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await communicator.receive_from() == "{}" + RS
    await communicator.send_to(
        text_data='{"type":1,"invocationId":"1","target":"GetCallerConnectionId","arguments":[]}' + RS
    )
    reply = json.loads((await communicator.receive_from()).rstrip(RS))
    assert reply == {"type": 3, "invocationId": "1", "result": negotiated["connectionId"]}

    # the token is claimed: a second socket with it is refused while the first is open...
    second, first_message = await websocket_upgrade(ws_app, f"/testhub?id={token}")
    assert (await refused(second, first_message))[0] == 409
    await communicator.disconnect()
    # ...and after it closed, the token is gone
    third, first_message = await websocket_upgrade(ws_app, f"/testhub?id={token}")
    assert await refused(third, first_message) == (404, b"No Connection with that ID")


async def test_v0_connection_id_is_the_token(http_app, ws_app):
    negotiated = json.loads((await request(http_app, "POST", "/testhub/negotiate"))["body"])
    communicator, first = await websocket_upgrade(ws_app, f"/testhub?id={negotiated['connectionId']}")
    assert first["type"] == "websocket.accept"
    await communicator.disconnect()


async def test_unknown_token_is_refused(ws_app):
    communicator, first = await websocket_upgrade(ws_app, "/testhub?id=unknown")
    assert await refused(communicator, first) == (404, b"No Connection with that ID")


async def test_unknown_token_without_denial_extension_closes_before_accept(ws_app):
    communicator, first = await websocket_upgrade(ws_app, "/testhub?id=unknown", http_response=False)
    assert first["type"] == "websocket.close"
    await communicator.wait()


async def test_token_of_another_hub_is_refused(http_app, ws_app):
    token = json.loads((await request(http_app, "POST", "/testhub/negotiate?negotiateVersion=1"))["body"])[
        "connectionToken"
    ]
    communicator, first = await websocket_upgrade(ws_app, f"/wsonly?id={token}")
    assert await refused(communicator, first) == (404, b"No Connection with that ID")


async def test_websocket_not_enabled(ws_app):
    communicator, first = await websocket_upgrade(ws_app, "/api/httponly")
    assert await refused(communicator, first) == (404, b"WebSockets transport not supported by this end point type")


async def test_skip_negotiation_creates_a_connection(ws_app):
    communicator, first = await websocket_upgrade(ws_app, "/testhub")
    assert first["type"] == "websocket.accept"
    await communicator.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await communicator.receive_from() == "{}" + RS
    await communicator.send_to(
        text_data='{"type":1,"invocationId":"1","target":"GetCallerConnectionId","arguments":[]}' + RS
    )
    reply = json.loads((await communicator.receive_from()).rstrip(RS))
    assert isinstance(reply["result"], str) and len(reply["result"]) >= 22
    await communicator.disconnect()


# -- HubRouter ------------------------------------------------------------------------------------


async def plain_http(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"django {scope['path']}".encode()})


async def plain_websocket(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept", "subprotocol": None})


def test_hub_router_hands_a_hub_websocket_its_own_coroutine():
    """No router frame stays for the connection's life: the call returns the hub app's coroutine itself."""
    router = HubRouter({"testhub": RoutedHub})
    connection = router({"type": "websocket", "path": "/TestHub", "headers": []}, None, None)
    try:
        assert connection.cr_code.co_qualname == "WebsocketApp.__call__"
    finally:
        connection.close()


async def test_hub_router_serves_hubs_below_root_path():
    router = HubRouter({"testhub": RoutedHub}, http=plain_http)
    communicator = HttpCommunicator(router, "POST", "/prefix/testhub/negotiate")
    communicator.scope.update(root_path="/prefix", query_string=b"negotiateVersion=1")
    response = await communicator.get_response(timeout=2)
    assert response["status"] == 200 and "connectionToken" in json.loads(response["body"])
    outside = HttpCommunicator(router, "POST", "/testhub/negotiate")  # outside root_path: not the hub's
    outside.scope["root_path"] = "/prefix"
    assert (await outside.get_response(timeout=2))["body"] == b"django /testhub/negotiate"


async def test_hub_router_sends_other_requests_to_its_fallbacks():
    router = HubRouter({"testhub": RoutedHub}, http=plain_http, websocket=plain_websocket)
    assert (await request(router, "GET", "/orders/7"))["body"] == b"django /orders/7"
    communicator = WebsocketCommunicator(router, "/ws/feed")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()


async def test_hub_router_without_fallbacks_answers_404():
    router = HubRouter({"testhub": RoutedHub})
    response = await request(router, "GET", "/elsewhere")
    assert (response["status"], response["body"]) == (404, b"Not Found")
    communicator, first = await websocket_upgrade(router, "/elsewhere")
    assert await refused(communicator, first) == (404, b"Not Found")
    communicator, first = await websocket_upgrade(router, "/elsewhere", http_response=False)
    assert first == {"type": "websocket.close", "code": 1008}


async def test_hub_router_refuses_other_scope_types():
    """As ``ProtocolTypeRouter``: an error for lifespan, which servers take as "not supported"."""
    with pytest.raises(ValueError, match="no application for scope type 'lifespan'"):
        HubRouter({"testhub": RoutedHub})({"type": "lifespan"}, None, None)


def test_hub_router_refuses_what_hub_routes_refuses():
    with pytest.raises(ImproperlyConfigured, match="same route"):
        HubRouter({"chat": RoutedHub, "/Chat/": WebSocketsOnlyHub})
    with pytest.raises(ImproperlyConfigured, match="must map to a Hub subclass"):
        HubRouter({"x": object})
