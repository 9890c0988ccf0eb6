"""Push from models and views: model changes and explicit broadcasts, sent once the transaction commits.

::

    # shop/apps.py, in ready()
    broadcast_model(Order, hub=ShopHub, groups=lambda order: [f"orders-{order.pk}", "orders"],
                    payload=["id", "status", "total"])          # or a function, or a DRF serializer class

    # anywhere in sync code: a view, a Celery task, a bulk path that skips model signals
    broadcast(ShopHub, "Announcement", {"text": "sale"}, groups=["orders"])
    # in async code: an async view, a hub method
    await abroadcast(ShopHub, "Announcement", {"text": "sale"}, groups=["orders"])

Client methods of model events are ``"<app_label>.<Model>.created"``, ``".updated"`` and ``".deleted"``,
called with the payload. Inside ``transaction.atomic`` a push waits for the commit and is dropped by a
rollback (savepoints included); in autocommit it goes at once. Requests that carry the
``X-Realtime-Connection-Id`` header (:class:`ConnectionIdMiddleware`) skip that connection: "to others".

The async twins (:func:`abroadcast`, :meth:`ModelBroadcaster.abroadcast`) look for the open transaction where
their context's sync code runs (``sync_to_async``): the block around an ``async_to_sync`` call they run in.

Errors: bad registrations raise when declared; an unserializable payload or a failed send raises at the
call site of :func:`broadcast`/:meth:`ModelBroadcaster.broadcast` (and their twins), and is logged (logger
``realtime.broadcasting``) for model signals and for sends deferred to a commit. A save is never undone
or interrupted by a broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models.signals import post_delete, post_save
from django.db.transaction import TransactionManagementError

from . import names
from .clients import ClientProxy, encode_invocation, run_sync
from .context import resolve_hub
from .exceptions import BroadcastError
from .modelvalues import StoredValues
from .protocol.base import Frame

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from .hubs import Hub

logger = logging.getLogger("realtime.broadcasting")

__all__ = [
    "ACTIONS",
    "CONNECTION_ID_HEADER",
    "ConnectionIdMiddleware",
    "ModelBroadcaster",
    "abroadcast",
    "broadcast",
    "broadcast_model",
    "broadcasters_for",
    "connection_id_of",
    "current_sender",
    "sender",
]

ACTIONS = ("created", "updated", "deleted")
CONNECTION_ID_HEADER = "X-Realtime-Connection-Id"
"""Request header naming the caller's hub connection; the JS client's ``connection.fetch()`` adds it."""

_VALID_ID = re.compile(r"[A-Za-z0-9_.:=+/-]{1,128}")
_sender: contextvars.ContextVar[str | None] = contextvars.ContextVar("realtime_sender", default=None)


# --- "to others": the connection that made the current request --------------------------------------------


def current_sender() -> str | None:
    """The connection id broadcasts of the current request (or :func:`sender` block) skip, if any."""
    return _sender.get()


@contextlib.contextmanager
def sender(connection_id: str | None) -> Iterator[None]:
    """Within the block, broadcasts skip ``connection_id`` (e.g. in a task started for that connection)."""
    token = _sender.set(connection_id or None)
    try:
        yield
    finally:
        _sender.reset(token)


def connection_id_of(request: HttpRequest) -> str | None:
    """The well-formed ``X-Realtime-Connection-Id`` of ``request``, else ``None`` (malformed ids are ignored)."""
    value = request.headers.get(CONNECTION_ID_HEADER, "").strip()
    return value if _VALID_ID.fullmatch(value) else None


class ConnectionIdMiddleware:
    """Makes broadcasts made while handling a request skip the connection named by its header.

    Add ``"realtime.broadcasting.ConnectionIdMiddleware"`` to ``MIDDLEWARE``; works in sync and async stacks.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        with sender(connection_id_of(request)):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        with sender(connection_id_of(request)):
            return await self.get_response(request)


# --- sending, now or after the commit -----------------------------------------------------------------------


def _strings(values: Iterable[str], what: str) -> list[str]:
    """``values`` as a list without duplicates; ``TypeError`` for a bare str or a name that is not one."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{what} is a list of names, not the string {values!r}: write [{values!r}].")
    found = list(dict.fromkeys(values))
    for name in found:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} holds non-empty strings, not {name!r}.")
    return found


def _proxy(hub: type[Hub], groups: list[str] | None, exclude: Iterable[str]) -> ClientProxy:
    """The hub's ``groups`` (every connection when ``None``) minus ``exclude`` and the current sender."""
    skipped = _strings([*_strings(exclude, "exclude"), *filter(None, [current_sender()])], "exclude")
    if groups is None:
        return ClientProxy(hub, [names.hub_all(hub.hub_name())], skipped)
    return ClientProxy(hub, [names.group(hub.hub_name(), name) for name in groups], skipped)


Push = tuple[ClientProxy, dict[str, Frame], str]
"""Who, the encoded invocation, and a description for errors."""


async def _send_all(pushes: list[Push]) -> None:
    for index, (proxy, frames, description) in enumerate(pushes):
        try:
            await proxy.asend_frames(frames)
        except Exception as exc:
            sent = f" ({index} of {len(pushes)} sent)" if len(pushes) > 1 else ""
            raise BroadcastError(f"Could not broadcast {description}{sent}: {type(exc).__name__}: {exc}") from exc


def _send_now(pushes: list[Push], *, strict: bool) -> None:
    """Send; raise :class:`BroadcastError` when ``strict``, else log it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        try:
            run_sync(_send_all, pushes)
        except BroadcastError as exc:
            if strict:
                raise
            logger.error("%s", exc, exc_info=exc.__cause__)
        return
    error = BroadcastError(
        f"Could not broadcast {pushes[0][2]}: broadcast() is sync code and cannot run inside an event loop; "
        "use 'await abroadcast(...)' (or 'await broadcaster.abroadcast(...)') there."
    )
    if strict:
        raise error
    logger.error("%s", error)


def _defer(pushes: list[Push], using: str | None) -> bool:
    """Send ``pushes`` after the commit of the atomic block open on database ``using`` in this thread: ``True``.

    ``False`` in autocommit (the caller sends now); ``TransactionManagementError`` in manual transaction
    management. Django drops the callback when the block, or the savepoint it was registered in, rolls back;
    failures to send after the commit are logged.
    """
    alias = using or DEFAULT_DB_ALIAS
    connection = transaction.get_connection(alias)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _send_now(pushes, strict=False), using=alias, robust=True)
        return True
    if connection.connection is not None and not connection.autocommit:  # set_autocommit(False): no hook
        raise TransactionManagementError(
            f"Cannot broadcast {pushes[0][2]}: database {alias!r} is in manual transaction management, so "
            "the commit cannot be awaited; write inside transaction.atomic(), or broadcast after commit()."
        )
    return False


def _dispatch(pushes: list[Push], using: str | None, *, strict: bool) -> None:
    """After the commit of the open transaction on database ``using`` (failures logged), or now in autocommit."""
    if not pushes:
        return
    try:
        deferred = _defer(pushes, using)
    except TransactionManagementError as error:
        if strict:
            raise
        logger.error("%s; nothing was sent", error)
        return
    if not deferred:
        _send_now(pushes, strict=strict)


async def _adispatch(prepare: Callable[[], list[Push]], using: str | None) -> None:
    """The async :func:`_dispatch`: ``prepare()`` the pushes and look for an open atomic block in the thread
    ``sync_to_async`` runs this context's sync code in (where its database connection is), then send now
    unless they wait for that block's commit."""

    def prepared() -> list[Push]:
        pushes = prepare()
        return [] if not pushes or _defer(pushes, using) else pushes

    await _send_all(await sync_to_async(prepared)())


def _describe(hub: type[Hub], method: str, groups: Iterable[str] | None) -> str:
    where = "every connection" if groups is None else f"groups {list(groups)!r}"
    return f"{method!r} to {where} of {hub.__qualname__}"


def broadcast(
    hub: type[Hub] | str,
    method: str,
    *args: Any,
    groups: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    using: str | None = None,
) -> None:
    """Call client method ``method(*args)`` on the members of ``groups`` of ``hub`` (all its connections
    when ``groups`` is ``None``), minus ``exclude`` and the current request's sender.

    Inside ``transaction.atomic`` on database ``using`` (``"default"`` when ``None``, as for Django's
    ``on_commit``) the push is sent after the commit, not at all after a rollback, and a failure to send
    is logged; in autocommit it is sent now and failures raise :class:`BroadcastError`. Arguments are
    encoded here: ``TypeError`` for a value no hub protocol can carry, for ``groups``/``exclude`` that
    are not lists of names, and for a ``hub`` that is not a ``Hub``.
    """
    _dispatch([_broadcast_push(hub, method, args, groups, exclude)], using, strict=True)


async def abroadcast(
    hub: type[Hub] | str,
    method: str,
    *args: Any,
    groups: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    using: str | None = None,
) -> None:
    """Async twin of :func:`broadcast`: the same targets, "to others" skip, encoding and errors.

    The commit it waits for is that of the ``transaction.atomic`` block open on database ``using`` where
    this context's sync code runs (the thread of its ``sync_to_async`` calls and of Django's async ORM
    methods): async code called through ``async_to_sync`` inside an atomic block waits for that block's
    commit, and a rollback drops the push. Elsewhere (an async view, a hub method: atomic blocks are sync and
    none is open there) it is sent now, and a failure raises :class:`BroadcastError`.
    """
    push = _broadcast_push(hub, method, args, groups, exclude)
    await _adispatch(lambda: [push], using)


def _broadcast_push(
    hub: type[Hub] | str, method: str, args: Iterable[Any], groups: Iterable[str] | None, exclude: Iterable[str]
) -> Push:
    """The push of one :func:`broadcast`, encoded now (its errors raise at the call site)."""
    resolved = resolve_hub(hub)
    group_list = None if groups is None else _strings(groups, "groups")
    proxy = _proxy(resolved, group_list, exclude)
    frames = encode_invocation(resolved, method, args)
    return proxy, frames, _describe(resolved, method, group_list)


# --- model broadcasting -------------------------------------------------------------------------------------

GroupsSpec = Callable[[Any], Iterable[str]] | Iterable[str] | None
PayloadSpec = Callable[[Any], Any] | Iterable[str] | type | None


def _fields_payload(model: type[models.Model], field_names: Iterable[str]) -> Callable[[Any], dict[str, Any]]:
    """``{name: value}``: concrete fields as the database returns them (:mod:`realtime.modelvalues`; a foreign
    key gives its id), other names as the attribute's value."""
    names = list(dict.fromkeys(field_names))
    fields: dict[str, models.Field] = {}
    attributes: list[str] = []
    for name in names:
        try:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        except FieldDoesNotExist:
            if not hasattr(model, name):
                message = f"broadcast_model({model.__name__}): no field or attribute {name!r}."
                raise ImproperlyConfigured(message) from None
            attributes.append(name)
            continue
        if field.many_to_many or field.one_to_many or not getattr(field, "concrete", False):
            raise ImproperlyConfigured(
                f"broadcast_model({model.__name__}): {name!r} is not a concrete field; use a payload function."
            )
        fields[name] = field
    stored = StoredValues(model, fields)

    def payload(instance: Any) -> dict[str, Any]:
        values = {**stored(instance), **{name: getattr(instance, name) for name in attributes}}
        return {name: values[name] for name in names}

    return payload


def _payload_builder(model: type[models.Model], spec: PayloadSpec) -> Callable[[Any], Any]:
    if spec is None:
        return _fields_payload(model, [f.name for f in model._meta.concrete_fields])
    if isinstance(spec, type) and hasattr(spec, "to_representation"):  # a DRF serializer class
        return lambda instance: spec(instance).data
    if callable(spec):
        return spec
    if isinstance(spec, Iterable) and not isinstance(spec, str | bytes):
        return _fields_payload(model, list(spec))
    raise ImproperlyConfigured(
        f"broadcast_model({model.__name__}): payload must be field names, a function or a serializer class."
    )


class ModelBroadcaster:
    """Broadcasts one model's creates, updates and deletes to hub groups (made by :func:`broadcast_model`).

    Follows ``post_save`` and ``post_delete``: ``QuerySet.delete()`` is seen (Django sends the signals once
    they are connected), ``bulk_create``, ``QuerySet.update()`` and ``bulk_update`` are not; call
    :meth:`broadcast` for those.
    """

    def __init__(
        self,
        model: type[models.Model],
        *,
        hub: type[Hub] | str,
        groups: GroupsSpec = None,
        payload: PayloadSpec = None,
        actions: Iterable[str] = ACTIONS,
        event_prefix: str | None = None,
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise TypeError(f"broadcast_model() needs a model class, not {model!r}.")
        self.model = model
        self._hub_spec = hub
        self._hub: type[Hub] | None = None
        if not isinstance(hub, str):
            self._hub = resolve_hub(hub)
        if groups is not None and not callable(groups):
            try:
                groups = _strings(groups, "groups")
            except TypeError as exc:
                raise ImproperlyConfigured(f"broadcast_model({model.__name__}): {exc}") from None
        self._groups = groups
        self._payload = _payload_builder(model, payload)
        self.actions = tuple(actions)
        unknown = set(self.actions) - set(ACTIONS)
        if unknown:
            raise ImproperlyConfigured(f"broadcast_model({model.__name__}): unknown actions {sorted(unknown)}.")
        self.event_prefix = event_prefix or f"{model._meta.app_label}.{model._meta.object_name}"
        self._uid = f"realtime.broadcasting:{model._meta.label}:{id(self)}"

    @property
    def hub(self) -> type[Hub]:
        """The hub, imported on first use when given as a path."""
        if self._hub is None:
            self._hub = resolve_hub(self._hub_spec)
        return self._hub

    @property
    def hub_path(self) -> str:
        """The hub's import path (its ``hub_name()``), without importing it."""
        return self._hub_spec if isinstance(self._hub_spec, str) else self._hub_spec.hub_name()

    def event(self, action: str) -> str:
        """The client method of ``action``: ``"<app_label>.<Model>.<action>"``."""
        return f"{self.event_prefix}.{action}"

    def groups_for(self, instance: Any) -> list[str] | None:
        """The groups ``instance``'s events go to (``None``: every connection of the hub)."""
        if self._groups is None:
            return None
        return _strings(self._groups(instance) if callable(self._groups) else self._groups, "groups")

    def payload_for(self, instance: Any) -> Any:
        """The value sent with ``instance``'s events."""
        return self._payload(instance)

    def _push(self, instance: Any, action: str, exclude: Iterable[str]) -> Push:
        """Groups, payload and encoding of one event, computed now (a deleted row's data is still here)."""
        hub = self.hub
        groups = self.groups_for(instance)
        method = self.event(action)
        frames = encode_invocation(hub, method, [self.payload_for(instance)])
        return _proxy(hub, groups, exclude), frames, _describe(hub, method, groups) + f" for {instance!r}"

    def broadcast(
        self, instances: Iterable[Any], action: str, *, exclude: Iterable[str] = (), using: str | None = None
    ) -> None:
        """Send ``action`` events for ``instances`` (the paths without signals: ``bulk_create``, ``update()``).

        Same timing as :func:`broadcast`; payload and group errors raise here.
        """
        _dispatch(self._pushes(instances, action, exclude), using, strict=True)

    async def abroadcast(
        self, instances: Iterable[Any], action: str, *, exclude: Iterable[str] = (), using: str | None = None
    ) -> None:
        """Async twin of :meth:`broadcast`, with the timing of :func:`abroadcast`.

        ``instances`` (a queryset too), payloads and groups are read in the thread ``sync_to_async`` uses, so
        they may touch the database.
        """
        await _adispatch(lambda: self._pushes(instances, action, exclude), using)

    def _pushes(self, instances: Iterable[Any], action: str, exclude: Iterable[str]) -> list[Push]:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}.")
        excluded = _strings(exclude, "exclude")
        return [self._push(instance, action, excluded) for instance in instances]

    def _on_signal(self, instance: Any, action: str, using: str) -> None:
        if action not in self.actions:
            return
        try:
            push = self._push(instance, action, ())
        except Exception:
            logger.exception("Could not build the %s event of %r; nothing was sent", self.event(action), instance)
            return
        _dispatch([push], using, strict=False)

    def _on_save(self, sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
        if not raw:  # fixtures (loaddata) are not changes anybody watches
            self._on_signal(instance, "created" if created else "updated", kwargs.get("using") or DEFAULT_DB_ALIAS)

    def _on_delete(self, sender: Any, instance: Any, **kwargs: Any) -> None:
        self._on_signal(instance, "deleted", kwargs.get("using") or DEFAULT_DB_ALIAS)

    def connect(self) -> ModelBroadcaster:
        """Follow the model's signals (done by :func:`broadcast_model`)."""
        post_save.connect(self._on_save, sender=self.model, weak=False, dispatch_uid=self._uid)
        post_delete.connect(self._on_delete, sender=self.model, weak=False, dispatch_uid=self._uid)
        if self not in _broadcasters:
            _broadcasters.append(self)
        return self

    def disconnect(self) -> None:
        """Stop following the model's signals."""
        post_save.disconnect(sender=self.model, dispatch_uid=self._uid)
        post_delete.disconnect(sender=self.model, dispatch_uid=self._uid)
        if self in _broadcasters:
            _broadcasters.remove(self)


_broadcasters: list[ModelBroadcaster] = []


def broadcast_model(
    model: type[models.Model],
    *,
    hub: type[Hub] | str,
    groups: GroupsSpec = None,
    payload: PayloadSpec = None,
    actions: Iterable[str] = ACTIONS,
    event_prefix: str | None = None,
) -> ModelBroadcaster:
    """Broadcast ``model``'s creates, updates and deletes to ``hub``, each after its transaction commits.

    ``groups``: names, or ``instance -> names``; ``None`` sends to every connection of the hub.
    ``payload``: field names (default: every concrete field; a foreign key sends its id), a function
    ``instance -> value``, or a DRF serializer class. ``actions``: a subset of :data:`ACTIONS`.
    ``event_prefix``: replaces ``"<app_label>.<Model>"`` in the event names. Call it once per model and
    hub, e.g. in ``AppConfig.ready()``; registering the same pair twice raises ``ImproperlyConfigured``.
    """
    broadcaster = ModelBroadcaster(
        model, hub=hub, groups=groups, payload=payload, actions=actions, event_prefix=event_prefix
    )
    if any(existing.hub_path == broadcaster.hub_path for existing in broadcasters_for(model)):
        raise ImproperlyConfigured(f"{model.__name__} is already broadcast to {broadcaster.hub_path}.")
    return broadcaster.connect()


def broadcasters_for(model: type[models.Model]) -> list[ModelBroadcaster]:
    """The broadcasters registered for ``model`` (e.g. to call :meth:`ModelBroadcaster.broadcast`)."""
    return [b for b in _broadcasters if b.model is model]
