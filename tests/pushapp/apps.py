"""Registers the model broadcast of :class:`Order`, and on PostgreSQL the capture of :class:`Item`."""

from __future__ import annotations

from django.apps import AppConfig

HUB = "tests.conformance.hubs.ChatHub"


class PushappConfig(AppConfig):
    """Test app of the push-from-models suite (``tests/push``)."""

    name = "tests.pushapp"
    label = "pushapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db import connections

        from realtime.capture import capture_model
        from realtime.model_events import broadcast_model

        from .models import Item, Order

        broadcast_model(
            Order,
            hub=HUB,
            groups=lambda order: [f"orders-{order.pk}", "orders"],
            payload=["id", "name", "status", "total"],
        )
        if connections["default"].vendor == "postgresql":  # shared/conformance.md "Change capture"
            capture_model(
                Item,
                hub=HUB,
                groups=["items"],
                payload=["id", "name", "done"],
                method="ItemChanged",
                audience=lambda item: None if item.owner is None else [item.owner],
                topics=["captured-items"],  # GET /sse/captured-items, replayed from the outbox (tests/capture)
            )
