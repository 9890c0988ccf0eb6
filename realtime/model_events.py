"""Model events: a model's creates, updates and deletes pushed to hub groups, each after its commit.

::

    # shop/apps.py, in ready()
    broadcast_model(Order, hub=ShopHub, groups=lambda order: [f"orders-{order.pk}", "orders"],
                    payload=["id", "status", "total"])          # or a function, or a DRF serializer class

    # a bulk path that skips model signals (bulk_create, QuerySet.update())
    broadcasters_for(Order)[0].broadcast(Order.objects.filter(pk__in=ids), "updated")

Client methods of model events are ``"<app_label>.<Model>.created"``, ``".updated"`` and ``".deleted"``,
called with the payload. Inside ``transaction.atomic`` an event waits for the commit and is dropped by a
rollback (savepoints included); in autocommit it goes at once (``realtime.transactions``). Requests that
carry the ``X-Realtime-Connection-Id`` header (``ConnectionIdMiddleware``) skip that connection.

Errors: bad registrations raise when declared; an unserializable payload or a failed send raises at the
call site of :meth:`ModelBroadcaster.broadcast` (and its twin), and is logged (logger ``realtime.push``)
for model signals and for sends deferred to a commit. A save is never undone or interrupted by an event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.signals import post_delete, post_save

from . import names
from .clients import ClientProxy, current_sender, encode_invocation
from .context import resolve_hub
from .modelvalues import StoredValues
from .protocol.base import Frame
from .transactions import after_commit

if TYPE_CHECKING:
    from .hubs import Hub

logger = logging.getLogger("realtime.push")

__all__ = ["ACTIONS", "ModelBroadcaster", "broadcast_model", "broadcasters_for"]

ACTIONS = ("created", "updated", "deleted")

Event = tuple[ClientProxy, dict[str, Frame]]
"""Who, and the encoded invocation."""


def _strings(values: Iterable[str], what: str) -> list[str]:
    """``values`` as a list without duplicates; ``TypeError`` for a bare str or a name that is not one."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{what} is a list of names, not the string {values!r}: write [{values!r}].")
    found = list(dict.fromkeys(values))
    for name in found:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} holds non-empty strings, not {name!r}.")
    return found


def _send_all(events: list[Event]) -> None:
    for proxy, frames in events:
        proxy.send_frames(frames)


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
        self._uid = f"realtime.model_events:{model._meta.label}:{id(self)}"

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

    def _event(self, instance: Any, action: str, exclude: list[str]) -> Event:
        """Groups, payload and encoding of one event, computed now (a deleted row's data is still here)."""
        hub, name = self.hub, self.hub.hub_name()
        groups = self.groups_for(instance)
        frames = encode_invocation(hub, self.event(action), [self.payload_for(instance)])
        targets = [names.hub_all(name)] if groups is None else [names.group(name, group) for group in groups]
        return ClientProxy(hub, targets, exclude), frames

    def _events(self, instances: Iterable[Any], action: str, exclude: Iterable[str]) -> list[Event]:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}.")
        skipped = _strings([*_strings(exclude, "exclude"), *filter(None, [current_sender()])], "exclude")
        return [self._event(instance, action, skipped) for instance in instances]

    def broadcast(
        self, instances: Iterable[Any], action: str, *, exclude: Iterable[str] = (), using: str | None = None
    ) -> None:
        """Send ``action`` events for ``instances`` (the paths without signals: ``bulk_create``, ``update()``).

        After the commit inside ``transaction.atomic`` on database ``using``, else now; payload and group
        errors, and failures to send now, raise here.
        """
        events = self._events(instances, action, exclude)
        if events and not after_commit(lambda: _send_all(events), using, self._what(action)):
            _send_all(events)

    async def abroadcast(
        self, instances: Iterable[Any], action: str, *, exclude: Iterable[str] = (), using: str | None = None
    ) -> None:
        """Async twin of :meth:`broadcast`, with the timing of ``asend(..., on_commit=True)``.

        ``instances`` (a queryset too), payloads and groups are read in the thread ``sync_to_async`` uses, so
        they may touch the database.
        """

        def prepare() -> list[Event]:
            events = self._events(instances, action, exclude)
            return [] if events and after_commit(lambda: _send_all(events), using, self._what(action)) else events

        for proxy, frames in await sync_to_async(prepare)():
            await proxy.asend_frames(frames)

    def _what(self, action: str) -> str:
        return f"{self.event(action)!r} to {self.hub.__qualname__}"

    def _on_signal(self, instance: Any, action: str, using: str) -> None:
        if action not in self.actions:
            return
        try:
            events = self._events([instance], action, ())
            if not after_commit(lambda: _send_all(events), using, self._what(action)):
                _send_all(events)
        except Exception:
            logger.exception("Could not send the %s event of %r", self.event(action), instance)

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
