"""The one value encoding of ``realtime``: hub messages, SSE data and model payloads (protocol.md §12).

Every path that turns Python values into JSON uses :func:`dumps` (or :func:`json_default`, its
``json.dumps`` hook): the JSON hub protocol, SSE events and topics, model payloads, presence metadata.
The MessagePack hub protocol keeps its native types (``bin`` for bytes, Timestamp for datetimes) and
uses :func:`to_builtin`, the same rules, for everything else. The rules are ``DjangoJSONEncoder``'s,
written with the standard library only (this package imports nothing from Django):

- ``datetime``: ISO 8601 in UTC with milliseconds, ending in ``Z`` (``2000-01-01T00:00:00.123Z``);
  microseconds are truncated to milliseconds (on MessagePack too), aware datetimes are converted to UTC
  (``DjangoJSONEncoder`` keeps their offset: one instant reads one way here), naive ones are taken as UTC.
- ``date``: ``2000-01-02``; ``time``: ``12:30:00.123`` (an aware time raises ``ValueError``);
  ``timedelta``: ISO 8601 duration ``P1DT02H03M04.000005S``; ``Decimal``, ``UUID``: ``str``.
- bytes: base64 (JSON); types given to :func:`register` (Django's lazy strings, registered by the app);
  an object with a ``to_json()`` method: its result; a dataclass: a dict; set, frozenset, tuple: a list.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

_converters: dict[type, Callable[[Any], Any]] = {}


def register(cls: type, convert: Callable[[Any], Any]) -> None:
    """Encode instances of ``cls`` (and its subclasses) as ``convert(value)``, on every path.

    The ``realtime`` app registers ``django.utils.functional.Promise`` (lazy translations) as ``str``.
    """
    _converters[cls] = convert


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_millis(value: datetime) -> datetime:
    """``value`` in UTC (naive = UTC), microseconds truncated to milliseconds: what every path carries."""
    utc = as_utc(value)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def format_datetime(value: datetime) -> str:
    """``2000-01-01T00:00:00Z``, or ``...00.123Z`` when ``value`` has a fraction of a second."""
    utc = as_utc(value).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds") + "Z"


def format_time(value: time) -> str:
    """``12:30:00``, or ``12:30:00.123`` with a fraction; ``ValueError`` for an aware time."""
    if value.utcoffset() is not None:
        raise ValueError("JSON can't represent timezone-aware times.")
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def format_duration(value: timedelta) -> str:
    """ISO 8601 duration as Django writes it: ``P1DT02H03M04S``, ``-P0DT00H00M01.500000S``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    fraction = f".{value.microseconds:06d}" if value.microseconds else ""
    return f"{sign}P{value.days}DT{hours:02d}H{minutes:02d}M{seconds:02d}{fraction}S"


def _registered(value: Any) -> Callable[[Any], Any] | None:
    if _converters:
        for cls in type(value).__mro__:
            if cls in _converters:
                return _converters[cls]
    return None


def to_builtin(value: Any) -> Any:
    """The rules both hub protocols share (all but bytes and datetimes); ``TypeError`` naming the type else."""
    convert = _registered(value)
    if convert is not None:
        return convert(value)
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, time):
        return format_time(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__qualname__} cannot be sent by a hub protocol.")


def json_default(value: Any) -> Any:
    """The ``default`` hook of ``json.dumps``: bytes → base64, datetime → :func:`format_datetime`, else
    :func:`to_builtin`."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return format_datetime(value)
    return to_builtin(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=json_default)
"""One encoder for every value: ``json.dumps`` with options builds one per call."""


def dumps(value: Any) -> str:
    """Compact JSON text on one line (control characters escaped, others kept); NaN and infinities refused.

    Raises:
        TypeError: a value with no mapping. ValueError: NaN or an infinity, an aware time, a circular value.
    """
    return _ENCODER.encode(value)
