"""The "realistic app" of the idle-memory goal: the bench hub behind session and auth middleware.

The README's recipe: a ``HubRouter`` with Django's ASGI handler for plain HTTP, the hub's routes (negotiate,
WebSockets) wrapped in ``JWTAuthMiddlewareStack`` (cookies, session, user, and a JWT when one is sent), as a
site with logins has them. Presence is off.
Serve it with ``DJANGO_SETTINGS_MODULE=bench.realistic_settings``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.realistic_settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from realtime.auth import JWTAuthMiddlewareStack  # noqa: E402
from realtime.routing import HubRouter  # noqa: E402

from .hubs import BenchHub  # noqa: E402

urlpatterns: list[object] = []  # ROOT_URLCONF of the Django handler: no views

application = HubRouter({"benchhub": BenchHub}, middleware=JWTAuthMiddlewareStack, http=django_asgi_app)
