"""App config: loads system checks and keeps settings fresh under ``override_settings``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed


class RealtimeConfig(AppConfig):
    """``realtime`` app."""

    name = "realtime"
    verbose_name = "Realtime hubs"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .conf import reload_settings

        setting_changed.connect(reload_settings, dispatch_uid="realtime.conf.reload")
