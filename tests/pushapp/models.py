"""A model whose changes are broadcast (registered in ``apps.py``)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class Order(models.Model):
    """An order; every create, update and delete reaches ChatHub groups ``orders`` and ``orders-<pk>``."""

    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="new")
    total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0.00"))
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
