"""The benchmark ASGI app: the hub at ``/benchhub``, raw Channels consumers at ``/raw/echo`` and ``/raw/fanout``.

Serve it with ``DJANGO_SETTINGS_MODULE=bench.settings python -m daphne bench.asgi:application``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from channels.routing import URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from realtime.routing import HubRouter  # noqa: E402

from .consumers import RawEchoConsumer, RawFanoutConsumer  # noqa: E402
from .hubs import BenchHub  # noqa: E402

# The README's recipe: the hub's routes, and the raw Channels consumers as the router's other WebSockets.
application = HubRouter(
    {"benchhub": BenchHub},
    websocket=URLRouter(
        [
            re_path(r"^raw/echo$", RawEchoConsumer.as_asgi()),
            re_path(r"^raw/fanout$", RawFanoutConsumer.as_asgi()),
        ]
    ),
)
