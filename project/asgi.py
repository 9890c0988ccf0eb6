"""ASGI entry point of the demo: Django views, the chat hub (negotiate, WebSockets, SSE, long polling) and the push
API for other services."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime import HubRouter, JWTAuthMiddlewareStack, api_routes  # noqa: E402

from .hubs import ChatHub  # noqa: E402

# The push API for other services (Azure SignalR's REST API): POST /api/hubs/chat/:send?api-version=2022-06-01...
push_api = api_routes({"chat": ChatHub})

# The chat hub's routes (negotiate, WebSockets, SSE, long polling); every other request goes to `http`.
# JWTAuthMiddlewareStack: the access token from `Authorization` or `?access_token=`, or the session cookie.
# No AllowedHostsOriginValidator: it refuses every upgrade without an Origin header (Node, Python and mobile
# clients). realtime checks Origin itself, on negotiate, WebSockets and Server-Sent Events, against
# REALTIME["ALLOWED_ORIGINS"] (by default ALLOWED_HOSTS), and lets clients without one in.
application = HubRouter(
    {"hubs/chat": ChatHub},
    middleware=JWTAuthMiddlewareStack,
    http=URLRouter([*push_api, re_path(r"", django_asgi_app)]),
)
