"""The ``Hub`` base class.

Exposure rule: every public (not ``_``-prefixed) ``async def`` method and async generator defined on a
``Hub`` subclass is callable by clients under its Python name, matched case-sensitively. Names defined
by ``Hub`` itself (``on_connected``, ``context``...) never are. ``@hub_method(name=...)`` renames a
method or exposes a plain ``def`` (run in a worker thread). An async generator is a server-to-client
stream; a parameter annotated ``AsyncIterator[...]`` receives a client-to-server stream.

Mistakes that the rule turns into silence (a public plain ``def``, two methods under one wire name, names
that differ only in case) are reported by system checks (``realtime.checks``) and, for a name a client
called, by :func:`unknown_method_hint`.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import typing
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from . import names
from .clients import Client, ClientT, HubCallerClients
from .conf import hub_option, realtime_settings
from .connection import current_invocation
from .groups import GroupManager
from .methods import HubMethod, hub_method, wire_name
from .naming import policy as naming_policy
from .permissions import check_permissions
from .presence import HubPresence
from .protocol.base import HubProtocol

if TYPE_CHECKING:
    from .connection import HubConnection
    from .request import RequestInfo

__all__ = ["Hub", "HubCallerContext", "hub_method"]

_protocol_cache: dict[type, list[HubProtocol]] = {}
setting_changed.connect(lambda **kwargs: _protocol_cache.clear(), weak=False)


class HubCallerContext:
    """What hub code knows about the calling connection (``self.context``)."""

    __slots__ = ("_connection",)

    def __init__(self, connection: HubConnection) -> None:
        self._connection = connection

    @property
    def connection_id(self) -> str:
        """The public connection id (``connection.connectionId`` on the client)."""
        return self._connection.connection_id

    @property
    def user(self) -> Any:
        """The authenticated user of the connection request, or ``AnonymousUser``/``None``."""
        return self._connection.user

    @property
    def user_identifier(self) -> str | None:
        """The identifier ``clients.user()`` addresses, or ``None`` when anonymous."""
        return self._connection.user_id

    @property
    def claims(self) -> Mapping[str, Any]:
        """The claims of the access token the connection was opened with (empty without a JWT)."""
        return self._connection.claims

    @property
    def request(self) -> RequestInfo:
        """Headers, cookies and query of the connection request (never the negotiate request)."""
        return self._connection.request

    @property
    def items(self) -> dict[Any, Any]:
        """Per-connection storage shared by every invocation of this connection."""
        return self._connection.items

    @property
    def transport(self) -> str:
        """``WebSockets``, ``ServerSentEvents`` or ``LongPolling``."""
        return self._connection.transport.name

    @property
    def protocol(self) -> str:
        """The hub protocol name: ``json`` or ``messagepack``."""
        protocol = self._connection.protocol
        return protocol.name if protocol else ""

    def in_group(self, name: str) -> bool:
        """Whether the connection is in hub group ``name``."""
        return names.group(self._connection.hub.hub_name(), name) in self._connection.hub_groups

    def abort(self) -> None:
        """Close the connection from the server side, once the current invocation has answered."""
        connection = self._connection
        invocation = current_invocation.get()

        async def abort_after_invocation() -> None:
            if invocation is not None:
                await asyncio.wait([invocation])
            await connection.abort()

        connection.spawn(abort_after_invocation())


class Hub(Generic[ClientT]):
    """Base class of hubs: subclass it and write async methods clients can call.

    One instance is created per invocation (and per ``on_connected``/``on_disconnected`` call); keep
    per-connection state in ``self.context.items``. Per-hub options override ``REALTIME`` settings.

    Typed hubs name their clients' methods with a ``typing.Protocol`` (``class ChatHub(Hub[ChatClient])``):
    ``self.clients.group(g).receive_message(user, text)`` then sends ``ReceiveMessage`` (as ``naming`` spells
    it), and type checkers check the name, the arguments and the ``await``.
    """

    protocols: ClassVar[list[str] | None] = None
    transports: ClassVar[list[str] | None] = None
    handshake_timeout: ClassVar[float | None] = None
    keep_alive_interval: ClassVar[float | None] = None
    client_timeout: ClassVar[float | None] = None
    max_message_size: ClassVar[int | None] = None
    stream_buffer_capacity: ClassVar[int | None] = None
    max_parallel_invocations: ClassVar[int | None] = None
    max_queued_invocations: ClassVar[int | None] = None
    max_streams: ClassVar[int | None] = None
    max_upload_streams: ClassVar[int | None] = None
    max_groups: ClassVar[int | None] = None
    min_negotiate_version: ClassVar[int | None] = None
    max_outbound_bytes: ClassVar[int | None] = None
    client_result_timeout: ClassVar[float | None] = None
    detailed_errors: ClassVar[bool | None] = None
    max_pending_client_results: ClassVar[int | None] = None
    permission_classes: ClassVar[list[Any] | None] = None
    """DRF permission classes checked on negotiate and every transport request (``realtime.permissions``);
    ``None`` = ``DEFAULT_PERMISSION_CLASSES``."""
    filters: ClassVar[list[Any] | None] = None
    """Hub filters run after the global ``HUB_FILTERS`` (see ``realtime.filters``)."""
    track_presence: ClassVar[bool | None] = None
    """Keep presence entries of this hub's connections and announce group changes (``TRACK_PRESENCE``)."""
    presence_event: ClassVar[str | None] = None
    """Client method that receives presence diffs (``PRESENCE_EVENT``: ``PresenceChanged``); ``""`` sends none."""

    naming: ClassVar[str | Callable[[str], str] | None] = None
    """How Python names are spelt on the wire (``NAMING``: ``"exact"``, ``"pascal"``, ``"camel"`` or a callable),
    for hub methods and for the client methods of typed proxies; see ``realtime.naming``."""

    hub_methods: ClassVar[dict[str, HubMethod]] = {}
    """Wire name -> hub method; calls find them case-insensitively (:meth:`find_method`)."""
    _methods_folded: ClassVar[dict[str, HubMethod]] = {}
    client_protocol: ClassVar[type | None] = None
    """The protocol of the clients' methods (``Hub[ChatClient]``), or ``None`` for an untyped hub."""
    _client_methods: ClassVar[dict[str, tuple[str, bool]] | None] = None

    def __init__(self, connection: HubConnection) -> None:
        self._connection = connection

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.hub_methods = _collect_methods(cls)
        cls.client_protocol = _client_protocol(cls)
        cls._client_methods = None
        cls._methods_folded = {}
        for name, method in cls.hub_methods.items():
            cls._methods_folded.setdefault(name.lower(), method)  # names differing in case: W042 reports them
        if cls.permission_classes is not None:
            check_permissions(cls.permission_classes, f"{cls.__qualname__}.permission_classes")
        for method in cls.hub_methods.values():
            check_permissions(method.permission_classes, f"{cls.__qualname__}.{method.name}")

    @classmethod
    def client_method(cls, name: str) -> tuple[str, bool]:
        """``(wire name, returns a value)`` of method ``name`` of :attr:`client_protocol`; ``AttributeError``
        for any other name (untyped hubs: use ``send(name, *args)``)."""
        if cls._client_methods is None:
            cls._client_methods = _client_methods(cls)
        found = cls._client_methods.get(name)
        if found is None:
            protocol = cls.client_protocol.__qualname__ if cls.client_protocol is not None else None
            where = f"a method of {protocol}" if protocol else f"known: {cls.__qualname__} declares no client protocol"
            raise AttributeError(f"{name!r} is not {where}; call send({name!r}, ...) for a method of no protocol")
        return found

    @classmethod
    def find_method(cls, target: str) -> HubMethod | None:
        """The hub method a client calls as ``target``: its wire name in any case, as in ASP.NET."""
        return cls.hub_methods.get(target) or cls._methods_folded.get(target.lower())

    @classmethod
    def wire_name_for(cls, attr: str) -> str:
        """How the Python name ``attr`` of a hub or client method is spelt on the wire (``naming``)."""
        return naming_policy(hub_option(cls, "NAMING"))(attr)

    @classmethod
    def unknown_method_hint(cls, target: str) -> str:
        """What a developer should know about a client calling ``target``, which this hub does not expose."""
        return unknown_method_hint(cls, target)

    @classmethod
    def hub_name(cls) -> str:
        """The hub's identity across processes (its import path)."""
        return f"{cls.__module__}.{cls.__qualname__}"

    @classmethod
    def protocol_instances(cls) -> list[HubProtocol]:
        """The hub protocols this hub speaks, configured with its maximum message size."""
        found = _protocol_cache.get(cls)
        if found is None:
            size = hub_option(cls, "MAX_MESSAGE_SIZE")
            found = _protocol_cache[cls] = [p(max_message_size=size) for p in hub_option(cls, "PROTOCOLS")]
        return found

    @classmethod
    def get_permission_classes(cls) -> list[Any]:
        """The permission classes every request of a connection to this hub must pass."""
        if cls.permission_classes is not None:
            return list(cls.permission_classes)
        return list(realtime_settings.DEFAULT_PERMISSION_CLASSES)

    async def can_join_group(self, connection_id: str, group: str) -> bool:
        """Whether ``self.groups.add(connection_id, group)`` may proceed; refusals raise ``PermissionDenied``.

        Override to restrict groups (e.g. by ``self.context.user``); the default allows every group.
        """
        return True

    @cached_property
    def context(self) -> HubCallerContext:
        """The calling connection: id, user, request, items."""
        return HubCallerContext(self._connection)

    @cached_property
    def clients(self) -> HubCallerClients[ClientT]:
        """Targets to call client methods on: ``caller``, ``others``, ``all``, ``group(name)``..."""
        return HubCallerClients(type(self), self._connection.connection_id)

    @cached_property
    def groups(self) -> GroupManager:
        """Add connections to groups (subject to :meth:`can_join_group`) and remove them."""
        return GroupManager(type(self), guard=self.can_join_group)

    @cached_property
    def presence(self) -> HubPresence:
        """Who is connected, to the hub and to its groups, across processes (hubs with ``track_presence``)."""
        return HubPresence(type(self))

    async def presence_metadata(self) -> dict[str, Any]:
        """Metadata for the connection's presence entries, asked once when it connects (presence hubs only).

        Override to add e.g. a display name; a JSON object of at most ``PRESENCE_MAX_METADATA_SIZE`` bytes.
        """
        return {}

    async def on_connected(self) -> None:
        """Called when a client connected (after the handshake), before any of its invocations run."""

    async def on_disconnected(self, exception: Exception | None) -> None:
        """Called when the connection ended: ``exception`` is ``None`` for a clean close.

        Group memberships are removed afterwards automatically.
        """


_RESERVED = frozenset(name for name in vars(Hub) if not name.startswith("_")) | {"hub_methods"}


def _exposed_name(cls: type[Hub], attr: str, func: Any) -> str | None:
    """The wire name of class attribute ``attr`` if it is a hub method of ``cls``, else ``None``."""
    name = wire_name(func)
    if name is None:
        public = not attr.startswith("_") and attr not in _RESERVED
        is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        return cls.wire_name_for(attr) if public and is_async else None
    if attr in _RESERVED or name in _RESERVED or name.startswith("_"):
        raise ImproperlyConfigured(f"Hub method {func.__qualname__}: the name {name!r} is reserved")
    return name


def _collect_methods(cls: type[Hub]) -> dict[str, HubMethod]:
    """Find the exposed methods of ``cls`` and its hub bases; a subclass attribute overrides its base's."""
    found: dict[str, HubMethod] = {}
    by_attr: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, Hub) or klass is Hub:
            continue
        own: set[str] = set()
        for attr, func in vars(klass).items():
            if attr in by_attr:
                found.pop(by_attr.pop(attr), None)
            name = _exposed_name(cls, attr, func)
            if name is None:
                continue
            if name in own:
                raise ImproperlyConfigured(
                    f"{klass.__qualname__}: two methods are exposed as {name!r}; rename one with @hub_method(name=...)"
                )
            own.add(name)
            try:
                found[name] = HubMethod(name, func)
            except TypeError as exc:
                raise ImproperlyConfigured(f"{klass.__qualname__}.{attr}: {exc}") from exc
            by_attr[attr] = name
    return found


def _client_protocol(cls: type[Hub]) -> type | None:
    """The ``X`` of ``Hub[X]`` among ``cls``'s bases (or inherited from a typed hub)."""
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Hub):
            arguments = typing.get_args(base)
            if arguments and isinstance(arguments[0], type):
                return arguments[0]
    return next((base.client_protocol for base in cls.__mro__[1:] if vars(base).get("client_protocol")), None)


def client_functions(cls: type[Hub]) -> dict[str, Callable[..., Any]]:
    """Python name -> function of each method of the client protocol of ``cls`` (those of ``Client`` left out),
    bases first; empty for an untyped hub."""
    protocol = cls.client_protocol
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(protocol.__mro__ if protocol is not None else ()):
        if klass in (object, Generic) or klass.__module__ in ("typing", "typing_extensions") or klass is Client:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and inspect.isfunction(value):
                found[name] = value
    return found


def _client_methods(cls: type[Hub]) -> dict[str, tuple[str, bool]]:
    """Python name -> (wire name, returns a value) of each method of the client protocol of ``cls``."""
    found = {}
    for name, value in client_functions(cls).items():
        returns = HubMethod._hints(value).get("return")
        found[name] = (cls.wire_name_for(name), returns not in (None, type(None), "None"))
    return found


def _is_plain_function(value: Any) -> bool:
    """A plain ``def`` (neither a coroutine function nor an async generator)."""
    return inspect.isfunction(value) and not (inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value))


def is_unexposed_function(attr: str, value: Any) -> bool:
    """Whether class attribute ``attr`` is a public plain ``def`` that the exposure rule leaves out."""
    return not attr.startswith("_") and attr not in _RESERVED and _is_plain_function(value) and wire_name(value) is None


def hub_attributes(cls: type[Hub]) -> dict[str, tuple[type[Hub], Any]]:
    """Each attribute of the hub classes of ``cls`` (``Hub`` itself left out), as attribute lookup finds it:
    name -> (defining class, value)."""
    found: dict[str, tuple[type[Hub], Any]] = {}
    for klass in cls.__mro__:
        if isinstance(klass, type) and issubclass(klass, Hub) and klass is not Hub:
            for attr, value in vars(klass).items():
                found.setdefault(attr, (klass, value))
    return found


def exposers(cls: type[Hub]) -> dict[str, list[str]]:
    """Wire name -> the qualified names (``Class.attr``) of every method of ``cls`` exposed under it.

    More than one means all but one are unreachable (a subclass's method took a base's wire name, say).
    """
    found: dict[str, list[str]] = {}
    for attr, (klass, value) in hub_attributes(cls).items():
        try:
            name = _exposed_name(cls, attr, value)
        except ImproperlyConfigured:  # refused when its class was created
            continue
        if name is not None:
            found.setdefault(name, []).append(f"{klass.__qualname__}.{attr}")
    return found


def unknown_method_hint(cls: type[Hub], target: str) -> str:
    """What a developer should know about a client calling ``target``, which ``cls`` does not expose."""
    found = hub_attributes(cls).get(target)
    if found is not None:
        klass, value = found
        where = f"{klass.__qualname__}.{target}"
        if is_unexposed_function(target, value):
            return f"{where} is a plain def, which clients cannot call: make it async def, or use @hub_method"
        renamed = wire_name(value)
        if renamed is not None and renamed != target:
            return f"{where} is exposed as {renamed!r}"
    exposed = list(cls.hub_methods)
    close = difflib.get_close_matches(target, exposed, n=1)
    if close:
        return f"the closest hub method is {close[0]!r}"
    return f"its hub methods are {', '.join(sorted(exposed))}" if exposed else "it exposes no hub methods"
