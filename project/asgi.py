"""ASGI entry point of the demo: Django views plus the chat hub (HTTP negotiate and WebSocket)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime.routing import hub_routes  # noqa: E402

from .hubs import ChatHub  # noqa: E402

http_hubs, websocket_hubs = hub_routes({"hubs/chat": ChatHub})

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*http_hubs, re_path(r"", django_asgi_app)]),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_hubs))),
    }
)
