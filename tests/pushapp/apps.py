"""Registers the model broadcast of :class:`Order`, the way a project would in ``AppConfig.ready()``."""

from __future__ import annotations

from django.apps import AppConfig

HUB = "tests.conformance.hubs.ChatHub"


class PushappConfig(AppConfig):
    """Test app of the push-from-models suite (``tests/push``)."""

    name = "tests.pushapp"
    label = "pushapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime.model_events import broadcast_model

        from .models import Order

        broadcast_model(
            Order,
            hub=HUB,
            groups=lambda order: [f"orders-{order.pk}", "orders"],
            payload=["id", "name", "status", "total"],
        )
