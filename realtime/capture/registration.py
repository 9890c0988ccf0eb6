"""Which models are captured, and how one captured change becomes the event ``broadcast_model`` sends.

::

    # shop/apps.py, in ready()
    capture_model(Order, hub=ShopHub, groups=lambda order: ["orders", f"orders-{order.pk}"],
                  payload=["id", "status", "total"], audience=lambda order: [order.owner_id])

Groups, payload builders (field names, a function, a DRF serializer class) and event names are those of
:func:`realtime.model_events.broadcast_model`. ``audience`` is the per-recipient authorization hook: for each
row, ``None`` (every member of the groups) or the user identifiers that may receive it; a connection of any
other user never gets the row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from .. import names
from ..clients import encode_invocation
from ..eventstream.response import to_json
from ..eventstream.topics import check_topic
from ..model_events import ModelBroadcaster, PayloadSpec
from ..protocol.base import Frame

if TYPE_CHECKING:
    from ..hubs import Hub

__all__ = ["Capture", "Delivery", "capture_model", "captured_topic", "captures", "captures_of_table"]

OPS = {
    "i": ("insert", "created"),
    "u": ("update", "updated"),
    "d": ("delete", "deleted"),
    "t": ("truncate", "truncated"),
}
"""The outbox's operation letters: the SQL word (``op`` of a ``method`` payload) and the model event action.
A truncate has no row: its payload is ``{}``."""
TRUNCATE = "t"

AudienceSpec = Callable[[Any], Iterable[str] | None] | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One change for one registration: where it goes, who may see it, and the encoded invocation."""

    targets: list[str]
    """Layer groups."""
    users: list[str] | None
    """The user identifiers allowed to receive it (``None``: every member of the targets)."""
    frames: dict[str, Frame]
    topics: list[str]
    """SSE topics (``TopicStreamView``) the change is published to too."""
    event: tuple[str, str] | None
    """Its SSE event type and data (JSON text), when it goes to topics."""


class Capture:
    """One model captured to one hub (made by :func:`capture_model`)."""

    def __init__(
        self,
        model: type[models.Model],
        *,
        hub: type[Hub] | str,
        groups: Iterable[str] | Callable[[Any], Iterable[str]] | None = None,
        payload: PayloadSpec = None,
        audience: AudienceSpec = None,
        method: str | None = None,
        event_prefix: str | None = None,
        topics: Iterable[str] = (),
        truncate_groups: Iterable[str] | None = None,
    ) -> None:
        self.topics = [check_topic(topic) for topic in ([topics] if isinstance(topics, str) else topics)]
        self.events = ModelBroadcaster(model, hub=hub, groups=groups, payload=payload, event_prefix=event_prefix)
        self.model = model
        self.table = model._meta.db_table
        self.audience = audience
        self.method = method
        if audience is not None and not callable(audience):
            raise ImproperlyConfigured(f"capture_model({model.__name__}): audience is a function of the row.")
        if isinstance(truncate_groups, str) or callable(truncate_groups):
            raise ImproperlyConfigured(f"capture_model({model.__name__}): truncate_groups is a list of group names.")
        if truncate_groups is None and groups is not None and not callable(groups):
            truncate_groups = groups
        self.truncate_groups = None if truncate_groups is None else [str(group) for group in truncate_groups]

    @property
    def hub(self) -> type[Hub]:
        """The hub the events go to."""
        return self.events.hub

    def groups_for(self, instance: Any) -> list[str] | None:
        """The groups ``instance``'s changes go to (``None``: every connection of the hub); a truncate (no
        instance) goes to ``truncate_groups``."""
        return self.truncate_groups if instance is None else self.events.groups_for(instance)

    def users_for(self, instance: Any) -> list[str] | None:
        """The user identifiers that may receive ``instance`` (``None``: no restriction, as for a truncate)."""
        if self.audience is None or instance is None:
            return None
        found = self.audience(instance)
        return None if found is None else [str(user) for user in found]

    def invocation(self, instance: Any, op: str) -> tuple[str, Any]:
        """The client method and its argument for a change ``op`` (``"i"``, ``"u"``, ``"d"``, ``"t"``) of
        ``instance`` (``None`` for a truncate)."""
        word, action = OPS[op]
        payload = {} if instance is None else self.events.payload_for(instance)
        if self.method is None:
            return self.events.event(action), payload
        if not isinstance(payload, dict):
            raise TypeError(f"capture_model({self.model.__name__}, method=...): the payload must be a dict.")
        return self.method, {"op": word, **payload}

    def delivery(self, instance: Any, op: str) -> Delivery:
        """Groups, audience and encoded invocation of one change, computed now."""
        hub, name = self.hub, self.hub.hub_name()
        groups = self.groups_for(instance)
        targets = [names.hub_all(name)] if groups is None else [names.group(name, g) for g in groups]
        method, argument = self.invocation(instance, op)
        event = (method, to_json(argument)) if self.topics else None
        frames = encode_invocation(hub, method, [argument])
        return Delivery(targets, self.users_for(instance), frames, self.topics, event)


_captures: list[Capture] = []


def capture_model(
    model: type[models.Model],
    *,
    hub: type[Hub] | str,
    groups: Iterable[str] | Callable[[Any], Iterable[str]] | None = None,
    payload: PayloadSpec = None,
    audience: AudienceSpec = None,
    method: str | None = None,
    event_prefix: str | None = None,
    topics: Iterable[str] = (),
    truncate_groups: Iterable[str] | None = None,
) -> Capture:
    """Send every committed insert, update and delete of ``model``'s table to ``hub``, whatever wrote it.

    PostgreSQL only (install the triggers with the ``InstallCapture`` migration operation or
    ``manage.py realtime_capture install``). ``groups``, ``payload``, ``event_prefix``: as for
    ``broadcast_model``. ``audience``: ``row -> user identifiers | None``, who may receive each row.
    ``method``: one client method for the three operations, called with the payload (a dict) plus ``"op"``
    (``"insert"``, ``"update"`` or ``"delete"``). ``topics``: SSE topic names the changes are published to too
    (event type: the client method, data: its argument; ``TopicStreamView`` replays them from the outbox after
    a ``Last-Event-ID``, and ``audience`` applies to the streams' users). A ``TRUNCATE`` of the table sends
    ``"<app_label>.<Model>.truncated"`` with ``{}`` (or ``method`` with ``{"op": "truncate"}``) to
    ``truncate_groups`` (default: ``groups`` when it is a list, else every connection of the hub). Call it once
    per model and hub, in ``AppConfig.ready()``.
    """
    capture = Capture(
        model,
        hub=hub,
        groups=groups,
        payload=payload,
        audience=audience,
        method=method,
        event_prefix=event_prefix,
        topics=topics,
        truncate_groups=truncate_groups,
    )
    if any(c.model is model and c.events.hub_path == capture.events.hub_path for c in _captures):
        raise ImproperlyConfigured(f"{model.__name__} is already captured to {capture.events.hub_path}.")
    _captures.append(capture)
    return capture


def captured_topic(topic: str) -> bool:
    """Whether a registration publishes to SSE topic ``topic`` (its history is the outbox then)."""
    return any(topic in capture.topics for capture in _captures)


def captures() -> list[Capture]:
    """Every registration."""
    return list(_captures)


def captures_of_table(table: str) -> list[Capture]:
    """The registrations of the model whose table is ``table``."""
    return [capture for capture in _captures if capture.table == table]


def forget(capture: Capture) -> None:
    """Remove a registration (tests)."""
    if capture in _captures:
        _captures.remove(capture)
