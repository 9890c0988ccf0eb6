"""ASGI entry point of the conformance server: ``daphne tests.conformance.asgi:application``.

Starting it is the only set-up step: it creates its tables and the ``testuser`` on import.
"""

from __future__ import annotations

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.conformance.settings"

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime.auth import JWTAuthMiddlewareStack  # noqa: E402
from realtime.push_api import api_routes  # noqa: E402
from realtime.routing import connection_routes, hub_routes  # noqa: E402

from .cors import ConformanceHttp  # noqa: E402
from .echo import EchoHandler  # noqa: E402
from .hubs import AuthorizedHub, ChatHub, TestHub, TestHubNoWebSockets, TypedHub  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)

# Every hub authenticates a JWT when one is sent (WhoAmI, clients.user()); only AuthorizedHub requires it.
http_hubs, websocket_hubs = hub_routes(
    {
        "testhub": TestHub,
        "testhub-nowebsockets": TestHubNoWebSockets,
        "chathub": ChatHub,
        "authorizedhub": AuthorizedHub,
        "typedhub": TypedHub,
    },
    middleware=JWTAuthMiddlewareStack,
)
http_raw, websocket_raw = connection_routes({"echo": EchoHandler})
# The push API for other services (Azure SignalR's REST API): /api/hubs/chathub/..., /api/hubs/testhub/...
push_api = api_routes({"chathub": ChatHub, "testhub": TestHub})

application = ProtocolTypeRouter(
    {
        "http": ConformanceHttp(URLRouter([*push_api, *http_hubs, *http_raw, re_path(r"", django_asgi_app)])),
        "websocket": URLRouter([*websocket_hubs, *websocket_raw]),
    }
)
