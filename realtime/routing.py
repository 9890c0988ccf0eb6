"""URL routes for hubs: each hub gets its HTTP routes (negotiate, HTTP transports) and its WebSocket route.

Paths match case-insensitively, as ASP.NET's do (``/testHub`` reaches ``/testhub``), and have no
trailing slash. Recipe for ``asgi.py``::

    django_asgi_app = get_asgi_application()
    from realtime.routing import hub_routes
    http_hubs, websocket_hubs = hub_routes({"chathub": ChatHub})
    application = ProtocolTypeRouter({
        "http": URLRouter([*http_hubs, re_path(r"", django_asgi_app)]),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_hubs)),
    })
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, re_path

from .hubs import Hub


def caseless(path: str) -> str:
    """A regex matching ``path`` literally but case-insensitively (``(?i)`` is not allowed in URL patterns)."""
    parts = []
    for char in path:
        if char.isalpha():
            parts.append(f"[{char.lower()}{char.upper()}]")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def hub_routes(hubs: Mapping[str, type[Hub]]) -> tuple[list[URLPattern], list[URLPattern]]:
    """``(http_routes, websocket_routes)`` for ``{"path": HubClass}``; paths without leading slash."""
    from .transports.http import HubHttpApp
    from .transports.websocket import HubWebsocketConsumer

    http: list[URLPattern] = []
    websocket: list[URLPattern] = []
    seen: dict[str, str] = {}
    for path, hub in hubs.items():
        clean = path.strip("/")
        if not clean or not (isinstance(hub, type) and issubclass(hub, Hub)):
            raise ImproperlyConfigured(f"hub_routes: {path!r} must map a non-empty path to a Hub subclass")
        if clean.lower() in seen:
            raise ImproperlyConfigured(f"hub_routes: {path!r} and {seen[clean.lower()]!r} are the same route")
        seen[clean.lower()] = path
        base = caseless(clean)
        http.append(re_path(rf"^{base}(?:/{caseless('negotiate')})?$", HubHttpApp(hub)))
        websocket.append(re_path(rf"^{base}$", HubWebsocketConsumer.for_hub(hub)))
    return http, websocket
