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


class Sample(models.Model):
    """One field of every concrete type Django ships (ImageField needs Pillow: FileField stands for it)."""

    big = models.BigIntegerField(null=True)
    binary = models.BinaryField(null=True)
    flag = models.BooleanField(default=False)
    maybe = models.BooleanField(null=True)
    name = models.CharField(max_length=50, blank=True)
    day = models.DateField(null=True)
    moment = models.DateTimeField(null=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    duration = models.DurationField(null=True)
    email = models.EmailField(blank=True)
    attachment = models.FileField(blank=True)
    path = models.FilePathField(path="/tmp", blank=True)
    ratio = models.FloatField(null=True)
    ip = models.GenericIPAddressField(null=True)
    count = models.IntegerField(null=True)
    doubled = models.GeneratedField(
        expression=models.F("count") * 2, output_field=models.IntegerField(), db_persist=True
    )
    data = models.JSONField(null=True)
    positive_big = models.PositiveBigIntegerField(null=True)
    positive = models.PositiveIntegerField(null=True)
    positive_small = models.PositiveSmallIntegerField(null=True)
    slug = models.SlugField(blank=True)
    small = models.SmallIntegerField(null=True)
    text = models.TextField(blank=True)
    at = models.TimeField(null=True)
    url = models.URLField(blank=True)
    uuid = models.UUIDField(null=True)
    order = models.ForeignKey(Order, null=True, on_delete=models.SET_NULL, related_name="+")
    only_order = models.OneToOneField(Order, null=True, on_delete=models.SET_NULL, related_name="+")


class Item(models.Model):
    """The change-capture table of the conformance server (``conformance_item``, shared/conformance.md)."""

    id = models.AutoField(primary_key=True)
    name = models.TextField()
    done = models.BooleanField(default=False, db_default=False)
    owner = models.TextField(null=True)

    class Meta:
        db_table = "conformance_item"
