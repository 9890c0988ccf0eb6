"""Permission classes of hubs, hub methods and SSE views: Django REST framework's, used as they are.

Any DRF permission class works (``IsAuthenticated``, ``IsAdminUser``, ``DjangoModelPermissions``, your own),
and so do ``&``, ``|`` and ``~``; the names below are DRF's own classes::

    class ChatHub(Hub):
        permission_classes = [IsAuthenticated]                  # negotiate and every transport request

        @hub_method(permission_classes=[IsAdminUser | IsModerator])   # each call
        async def Kick(self, connection_id: str) -> None: ...

``has_permission(request, view)`` gets, for a hub, a :class:`ConnectionRequest` (the connection request as
DRF code reads a request: ``user``, ``auth``, ``headers``, ``COOKIES``, ``query_params``, ``META``; plus
``hub_method`` and ``arguments`` of the call) and the hub class as ``view``; for an SSE view, DRF's
``Request`` and the view. It may be ``async def`` (for hubs and SSE views; DRF views call it synchronously).
A sync one runs in a worker thread, where it may use the ORM, except DRF's ``AllowAny``, ``IsAuthenticated``,
``IsAdminUser`` and ``IsAuthenticatedOrReadOnly``, which run inline. Raising ``PermissionDenied`` (Django's
or DRF's), ``NotAuthenticated`` or ``AuthenticationFailed`` refuses.

A refused connection request gets 401 (anonymous user) or 403 (authenticated); a refused call gets
``Failed to invoke 'X' because user is unauthorized``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import QueryDict
from django.utils.datastructures import CaseInsensitiveMapping
from rest_framework import exceptions
from rest_framework.permissions import (
    AND,
    NOT,
    OR,
    AllowAny,
    BasePermission,
    DjangoModelPermissions,
    IsAdminUser,
    IsAuthenticated,
    IsAuthenticatedOrReadOnly,
    OperandHolder,
    SingleOperandHolder,
)

from .request import RequestInfo

__all__ = [
    "AllowAny",
    "BasePermission",
    "ConnectionRequest",
    "IsAdminUser",
    "IsAuthenticated",
    "IsAuthenticatedOrReadOnly",
    "allowed",
    "check_permissions",
    "refuses_anonymous",
]

CONNECTION_METHOD = "GET"

_REFUSALS = (
    DjangoPermissionDenied,
    exceptions.PermissionDenied,
    exceptions.NotAuthenticated,
    exceptions.AuthenticationFailed,
)
_INLINE = {
    cls.has_permission for cls in (BasePermission, AllowAny, IsAuthenticated, IsAdminUser, IsAuthenticatedOrReadOnly)
}
"""``has_permission`` functions that read attributes only: no thread hop for them."""

MIGRATION = (
    "{name}.has_permission(access, hub) is the signature of realtime's former permission classes; they are "
    "Django REST framework's now. Write has_permission(self, request, view): request.user, request.user_id, "
    "request.auth (the token's claims), request.headers, request.COOKIES and request.query_params replace "
    "access.user, access.user_id and access.request; request.hub_method (None while connecting) and "
    "request.arguments replace access.method and access.arguments (request.method is now the HTTP method, "
    "'GET'); view is the hub class (or the SSE view)."
)


class ConnectionRequest:
    """A hub connection as DRF permission classes read a request (read-only).

    The user, token claims (``auth``), headers, cookies and query are those of the request that opened the
    connection. ``method`` is ``"GET"``, the method of that request (a WebSocket upgrade, a Server-Sent Events
    or long-polling GET), also when negotiate (a POST) or a later request of the connection is checked, so
    every request of one connection gets the same answer. ``hub_method`` names the hub method called
    (``None`` while connecting), ``arguments`` are its arguments.
    """

    __slots__ = ("user", "user_id", "auth", "info", "hub_method", "arguments", "_query", "_meta")

    method = CONNECTION_METHOD

    def __init__(
        self,
        user: Any,
        user_id: str | None = None,
        info: RequestInfo | None = None,
        *,
        auth: Any = None,
        hub_method: str | None = None,
        arguments: list[Any] | None = None,
    ) -> None:
        self.user = user
        self.user_id = user_id
        self.auth = auth
        """The claims of the connection's access token (a dict), ``None`` without one."""
        self.info = info or RequestInfo()
        self.hub_method = hub_method
        self.arguments = arguments if arguments is not None else []
        self._query: QueryDict | None = None
        self._meta: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        """The path of the connection request."""
        return self.info.path

    @property
    def headers(self) -> CaseInsensitiveMapping[str]:
        """Header values by case-insensitive name, as ``HttpRequest.headers``."""
        return CaseInsensitiveMapping(self.info.headers)

    @property
    def COOKIES(self) -> dict[str, str]:  # noqa: N802  (Django's name)
        """Cookie values by name."""
        return self.info.cookies

    @property
    def query_params(self) -> QueryDict:
        """The query, as DRF's ``request.query_params`` (also ``GET``)."""
        if self._query is None:
            self._query = QueryDict(self.info.query_string.decode("latin-1"))
        return self._query

    GET = query_params

    @property
    def META(self) -> dict[str, Any]:  # noqa: N802  (Django's name)
        """A WSGI-style environ: ``HTTP_*`` headers, ``REQUEST_METHOD``, ``PATH_INFO``, ``QUERY_STRING``,
        ``REMOTE_ADDR``."""
        if self._meta is None:
            meta: dict[str, Any] = {
                "REQUEST_METHOD": self.method,
                "PATH_INFO": self.info.path,
                "QUERY_STRING": self.info.query_string.decode("latin-1"),
                "REMOTE_ADDR": self.info.client or "",
            }
            for name, value in self.info.headers.items():
                key = name.upper().replace("-", "_")
                meta[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
            self._meta = meta
        return self._meta

    def __repr__(self) -> str:
        return f"<ConnectionRequest {self.info.path!r} user={self.user_id!r} hub_method={self.hub_method!r}>"


# -- evaluation ------------------------------------------------------------------------------------------

_kinds: dict[Any, str] = {}


def _kind(permission: Any) -> str:
    """How to call a permission class: ``"inline"``, ``"thread"`` or ``"async"``; refuses the former API."""
    found = _kinds.get(permission)
    if found is None:
        function = getattr(permission, "has_permission", None)
        if not callable(function):
            raise ImproperlyConfigured(f"{permission!r} is not a permission class: it has no has_permission().")
        parameters = list(inspect.signature(function).parameters)[1:3]
        if parameters == ["access", "hub"]:
            raise ImproperlyConfigured(MIGRATION.format(name=getattr(permission, "__qualname__", permission)))
        if function in _INLINE:
            found = "inline"
        else:
            found = "async" if inspect.iscoroutinefunction(function) else "thread"
        _kinds[permission] = found
    return found


def _leaves(permission: Any) -> Iterable[Any]:
    """The permission classes a composition (``A & B``, ``A | B``, ``~A``) is made of."""
    if isinstance(permission, OperandHolder):
        yield from _leaves(permission.op1_class)
        yield from _leaves(permission.op2_class)
    elif isinstance(permission, SingleOperandHolder):
        yield from _leaves(permission.op1_class)
    else:
        yield permission


def check_permissions(permissions: Iterable[Any], where: str) -> None:
    """``ImproperlyConfigured`` (naming ``where``) for anything in ``permissions`` that is no permission class,
    or a class written for the former ``has_permission(access, hub)``."""
    if isinstance(permissions, str) or not isinstance(permissions, Iterable):
        raise ImproperlyConfigured(f"{where}: permission_classes is a list of permission classes, not {permissions!r}.")
    for permission in permissions:
        for leaf in _leaves(permission):
            try:
                _kind(leaf)
            except ImproperlyConfigured as exc:
                raise ImproperlyConfigured(f"{where}: {exc}") from None


async def _leaf_allows(permission: Any, request: Any, view: Any) -> bool:
    if permission is AllowAny:  # the default: allows every request, whatever the request is
        return True
    if _kind(permission) == "thread":
        verdict = await database_sync_to_async(permission().has_permission)(request, view)
    else:
        verdict = permission().has_permission(request, view)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return bool(verdict)


async def _allows(permission: Any, request: Any, view: Any) -> bool:
    """One permission class or composition, evaluated as DRF does (short-circuit), awaiting async ones."""
    if isinstance(permission, OperandHolder) and permission.operator_class is AND:
        return await _allows(permission.op1_class, request, view) and await _allows(permission.op2_class, request, view)
    if isinstance(permission, OperandHolder) and permission.operator_class is OR:
        return await _allows(permission.op1_class, request, view) or await _allows(permission.op2_class, request, view)
    if isinstance(permission, SingleOperandHolder) and permission.operator_class is NOT:
        return not await _allows(permission.op1_class, request, view)
    return await _leaf_allows(permission, request, view)


async def allowed(permissions: Iterable[Any], request: Any, view: Any) -> bool:
    """``True`` when every permission class (or composition) in ``permissions`` allows ``request`` on ``view``.

    A refusal raised anywhere (``PermissionDenied``...) refuses the whole check, as in DRF (``~`` included).
    """
    try:
        for permission in permissions:
            if not await _allows(permission, request, view):
                return False
    except _REFUSALS:
        return False
    return True


def refuses_anonymous(permission: Any) -> bool:
    """Whether ``permission`` surely refuses anonymous users (the deploy check of negotiate version 0)."""
    if isinstance(permission, OperandHolder) and permission.operator_class in (AND, OR):
        first, second = refuses_anonymous(permission.op1_class), refuses_anonymous(permission.op2_class)
        return (first or second) if permission.operator_class is AND else (first and second)
    if not isinstance(permission, type):
        return False
    if issubclass(permission, DjangoModelPermissions):
        return bool(permission.authenticated_users_only)
    return issubclass(permission, (IsAuthenticated, IsAdminUser))


def __getattr__(name: str) -> Any:
    if name == "AccessRequest":
        raise ImportError(
            "realtime.permissions.AccessRequest is gone: permission classes are Django REST framework's and get "
            "a request-like realtime.permissions.ConnectionRequest. " + MIGRATION.format(name="Your permission")
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
