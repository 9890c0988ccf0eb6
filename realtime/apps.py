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
        from . import logging as token_logging
        from .conf import realtime_settings, reload_settings

        setting_changed.connect(reload_settings, dispatch_uid="realtime.conf.reload")
        if realtime_settings.MASK_TOKENS_IN_LOGS:
            token_logging.install()
