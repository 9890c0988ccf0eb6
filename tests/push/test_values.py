"""One value encoding on every path (hub JSON, hub MessagePack, SSE views and topics, model payloads), and
model payloads built from field values as the database returns them, on SQLite and PostgreSQL.

In-process: the in-memory channel layer, the memory SSE history, SQLite and the machine's PostgreSQL (the
``postgres`` alias of the test settings).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils.translation import gettext_lazy

from realtime.conf import forget_backend
from realtime.context import get_hub_context
from realtime.eventstream import EventStreamView, ServerSentEvent, apublish, subscribe
from realtime.eventstream.history import history
from realtime.hubs import Hub
from realtime.model_events import ModelBroadcaster
from realtime.protocol.values import dumps
from realtime.testing import HubCommunicator
from tests.pushapp.models import Order, Sample

pytestmark = pytest.mark.timeout(120)

GUID = uuid.UUID("00010203-0405-0607-0706-050403020100")
Y2K = datetime(2000, 1, 1, tzinfo=UTC)


@dataclasses.dataclass
class Point:
    x: int
    when: datetime


@dataclasses.dataclass
class Row:
    """A value, the JSON text every path carries for it, and where else to send it."""

    value: Any
    json: str
    django: bool
    """``DjangoJSONEncoder`` writes the same text."""
    field: str | None = None
    """A ``Sample`` field that stores the value unchanged: the model path."""
    msgpack: Any = None
    """What a MessagePack client reads where it has a native type (``None``: the JSON value)."""


ROWS = [
    Row(Y2K, '"2000-01-01T00:00:00Z"', True, "moment", Y2K),
    Row(datetime(2000, 1, 1, 12, 30, 0, 123456, tzinfo=UTC), '"2000-01-01T12:30:00.123Z"', True, "moment",
        datetime(2000, 1, 1, 12, 30, 0, 123000, tzinfo=UTC)),
    Row(datetime(2000, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), '"2000-01-01T00:00:00Z"', False, "moment", Y2K),
    Row(datetime(2000, 1, 1), '"2000-01-01T00:00:00Z"', False, None, Y2K),  # naive = UTC (a model field: local)
    Row(date(2000, 1, 2), '"2000-01-02"', True, "day"),
    Row(time(12, 30, 0, 123456), '"12:30:00.123"', True, "at"),
    Row(timedelta(days=1, hours=2, microseconds=5), '"P1DT02H00M00.000005S"', True, "duration"),
    Row(timedelta(seconds=-90), '"-P0DT00H01M30S"', True, "duration"),
    Row(Decimal("0.50"), '"0.50"', True, "amount"),
    Row(GUID, '"00010203-0405-0607-0706-050403020100"', True, "uuid"),
    Row(gettext_lazy("lazy text"), '"lazy text"', True, "name"),
    Row(b"\x01\x02\x03", '"AQID"', False, "binary", b"\x01\x02\x03"),
    Row(frozenset([3]), "[3]", False),
    Row(Point(1, Y2K), '{"x":1,"when":"2000-01-01T00:00:00Z"}', False, None, {"x": 1, "when": Y2K}),
    Row({"String": "hello world", "IntArray": [1, 2, 3], "ByteArray": b"\x01\x02\x03", "Guid": GUID, "DateTime": Y2K},
        '{"String":"hello world","IntArray":[1,2,3],"ByteArray":"AQID",'
        '"Guid":"00010203-0405-0607-0706-050403020100","DateTime":"2000-01-01T00:00:00Z"}', False, None,
        {"String": "hello world", "IntArray": [1, 2, 3], "ByteArray": b"\x01\x02\x03", "Guid": str(GUID),
         "DateTime": Y2K}),  # the conformance object of protocol.md §12
]  # fmt: skip


class ValueHub(Hub):
    async def Value(self, index: int) -> Any:  # noqa: N802
        return ROWS[index].value

    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)


class ValueView(EventStreamView):
    async def events(self, request, index):
        yield ServerSentEvent.json(ROWS[index].value)


urlpatterns = [path("values/<int:index>", ValueView.as_view())]


@pytest.fixture(autouse=True)
def _fresh(settings, realtime_cleanup):
    """A new memory history, no heartbeats; no connection table or layer state left behind."""
    settings.REALTIME = {"SSE_HEARTBEAT_INTERVAL": 0}
    forget_backend("SSE_HISTORY_BACKEND")


def sse_data(chunk: bytes) -> str:
    """The data of the one event in ``chunk`` (comments and other fields skipped)."""
    return "\n".join(line[6:] for line in chunk.decode().split("\n") if line.startswith("data: "))


async def sse_view_data(index: int) -> str:
    """The data of ``ValueView``'s event, through Django's ASGI handler (``ROOT_URLCONF``: this module)."""
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Future()  # no disconnect: the stream ends by itself
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": f"/values/{index}", "query_string": b"", "headers": []}
    await ASGIHandler()({**scope, "asgi": {"version": "3.0"}}, receive, send)
    assert sent[0]["status"] == 200
    return sse_data(b"".join(message.get("body", b"") for message in sent[1:]))  # a comment, then the event


async def sse_topic_data(index: int) -> str:
    topic = f"values-{index}"
    await apublish(topic, ROWS[index].value)
    stream = await subscribe(topic, 0)  # the replay of what was published
    try:
        return sse_data(await anext(stream))
    finally:
        await stream.aclose()


def test_django_json_encoder_agrees_where_it_says_so():
    """The rules are DjangoJSONEncoder's: where a row says so, Django writes the same text."""
    for row in ROWS:
        if row.django:
            assert json.dumps(row.value, cls=DjangoJSONEncoder, separators=(",", ":")) == row.json, row
        assert dumps(row.value) == row.json, row


async def test_nan_is_refused_on_the_json_paths():
    """``JSON.parse`` refuses ``NaN``: an SSE page would get an event it cannot read."""
    for value in (float("nan"), [float("inf")]):
        with pytest.raises(ValueError, match="not JSON compliant"):
            ServerSentEvent.json(value)
        with pytest.raises(ValueError, match="not JSON compliant"):
            await apublish("values-nan", value)
        async with HubCommunicator(ValueHub) as client:
            await client.invoke("Join", "nan")
            with pytest.raises(ValueError, match="not JSON compliant"):
                await get_hub_context(ValueHub).clients.group("nan").asend("Value", value)
    assert (await history().since("values-nan", None)).last_id == 0  # nothing stored


@pytest.mark.django_db(transaction=True)
async def test_one_value_reads_the_same_on_every_path(settings):
    settings.ROOT_URLCONF = __name__
    async with HubCommunicator(ValueHub) as text, HubCommunicator(ValueHub, protocol="messagepack") as binary:
        for client in (text, binary):
            await client.invoke("Join", "values")
        broadcaster = ModelBroadcaster(Sample, hub=ValueHub, groups=["values"]).connect()  # post_save: the model path
        try:
            for index, row in enumerate(ROWS):
                value = json.loads(row.json)
                native = value if row.msgpack is None else row.msgpack
                assert await text.invoke("Value", index) == value, row
                assert await binary.invoke("Value", index) == native, row
                assert await sse_view_data(index) == row.json, row
                assert await sse_topic_data(index) == row.json, row
                if row.field is None:
                    continue
                await asyncio.to_thread(Sample.objects.create, **{row.field: row.value})
                assert (await text.receive_invocation("pushapp.Sample.created")).arguments[0][row.field] == value, row
                [payload] = (await binary.receive_invocation("pushapp.Sample.created")).arguments
                assert payload[row.field] == native, row
        finally:
            broadcaster.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_decimal_reads_as_stored_before_a_reload():
    """The issue's example: ``total=0`` saved is ``"0.00"`` at once, not ``0`` until a reload."""
    async with HubCommunicator(ValueHub) as client:
        await client.invoke("Join", "orders")
        broadcaster = ModelBroadcaster(Order, hub=ValueHub, groups=["orders"], payload=["id", "total"]).connect()
        try:
            order = await asyncio.to_thread(Order.objects.create, name="pen", total=Decimal("9.99"))
            assert (await client.receive_invocation()).arguments == [{"id": order.pk, "total": "9.99"}]
            order.total = 0
            await asyncio.to_thread(order.save)
            assert (await client.receive_invocation()).arguments == [{"id": order.pk, "total": "0.00"}]
        finally:
            broadcaster.disconnect()


# -- model payloads: as the database returns them ------------------------------------------------------------

CHICAGO = "America/Chicago"  # not UTC: naive values and dates depend on it
ORDER_ID = 1
CASES: list[tuple[str, Any]] = [
    ("amount", 0), ("amount", 7), ("amount", 1.5), ("amount", "3.14159"), ("amount", Decimal("0.125")),
    ("amount", Decimal("-0.125")), ("amount", 2.675), ("amount", Decimal("12345678.9")),
    ("moment", datetime(2000, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)),
    ("moment", datetime(2000, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))),
    ("moment", datetime(2000, 1, 1, 12)), ("moment", "2000-01-01 12:00:00.5"), ("moment", date(2000, 1, 1)),
    ("day", date(2000, 1, 2)), ("day", "2000-01-02"), ("day", datetime(2000, 1, 2, 3, tzinfo=UTC)),
    ("at", time(1, 2, 3, 456789)), ("at", "01:02:03"), ("at", datetime(2000, 1, 1, 1, 2, 3)),
    ("duration", timedelta(days=-1, seconds=5)), ("duration", timedelta(microseconds=1)),
    ("data", {"a": (1, 2), 1: "x", "f": 1.5, "n": None}), ("data", "text"), ("data", [1, "2"]), ("data", True),
    ("uuid", str(GUID)), ("uuid", GUID), ("uuid", 5),
    ("ip", "::FFFF:1.2.3.4"), ("ip", ""), ("ip", "2001:0db8::0001"), ("ip", "10.0.0.1"),
    ("flag", 1), ("flag", "t"), ("flag", "f"), ("maybe", 0),
    ("count", "5"), ("count", 5.7), ("count", True),
    ("ratio", Decimal("1.1")), ("ratio", "2"), ("ratio", 3),
    ("name", 5), ("name", gettext_lazy("lazy")),
    ("binary", b"\x01\x02"), ("binary", memoryview(b"\x03")), ("binary", bytearray(b"\x04")),
    ("order_id", str(ORDER_ID)), ("only_order_id", ORDER_ID),
    ("attachment", "docs/a.txt"), ("attachment", ""), ("path", "/tmp/x"),
    ("email", "a@example.com"), ("slug", "a-b"), ("url", "https://example.com/"), ("text", "é\n"),
    ("big", "12"), ("small", "-3"), ("positive", 4.0), ("positive_small", "5"), ("positive_big", 2**62),
]  # fmt: skip


def naive_in_aware_mode(field: str, value: Any) -> bool:
    """Django warns when it saves such a value (it takes it in the current time zone)."""
    return field == "moment" and (isinstance(value, str | date) and getattr(value, "tzinfo", None) is None)


def exact(payload: dict[str, Any]) -> dict[str, Any]:
    """Each value with its type; a Decimal by its text (``Decimal("0") == Decimal("0.00")``)."""
    return {k: (type(v).__name__, str(v) if isinstance(v, Decimal) else v) for k, v in payload.items()}


def save(sample: Sample, field: str, value: Any, alias: str, use_tz: bool) -> None:
    setattr(sample, field, value)
    if use_tz and naive_in_aware_mode(field, value):
        with pytest.warns(RuntimeWarning, match="naive datetime"):
            sample.save(using=alias)
    else:
        sample.save(using=alias)


@pytest.mark.django_db(databases=["default", "postgres"])
@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "no-USE_TZ"])
@pytest.mark.parametrize("alias", ["default", "postgres"], ids=["sqlite", "postgresql"])
def test_model_payloads_read_the_same_before_and_after_a_reload(alias, use_tz, settings):
    settings.USE_TZ, settings.TIME_ZONE = use_tz, CHICAGO
    Order.objects.using(alias).create(id=ORDER_ID, name="o")
    payload = ModelBroadcaster(Sample, hub=ValueHub).payload_for  # every concrete field
    cases = list(CASES)
    if not use_tz:
        cases = [(f, v) for f, v in cases if not (f == "moment" and getattr(v, "tzinfo", None))]  # refused...
        if alias == "postgres":  # ...by SQLite only
            cases.append(("moment", datetime(2000, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))))
    wrong = []
    for field, value in cases:
        for created in (True, False):  # the insert path and the update path
            sample = Sample() if created else Sample.objects.using(alias).create()
            save(sample, field, value, alias, use_tz)
            before = payload(sample)
            after = payload(Sample.objects.using(alias).get(pk=sample.pk))
            if exact(before) != exact(after) or json.loads(dumps(before)) != json.loads(
                dumps(after)
            ):  # jsonb: key order
                diff = {k: (before[k], after[k]) for k in before if exact(before)[k] != exact(after)[k]}
                wrong.append((field, value, created, diff or dumps(before)))
            Sample.objects.using(alias).filter(pk=sample.pk).delete()  # only_order is one-to-one
    assert wrong == []
    sample = Sample.objects.using(alias).create(amount=0)
    assert dumps(payload(sample)["amount"]) == '"0.00"'  # not 0


@pytest.mark.django_db(databases=["default", "postgres"])
@pytest.mark.parametrize("alias", ["default", "postgres"], ids=["sqlite", "postgresql"])
def test_values_only_the_database_knows_are_read_back_in_one_query(alias):
    payload = ModelBroadcaster(Sample, hub=ValueHub, payload=["count", "doubled", "amount", "name"]).payload_for
    sample = Sample.objects.using(alias).create(count=1, amount=1, name="a")
    sample.count, sample.amount = F("count") + 1, F("amount") * Decimal("1.5")  # expressions
    sample.save()
    expected = {"count": 2, "doubled": 4, "amount": "1.50", "name": "a"}  # doubled: a GeneratedField
    assert exact(payload(sample)) == exact({**expected, "amount": Decimal("1.50")})
    partial = Sample.objects.using(alias).only("name").get(pk=sample.pk)  # count, amount, doubled deferred
    partial.name = "b"
    partial.save()
    with CaptureQueriesContext(connections[alias]) as queries:
        assert json.loads(dumps(payload(partial))) == {**expected, "name": "b"}
    assert len(queries) == 1
    with CaptureQueriesContext(connections[alias]) as queries:
        assert payload(Sample.objects.using(alias).defer("doubled").get(pk=sample.pk))["name"] == "b"
    assert len(queries) == 2  # the row, then the generated field: nothing per field

    loaded = Sample.objects.using(alias).get(pk=sample.pk)
    loaded.delete()  # the row is gone: a generated field keeps its loaded value
    assert json.loads(dumps(payload(loaded))) == {**expected, "name": "b"}
    partial.delete()
    with pytest.raises(ValueError, match=r"not in the database: fields \['count', 'amount'\] hold no value"):
        payload(partial)
