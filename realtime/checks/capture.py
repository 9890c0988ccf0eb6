"""Checks of change capture: PostgreSQL, psycopg 3, and the ``CAPTURE_*`` settings (ids ``realtime.E06x``)."""

from __future__ import annotations

import importlib.util
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from ..capture.registration import captures
from ..conf import DEFAULTS


@register()
def check_capture(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Captured models need their database on PostgreSQL, psycopg 3, and a known listener mode."""
    registered = captures()
    if not registered:
        return []
    user = getattr(settings, "REALTIME", None) or {}
    alias = user.get("CAPTURE_DATABASE", DEFAULTS["CAPTURE_DATABASE"])
    problems = []
    engine = settings.DATABASES.get(alias, {}).get("ENGINE", "")
    if alias not in settings.DATABASES:
        problems.append(
            Error(
                f"REALTIME['CAPTURE_DATABASE'] is {alias!r}, which is not in DATABASES.",
                hint="Name the PostgreSQL database alias the captured tables live in.",
                id="realtime.E060",
            )
        )
    elif "postgresql" not in engine:
        models = ", ".join(sorted({capture.model._meta.label for capture in registered}))
        problems.append(
            Error(
                f"capture_model() is used ({models}) but database {alias!r} is {engine or 'not configured'}; "
                "change capture needs PostgreSQL.",
                hint="Use django.db.backends.postgresql for that database, or broadcast_model() (model signals) "
                "instead of capture_model() on other databases.",
                id="realtime.E061",
            )
        )
    if importlib.util.find_spec("psycopg") is None:
        problems.append(
            Error(
                "Change capture needs psycopg 3 (psycopg2 has no async LISTEN).",
                hint='pip install "django-realtime-hubs[capture]" (or psycopg[binary]).',
                id="realtime.E062",
            )
        )
    if user.get("CAPTURE_LISTENER", DEFAULTS["CAPTURE_LISTENER"]) not in ("process", "worker"):
        problems.append(
            Error(
                "REALTIME['CAPTURE_LISTENER'] must be 'process' or 'worker'.",
                hint="'process': each server process runs a publisher (one leads); 'worker': only "
                "manage.py realtime_capture run publishes.",
                id="realtime.E063",
            )
        )
    return problems
