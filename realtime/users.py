"""Who a connection belongs to: the user an authentication middleware put in the scope, and its identifier.

Apart from :mod:`realtime.auth` (which needs simplejwt, and through it ``django.contrib.auth``), so routing
hubs works in projects that authenticate otherwise, or not at all.
"""

from __future__ import annotations

from typing import Any

from .conf import realtime_settings
from .types import Scope


def default_user_id(user: Any) -> str | None:
    """The default ``USER_ID_PROVIDER``: the primary key as a string, ``None`` for anonymous users."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


def scope_user(scope: Scope) -> tuple[Any, str | None]:
    """The user an authentication middleware put in ``scope`` and its identifier."""
    user = scope.get("user")
    if hasattr(user, "_wrapped") and hasattr(user, "_setup"):  # Channels' lazy UserLazyObject
        user = user._wrapped if user._wrapped is not None else user
    return user, realtime_settings.USER_ID_PROVIDER(user)
