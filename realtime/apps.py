"""App config: loads system checks, keeps settings fresh under ``override_settings``, encodes lazy strings."""

from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.functional import Promise

from . import logging as token_logging
from .conf import realtime_settings, reload_settings
from .protocol import values


class RealtimeConfig(AppConfig):
    """``realtime`` app."""

    name = "realtime"
    verbose_name = "Realtime hubs"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks; they import the hubs, so not before apps are ready)

        values.register(Promise, str)  # lazy translations (gettext_lazy) are sent as their text
        setting_changed.connect(reload_settings, dispatch_uid="realtime.conf.reload")
        if realtime_settings.MASK_TOKENS_IN_LOGS:
            token_logging.install()
