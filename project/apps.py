from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "project"
    label = "project"

    def ready(self) -> None:
        from realtime import broadcast_model

        from .hubs import ChatHub
        from .models import Item

        # Every save and delete of an Item calls "project.Item.created" / ".updated" / ".deleted" on every
        # page, except the one whose request made the change (X-Realtime-Connection-Id, ConnectionIdMiddleware).
        broadcast_model(Item, hub=ChatHub, payload=["id", "title", "done"])
