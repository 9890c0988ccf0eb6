"""The "realistic app" of the idle-memory goal: the bench hub behind session and auth middleware.

Django's ASGI handler serves plain HTTP; the hub's routes (negotiate, WebSockets) are wrapped in the README's
``JWTAuthMiddlewareStack`` (cookies, session, user, and a JWT when one is sent), as a site with logins has
them. Presence is off.
Serve it with ``DJANGO_SETTINGS_MODULE=bench.realistic_settings``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.realistic_settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime.auth import JWTAuthMiddlewareStack  # noqa: E402
from realtime.routing import hub_routes  # noqa: E402

from .hubs import BenchHub  # noqa: E402

http_hubs, websocket_hubs = hub_routes({"benchhub": BenchHub}, middleware=JWTAuthMiddlewareStack)
urlpatterns: list[object] = []  # ROOT_URLCONF of the Django handler: no views

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*http_hubs, re_path(r"", django_asgi_app)]),
        "websocket": URLRouter(websocket_hubs),
    }
)
