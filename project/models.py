from django.db import models


class Item(models.Model):
    """An entry of the demo's shared list; its changes reach every open page (realtime.model_events)."""

    title = models.CharField(max_length=100)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def as_json(self) -> dict:
        return {"id": self.id, "title": self.title, "done": self.done}
