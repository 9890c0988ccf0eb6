"""URL routes for hubs: each hub gets its HTTP routes (negotiate, HTTP transports) and its WebSocket route.

Paths match case-insensitively, as ASP.NET's do (``/testHub`` reaches ``/testhub``), and have no
trailing slash. Recipe for ``asgi.py``::

    django_asgi_app = get_asgi_application()
    from realtime import JWTAuthMiddlewareStack, hub_routes
    http_hubs, websocket_hubs = hub_routes({"chathub": ChatHub}, middleware=JWTAuthMiddlewareStack)
    application = ProtocolTypeRouter({
        "http": URLRouter([*http_hubs, re_path(r"", django_asgi_app)]),
        "websocket": URLRouter(websocket_hubs),
    })
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

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
from .transports.http import EndpointHttpApp
from .transports.websocket import WebsocketApp
from .types import Scope, Transport
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


def hub_routes(
    hubs: Mapping[str, type[Hub]], *, middleware: Callable[[Any], Any] | None = None
) -> tuple[list[URLPattern], list[URLPattern]]:
    """``(http_routes, websocket_routes)`` for ``{"path": HubClass}``; paths without leading slash.

    ``middleware`` (e.g. ``JWTAuthMiddlewareStack``) wraps every route, HTTP and WebSocket alike, so
    negotiate and every transport request are authenticated the same way.
    """
    for path, hub in hubs.items():
        if not (isinstance(hub, type) and issubclass(hub, Hub)):
            raise ImproperlyConfigured(f"hub_routes: {path!r} must map to a Hub subclass, not {hub!r}")
    return endpoint_routes({path: hub_endpoint(hub) for path, hub in hubs.items()}, middleware=middleware)


def connection_routes(
    handlers: Mapping[str, type[ConnectionHandler]], *, middleware: Callable[[Any], Any] | None = None
) -> tuple[list[URLPattern], list[URLPattern]]:
    """Routes for raw endpoints (``ConnectionHandler`` subclasses): the same transports, no hub protocol."""
    for path, handler in handlers.items():
        if not (isinstance(handler, type) and issubclass(handler, ConnectionHandler)):
            raise ImproperlyConfigured(f"connection_routes: {path!r} must map to a ConnectionHandler subclass")
    return endpoint_routes({path: handler.endpoint() for path, handler in handlers.items()}, middleware=middleware)


def endpoint_routes(
    endpoints: Mapping[str, Endpoint], *, middleware: Callable[[Any], Any] | None = None
) -> tuple[list[URLPattern], list[URLPattern]]:
    """``(http_routes, websocket_routes)`` for ``{"path": Endpoint}``."""
    http: list[URLPattern] = []
    websocket: list[URLPattern] = []
    seen: dict[str, str] = {}
    for path, endpoint in endpoints.items():
        clean = path.strip("/")
        if not clean:
            raise ImproperlyConfigured(f"{path!r} is not a valid endpoint path")
        if clean.lower() in seen:
            raise ImproperlyConfigured(f"{path!r} and {seen[clean.lower()]!r} are the same route")
        seen[clean.lower()] = path
        base = caseless(clean)
        http_app: Any = EndpointHttpApp(endpoint)
        websocket_app: Any = WebsocketApp(endpoint)
        if middleware is not None:
            http_app, websocket_app = middleware(http_app), middleware(websocket_app)
        http.append(re_path(rf"^{base}(?:/{caseless('negotiate')})?$", http_app))
        websocket.append(re_path(rf"^{base}$", websocket_app))
    return http, websocket


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
        request = ConnectionRequest(user, user_id, RequestInfo.from_scope(scope), auth=scope.get("auth_claims"))
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
