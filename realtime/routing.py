"""URL routes for hubs: each hub gets its HTTP routes (negotiate, HTTP transports) and its WebSocket route.

Paths match case-insensitively, as ASP.NET's do (``/testHub`` reaches ``/testhub``), and have no
trailing slash. Recipe for ``asgi.py``::

    django_asgi_app = get_asgi_application()
    from realtime import HubRouter, JWTAuthMiddlewareStack
    application = HubRouter({"chathub": ChatHub}, middleware=JWTAuthMiddlewareStack, http=django_asgi_app)

or, beside other Channels routes, the same routes as URL patterns::

    http_hubs, websocket_hubs = hub_routes({"chathub": ChatHub}, middleware=JWTAuthMiddlewareStack)
    application = ProtocolTypeRouter({
        "http": URLRouter([*http_hubs, re_path(r"", django_asgi_app)]),
        "websocket": URLRouter([*websocket_hubs, *other_websocket_routes]),
    })
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from asgiref.sync import markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, re_path

from .conf import hub_option
from .connection import HubConnection
from .dispatcher import HubDispatcher
from .endpoints import ConnectionHandler, ConnectionHandlerLike, ConnectionInfo, Endpoint
from .hubs import Hub
from .permissions import ConnectionRequest, allowed
from .request import RequestInfo
from .takeover import taker
from .transports.claim import TEXT
from .transports.http import EndpointHttpApp, respond
from .transports.websocket import WebsocketApp, refuse
from .types import Receive, Scope, Send, Transport
from .users import scope_user


def caseless(path: str) -> str:
    """A regex matching ``path`` literally but case-insensitively (``(?i)`` is not allowed in URL patterns)."""
    parts = []
    for char in path:
        if char.isalpha():
            parts.append(f"[{char.lower()}{char.upper()}]")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def _hub_endpoints(hubs: Mapping[str, type[Hub]]) -> dict[str, Endpoint]:
    for path, hub in hubs.items():
        if not (isinstance(hub, type) and issubclass(hub, Hub)):
            raise ImproperlyConfigured(f"hubs: {path!r} must map to a Hub subclass, not {hub!r}")
    return {path: hub_endpoint(hub) for path, hub in hubs.items()}


def hub_routes(
    hubs: Mapping[str, type[Hub]], *, middleware: Callable[[Any], Any] | None = None
) -> tuple[list[URLPattern], list[URLPattern]]:
    """``(http_routes, websocket_routes)`` for ``{"path": HubClass}``; paths without leading slash.

    ``middleware`` (e.g. ``JWTAuthMiddlewareStack``) wraps every route, HTTP and WebSocket alike, so
    negotiate and every transport request are authenticated the same way.
    """
    return endpoint_routes(_hub_endpoints(hubs), middleware=middleware)


def connection_routes(
    handlers: Mapping[str, type[ConnectionHandler]], *, middleware: Callable[[Any], Any] | None = None
) -> tuple[list[URLPattern], list[URLPattern]]:
    """Routes for raw endpoints (``ConnectionHandler`` subclasses): the same transports, no hub protocol."""
    for path, handler in handlers.items():
        if not (isinstance(handler, type) and issubclass(handler, ConnectionHandler)):
            raise ImproperlyConfigured(f"connection_routes: {path!r} must map to a ConnectionHandler subclass")
    return endpoint_routes({path: handler.endpoint() for path, handler in handlers.items()}, middleware=middleware)


def _endpoint_apps(
    endpoints: Mapping[str, Endpoint], middleware: Callable[[Any], Any] | None
) -> list[tuple[str, Any, Any]]:
    """``(path, http_app, websocket_app)`` per endpoint: the path stripped of slashes, the apps wrapped."""
    apps: list[tuple[str, Any, Any]] = []
    seen: dict[str, str] = {}
    for path, endpoint in endpoints.items():
        clean = path.strip("/")
        if not clean:
            raise ImproperlyConfigured(f"{path!r} is not a valid endpoint path")
        if clean.lower() in seen:
            raise ImproperlyConfigured(f"{path!r} and {seen[clean.lower()]!r} are the same route")
        seen[clean.lower()] = path
        http_app: Any = EndpointHttpApp(endpoint)
        websocket_app: Any = WebsocketApp(endpoint)
        if middleware is not None:
            http_app, websocket_app = middleware(http_app), middleware(websocket_app)
        apps.append((clean, http_app, websocket_app))
    return apps


def endpoint_routes(
    endpoints: Mapping[str, Endpoint], *, middleware: Callable[[Any], Any] | None = None
) -> tuple[list[URLPattern], list[URLPattern]]:
    """``(http_routes, websocket_routes)`` for ``{"path": Endpoint}``."""
    http: list[URLPattern] = []
    websocket: list[URLPattern] = []
    for path, http_app, websocket_app in _endpoint_apps(endpoints, middleware):
        base = caseless(path)
        http.append(re_path(rf"^{base}(?:/{caseless('negotiate')})?$", http_app))
        websocket.append(re_path(rf"^{base}$", websocket_app))
    return http, websocket


class HubRouter:
    """The ASGI application of a site with hubs: their routes, and everything else to ``http`` and ``websocket``.

    ``HubRouter({"hubs/chat": ChatHub}, middleware=JWTAuthMiddlewareStack, http=django_asgi_app)`` serves
    what ``hub_routes`` gives, in Channels' ``ProtocolTypeRouter`` and ``URLRouter``, without their two frames
    and route matching for the life of each connection (about 2 KB less per idle WebSocket): a hub's path,
    matched case-insensitively below ``root_path``, goes straight to its app. Other HTTP requests go to
    ``http`` (Django's ASGI app, or a ``URLRouter`` with more routes), other WebSockets to ``websocket``
    (e.g. ``URLRouter`` of Channels consumers); without one, they get 404. Other scope types (lifespan) are
    refused as ``ProtocolTypeRouter`` refuses them.
    """

    def __init__(
        self,
        hubs: Mapping[str, type[Hub]],
        *,
        middleware: Callable[[Any], Any] | None = None,
        http: Callable[..., Awaitable[None]] | None = None,
        websocket: Callable[..., Awaitable[None]] | None = None,
    ) -> None:
        self.http_routes: dict[str, Any] = {}
        self.websocket_routes: dict[str, Any] = {}
        for path, http_app, websocket_app in _endpoint_apps(_hub_endpoints(hubs), middleware):
            self.http_routes[path.lower()] = self.http_routes[f"{path}/negotiate".lower()] = http_app
            self.websocket_routes[path.lower()] = websocket_app
        self.fallback = {"http": http or _not_found, "websocket": websocket or _not_found}

    @markcoroutinefunction  # an ASGI 3 app to servers and asgiref, though it returns the route's own coroutine
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        fallback = self.fallback.get(kind)
        if fallback is None:
            raise ValueError(f"HubRouter: no application for scope type {kind!r}")
        path, root = scope["path"], scope.get("root_path", "")
        if path.startswith(root):
            routes = self.http_routes if kind == "http" else self.websocket_routes
            app = routes.get(path[len(root) :].lstrip("/").lower())
            if app is not None:
                return app(scope, receive, send)
        return fallback(scope, receive, send)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """404 for a path no route serves (a WebSocket's upgrade too, when the server can answer it with HTTP)."""
    if scope["type"] == "http":
        await respond(send, 404, b"Not Found", TEXT)
    elif (await receive())["type"] == "websocket.connect":
        await refuse(scope, send, 404, b"Not Found")


def hub_endpoint(hub: type[Hub]) -> Endpoint:
    """The :class:`Endpoint` serving ``hub``: a :class:`HubConnection` and its dispatcher per connection."""

    def create(transport: Transport, info: ConnectionInfo) -> ConnectionHandlerLike:
        connection = HubConnection(
            hub,
            transport,
            connection_id=info.connection_id,
            user=info.user,
            user_id=info.user_id,
            request=info.request,
            expires=info.expires,
            claims=info.claims,
        )
        return HubDispatcher(connection)

    async def authorize(scope: Scope) -> int | None:
        user, user_id = scope_user(scope)
        request = ConnectionRequest(user, user_id, RequestInfo.of(scope), auth=scope.get("auth_claims"))
        if await allowed(hub.get_permission_classes(), request, hub):
            return None
        return 403 if getattr(user, "is_authenticated", False) else 401

    return Endpoint(
        hub.hub_name(),
        tuple(hub_option(hub, "TRANSPORTS")),
        create,
        authorize,
        min_negotiate_version=int(hub_option(hub, "MIN_NEGOTIATE_VERSION")),
        stateful_reconnect=bool(hub_option(hub, "STATEFUL_RECONNECT")),
        adopt=taker(hub),
    )
