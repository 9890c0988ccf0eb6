"""Permission classes for hubs (checked on every request of a connection) and hub methods (per call).

DRF-style: a class with ``has_permission``, which may be sync or async::

    class ChatHub(Hub):
        permission_classes = [IsAuthenticated]

        @hub_method(permission_classes=[IsAdminUser])
        async def Kick(self, connection_id: str) -> None: ...

A refused connection request gets 401 (anonymous user) or 403 (authenticated); a refused call gets
``Failed to invoke 'X' because user is unauthorized``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .request import RequestInfo


@dataclass(frozen=True)
class AccessRequest:
    """What a permission decides on: who, over which request, for which method (``None``: connecting)."""

    user: Any
    user_id: str | None
    request: RequestInfo = field(default_factory=RequestInfo)
    method: str | None = None
    arguments: list[Any] = field(default_factory=list)


class BasePermission:
    """Allow everything; override :meth:`has_permission`."""

    def has_permission(self, access: AccessRequest, hub: type) -> bool:
        """``True`` to allow; may also be ``async def``."""
        return True


class AllowAny(BasePermission):
    """Allow any request (the default)."""


class IsAuthenticated(BasePermission):
    """Allow authenticated users only."""

    def has_permission(self, access: AccessRequest, hub: type) -> bool:
        return bool(getattr(access.user, "is_authenticated", False))


class IsAdminUser(BasePermission):
    """Allow staff users only."""

    def has_permission(self, access: AccessRequest, hub: type) -> bool:
        return bool(getattr(access.user, "is_staff", False))


async def allowed(permission_classes: Iterable[type[BasePermission]], access: AccessRequest, hub: type) -> bool:
    """``True`` when every permission class allows ``access``."""
    for permission_class in permission_classes:
        verdict = permission_class().has_permission(access, hub)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if not verdict:
            return False
    return True
