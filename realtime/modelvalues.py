"""Model field values as the database returns them: what ``broadcast_model`` payloads carry.

After ``order.total = 0; order.save()`` the instance still holds ``0``, while a reload gives
``Decimal("0.00")``; a payload must not depend on whether the row was reloaded. :class:`StoredValues`
converts each value in memory the way a round trip through the database would (measured on SQLite and
PostgreSQL, ``tests/push/test_values.py``):

- most fields: ``to_python(get_prep_value(value))``, the field's own conversions on the way in and out
  (``"5"`` → ``5``, ``1`` → ``True``, a str → ``UUID``, a foreign key's id to its target's type, a lazy
  string → str);
- ``DecimalField``: quantized to ``decimal_places``, half-even on SQLite (Django's converter), half away
  from zero elsewhere (the ``numeric`` type of PostgreSQL, MySQL and Oracle);
- ``DateTimeField``: with ``USE_TZ`` aware, in the connection's time zone (a naive value taken in the
  current default time zone, as ``save()`` does); without, naive in the connection's time zone;
- ``JSONField``: through the field's encoder and decoder (tuples become lists, keys strings);
  ``GenericIPAddressField``: ``""`` is NULL; ``BinaryField``: ``bytes``; ``FileField``: its name, ``None``
  when empty.

Only what the instance cannot know is read back, in one query for the row: a field that holds an
expression (``F("n") + 1``, a database default not returned by the insert), a deferred field, and a
``GeneratedField`` (stale after an update). On a row already deleted, a generated field keeps its
in-memory value and the others raise ``ValueError``.

Why not read every row back: a deleted row cannot be read, and the query costs about half a save (measured
with a local server: 1.1 ms on SQLite, 2.6 ms on PostgreSQL, against 25 to 30 µs to convert four fields, 1 to 2%
of the save). Not reproduced: jsonb's own normalization on PostgreSQL (key order; ``1e16`` read back as an int).
"""

from __future__ import annotations

import decimal
import json
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

Converter = Callable[[Any, BaseDatabaseWrapper], Any]


def _decimal(field: models.DecimalField) -> Converter:
    places = decimal.Decimal(1).scaleb(-field.decimal_places)

    def convert(value: Any, connection: BaseDatabaseWrapper) -> Any:
        rounding = decimal.ROUND_HALF_EVEN if connection.vendor == "sqlite" else decimal.ROUND_HALF_UP
        return field.to_python(value).quantize(places, rounding=rounding, context=field.context)

    return convert


def _datetime(field: models.DateTimeField) -> Converter:
    def convert(value: Any, connection: BaseDatabaseWrapper) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):  # to_python would warn a second time
            value = datetime(value.year, value.month, value.day)
        value = field.to_python(value)
        if settings.USE_TZ:
            if timezone.is_naive(value):  # save() warned already
                value = timezone.make_aware(value, timezone.get_default_timezone())
            return value.astimezone(connection.timezone)
        if timezone.is_aware(value):  # PostgreSQL stores it; SQLite and MySQL refuse it
            return timezone.make_naive(value, zoneinfo.ZoneInfo(connection.timezone_name))
        return value

    return convert


def _json(field: models.JSONField) -> Converter:
    def convert(value: Any, connection: BaseDatabaseWrapper) -> Any:
        return field.from_db_value(json.dumps(value, cls=field.encoder), None, connection)

    return convert


def converter(field: models.Field) -> Converter:
    """``(value, connection) -> value`` as the database returns it, for a non-``None`` value of ``field``."""
    if isinstance(field, models.DecimalField):
        return _decimal(field)
    if isinstance(field, models.DateTimeField):
        return _datetime(field)
    if isinstance(field, models.JSONField):
        return _json(field)
    if isinstance(field, models.FileField):
        return lambda value, connection: field.get_prep_value(value) or None
    if isinstance(field, models.GenericIPAddressField):
        return lambda value, connection: field.get_prep_value(value) or None
    if isinstance(field, models.BinaryField):
        return lambda value, connection: bytes(field.to_python(value))
    return lambda value, connection: field.to_python(field.get_prep_value(value))


class StoredValues:
    """``instance -> {key: value as the database returns it}`` for the concrete fields of one model, by key."""

    def __init__(self, model: type[models.Model], fields: dict[str, models.Field]) -> None:
        self.model = model
        self.fields = fields
        self._converters = {
            key: converter(field.output_field if field.generated else field) for key, field in fields.items()
        }

    def __call__(self, instance: models.Model) -> dict[str, Any]:
        alias = instance._state.db or router.db_for_write(self.model, instance=instance)
        connection = connections[alias]
        deferred = instance.get_deferred_fields()
        values: dict[str, Any] = {}
        unknown: dict[str, models.Field] = {}
        for key, field in self.fields.items():
            value = None if field.attname in deferred else getattr(instance, field.attname)
            if field.attname in deferred or hasattr(value, "resolve_expression"):
                unknown[key], values[key] = field, None
                continue
            if field.generated:
                unknown[key] = field
            values[key] = None if value is None else self._converters[key](value, connection)
        if unknown:
            values.update(self._read_back(instance, alias, unknown, values))
        return values

    def _read_back(
        self, instance: models.Model, alias: str, fields: dict[str, models.Field], known: dict[str, Any]
    ) -> dict[str, Any]:
        """The values of ``fields`` in the database, in one query; after a delete, see the module docstring."""
        query = self.model._base_manager.db_manager(alias).filter(pk=instance.pk)
        rows = list(query.values_list(*(field.attname for field in fields.values()))[:1])
        if rows:
            return {key: _present(field, value) for (key, field), value in zip(fields.items(), rows[0], strict=True)}
        lost = [key for key, field in fields.items() if not field.generated]
        if lost:
            raise ValueError(
                f"{self.model.__name__} {instance.pk!r} is not in the database: fields {lost} hold no value "
                "(deferred, or an expression such as F()); load them before deleting the row."
            )
        return {key: known[key] for key in fields}


def _present(field: models.Field, value: Any) -> Any:
    """A value read from the database; only a file field's empty name still becomes ``None``."""
    return (value or None) if isinstance(field, models.FileField) else value
