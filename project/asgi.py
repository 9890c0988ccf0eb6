"""ASGI entry point of the demo: Django views, the chat hub (negotiate, WebSockets, SSE, long polling) and the push
API for other services."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime import JWTAuthMiddlewareStack, api_routes, hub_routes  # noqa: E402

from .hubs import ChatHub  # noqa: E402

# JWTAuthMiddlewareStack: the access token from `Authorization` or `?access_token=`, or the session cookie.
http_hubs, websocket_hubs = hub_routes({"hubs/chat": ChatHub}, middleware=JWTAuthMiddlewareStack)
# The push API for other services (Azure SignalR's REST API): POST /api/hubs/chat/:send?api-version=2022-06-01...
push_api = api_routes({"chat": ChatHub})

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*push_api, *http_hubs, re_path(r"", django_asgi_app)]),
        # No AllowedHostsOriginValidator: it refuses every upgrade without an Origin header (Node, Python and
        # mobile clients). realtime checks Origin itself, on negotiate, WebSockets and Server-Sent Events,
        # against REALTIME["ALLOWED_ORIGINS"] (by default ALLOWED_HOSTS), and lets clients without one in.
        "websocket": URLRouter(websocket_hubs),
    }
)
