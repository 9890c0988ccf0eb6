"""Model instances from the rows the capture triggers stored (``to_jsonb`` of the row, read as JSON text).

``to_jsonb`` writes numbers as JSON numbers (read here as ``Decimal``, so nothing is rounded), timestamps
as ISO 8601 text, ``bytea`` as ``\\x``-prefixed hex, ``json``/``jsonb`` columns as nested JSON; each field's
``to_python`` brings them back to what the ORM would have loaded.
"""

from __future__ import annotations

import decimal
import json
from typing import Any

from django.db import models


def parse(text: str) -> dict[str, Any]:
    """A stored row: column name → JSON value, numbers as ``Decimal``."""
    return json.loads(text, parse_float=decimal.Decimal, parse_int=int)


def _value(field: models.Field, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return value
    if isinstance(field, models.BinaryField):
        return bytes.fromhex(value[2:]) if isinstance(value, str) and value.startswith("\\x") else value
    if isinstance(field, models.FloatField):
        return float(value)
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    return target.to_python(value)


def instance(model: type[models.Model], row: dict[str, Any], using: str) -> models.Model:
    """``model`` loaded from ``row`` as from database ``using`` (generated fields included)."""
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    return model.from_db(using, names, [_value(field, row.get(field.column)) for field in fields])


def instance_of(model: type[models.Model], op: str, text: str, using: str) -> models.Model | None:
    """The instance of an outbox change (``None`` for a truncate, op ``"t"``, which has no row)."""
    return None if op == "t" else instance(model, parse(text), using)
