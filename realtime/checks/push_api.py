"""Checks of the push API's settings: its access keys (``PUSH_API_KEYS``), its body bound, its user-group store."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from ..conf import DEFAULTS
from ..push_api.keys import MIN_KEY_LENGTH, key_problems
from .configuration import redis_without_url


@register()
def check_push_api(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Access keys must be long enough to resist guessing, and well-formed; the body bound must be positive."""
    user = getattr(settings, "REALTIME", None) or {}
    problems = [
        Error(
            problem,
            hint=f"Use keys of {MIN_KEY_LENGTH} characters or more, read from the environment: "
            '{"primary": os.environ["REALTIME_PUSH_KEY"]} (python -c "import secrets; '
            'print(secrets.token_urlsafe(32))" makes one).',
            id="realtime.E050",
        )
        for problem in key_problems(user.get("PUSH_API_KEYS", DEFAULTS["PUSH_API_KEYS"]))
    ]
    if int(user.get("PUSH_API_MAX_BODY_SIZE", DEFAULTS["PUSH_API_MAX_BODY_SIZE"])) < 1:
        problems.append(Error("REALTIME['PUSH_API_MAX_BODY_SIZE'] must be at least 1 byte.", id="realtime.E051"))
    return problems + redis_without_url(user, "USER_GROUP_BACKEND", "RedisUserGroups", "realtime.E052")
