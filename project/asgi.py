"""ASGI entry point of the demo: Django views plus the chat hub (negotiate, WebSockets, SSE, long polling)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime import JWTAuthMiddlewareStack, hub_routes  # noqa: E402

from .hubs import ChatHub  # noqa: E402

# JWTAuthMiddlewareStack: the access token from `Authorization` or `?access_token=`, or the session cookie.
http_hubs, websocket_hubs = hub_routes({"hubs/chat": ChatHub}, middleware=JWTAuthMiddlewareStack)

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*http_hubs, re_path(r"", django_asgi_app)]),
        # No AllowedHostsOriginValidator: it refuses every upgrade without an Origin header (Node, Python and
        # mobile clients). realtime checks Origin itself, on negotiate, WebSockets and Server-Sent Events,
        # against REALTIME["ALLOWED_ORIGINS"] (by default ALLOWED_HOSTS), and lets clients without one in.
        "websocket": URLRouter(websocket_hubs),
    }
)
