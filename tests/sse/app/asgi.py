"""ASGI entry point of the SSE test server: ``uvicorn tests.sse.app.asgi:application`` (plain Django, no hubs)."""

from __future__ import annotations

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.sse.app.settings"

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
