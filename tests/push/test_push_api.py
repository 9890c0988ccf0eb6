"""In-process tests of pushing: the hub context's ``send``/``asend`` with ``on_commit``, model events, the
"to others" middleware, ``realtime.celery``, ``realtime_send``,
and the sync API closing its channel-layer connections outside a server (in-memory layer, SQLite, a
private Redis where a real layer is needed). The real-process suites are ``test_model_push`` and
``test_celery_push``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from realtime import lifetime, sync
from realtime.celery import areport_progress, progress_message, report_progress, task_id_of
from realtime.clients import current_sender, sender
from realtime.context import get_hub_context
from realtime.exceptions import BroadcastError
from realtime.hubs import Hub
from realtime.middleware import ConnectionIdMiddleware
from realtime.model_events import ModelBroadcaster, broadcast_model, broadcasters_for
from realtime.testing import HubCommunicator
from tests.pushapp.models import Order
from tests.servers import redis_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _realtime_cleanup(realtime_cleanup):
    """No connection table or layer state left behind."""


class PushHub(Hub):
    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)

    async def MyId(self) -> str:  # noqa: N802
        return self.context.connection_id


HUB_PATH = f"{__name__}.PushHub"
DOWN = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0", "socket_timeout": None}]},
    }
}


@pytest.fixture
def broadcaster():
    found = broadcast_model(Order, hub=PushHub, groups=lambda o: [f"o-{o.pk}", "orders"], payload=["id", "name"])
    yield found
    found.disconnect()


@pytest.fixture
async def member():
    async with HubCommunicator(PushHub) as client:
        await client.invoke("Join", "orders")
        yield client


# -- declaring ----------------------------------------------------------------------------------------------


def test_payload_kinds_and_event_names():
    from rest_framework import serializers

    class OrderSerializer(serializers.ModelSerializer):
        class Meta:
            model = Order
            fields = ["id", "name", "total"]

    order = Order(id=7, name="pen", total=Decimal("1.50"))
    everything = ModelBroadcaster(Order, hub=PushHub)
    assert everything.payload_for(order) == {
        "id": 7, "name": "pen", "status": "new", "total": Decimal("1.50"), "updated_at": None,
    }  # fmt: skip
    assert everything.groups_for(order) is None  # every connection of the hub
    assert everything.event("created") == "pushapp.Order.created"
    named = ModelBroadcaster(Order, hub=HUB_PATH, payload=("name", "pk"), groups=["list"], event_prefix="shop.order")
    assert (named.payload_for(order), named.groups_for(order), named.event("deleted")) == (
        {"name": "pen", "pk": 7}, ["list"], "shop.order.deleted",
    )  # fmt: skip
    assert named.hub is PushHub  # an import path, resolved on first use
    assert ModelBroadcaster(Order, hub=PushHub, payload=lambda o: o.name.upper()).payload_for(order) == "PEN"
    assert ModelBroadcaster(Order, hub=PushHub, payload=OrderSerializer).payload_for(order) == {
        "id": 7, "name": "pen", "total": "1.50",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"hub": object}, TypeError, "is not a Hub subclass"),
        ({"hub": "tests.no.such.Hub"}, None, None),  # a path is imported lazily: see the next test
        ({"hub": PushHub, "payload": ["nope"]}, ImproperlyConfigured, "no field or attribute 'nope'"),
        ({"hub": PushHub, "payload": 42}, ImproperlyConfigured, "field names, a function or a serializer"),
        ({"hub": PushHub, "groups": "orders"}, ImproperlyConfigured, "not the string 'orders'"),
        ({"hub": PushHub, "groups": ["a", 1]}, ImproperlyConfigured, "non-empty strings, not 1"),
        ({"hub": PushHub, "actions": ["created", "moved"]}, ImproperlyConfigured, "unknown actions"),
    ],
)
def test_bad_declarations_raise_when_declared(kwargs, error, match):
    if error is None:
        ModelBroadcaster(Order, **kwargs)
    else:
        with pytest.raises(error, match=match):
            ModelBroadcaster(Order, **kwargs)


def test_bad_hubs_and_models_are_refused_at_the_call_site(broadcaster):
    with pytest.raises(TypeError, match="needs a model class"):
        broadcast_model(PushHub, hub=PushHub)
    with pytest.raises(ImproperlyConfigured, match="already broadcast"):
        broadcast_model(Order, hub=HUB_PATH)
    assert broadcaster in broadcasters_for(Order)
    with pytest.raises(TypeError, match="is not a Hub subclass"):
        get_hub_context(Order)
    with pytest.raises(ImproperlyConfigured, match="Cannot import hub 'tests.no.such.Hub'"):
        get_hub_context("tests.no.such.Hub")
    with pytest.raises(ImproperlyConfigured, match="Cannot import hub"):
        ModelBroadcaster(Order, hub="tests.no.such.Hub").broadcast([Order(id=1, name="x")], "updated")
    assert get_hub_context(HUB_PATH).hub is PushHub


# -- sending ------------------------------------------------------------------------------------------------


async def test_pushes_reach_groups_and_skip_the_sender(member):
    async with HubCommunicator(PushHub) as other:
        await other.invoke("Join", "orders")
        member_id = await member.invoke("MyId")
        clients = get_hub_context(HUB_PATH).clients

        def push() -> None:
            clients.group("orders").send("News", {"n": 1}, on_commit=True)  # autocommit: sent at once
            with sender(member_id):
                assert current_sender() == member_id
                clients.groups(["orders", "orders"]).send("News", {"n": 2})  # duplicates count once
                clients.client(member_id).send("Direct", "named on purpose: not skipped")
            clients.all_except([member_id]).send("News", {"n": 3})  # every connection of the hub but one

        await asyncio.to_thread(push)
        assert (await member.receive_invocation("News")).arguments == [{"n": 1}]
        assert (await member.receive_invocation("Direct")).arguments == ["named on purpose: not skipped"]
        assert [(await other.receive_invocation("News")).arguments for _ in range(3)] == [
            [{"n": 1}], [{"n": 2}], [{"n": 3}],
        ]  # fmt: skip
        assert await member.receive_nothing(0.2)
    assert current_sender() is None


def test_bad_input_raises_at_the_call_site():
    clients = get_hub_context(PushHub).clients
    with pytest.raises(TypeError, match="cannot be sent by a hub protocol"):
        clients.group("g").send("News", object(), on_commit=True)
    with pytest.raises(TypeError, match="groups holds non-empty strings"):
        ModelBroadcaster(Order, hub=PushHub, groups=lambda o: [o.pk]).broadcast([Order(id=1)], "updated")
    with pytest.raises(TypeError, match="exclude is a list of names"):
        ModelBroadcaster(Order, hub=PushHub, groups=["g"]).broadcast([Order(id=1)], "updated", exclude="abc")
    with override_settings(CHANNEL_LAYERS=DOWN), pytest.raises(BroadcastError, match="Could not send to.*Error 111"):
        clients.group("g").send("News", 1, on_commit=True)


async def test_sync_api_inside_an_event_loop_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"cannot run inside an event loop: use 'await ...asend\(...\)'"):
        get_hub_context(PushHub).clients.group("g").send("News", 1, on_commit=True)


async def test_async_pushes_reach_groups_and_skip_the_sender(member):
    async with HubCommunicator(PushHub) as other:
        await other.invoke("Join", "orders")
        member_id = await member.invoke("MyId")
        clients = get_hub_context(PushHub).clients
        await clients.group("orders").asend("News", {"n": 1}, on_commit=True)
        with sender(member_id):
            await clients.groups(["orders", "orders"]).asend("News", {"n": 2}, on_commit=True)

        async def view(request):  # an async view behind the middleware: "to others"
            await get_hub_context(HUB_PATH).clients.all.asend("News", {"n": 3}, on_commit=True)
            return HttpResponse()

        header = {"X-Realtime-Connection-Id": member_id}
        await ConnectionIdMiddleware(view)(RequestFactory().post("/", headers=header))
        await clients.all_except([member_id, "unknown"]).asend("News", {"n": 4})
        assert (await member.receive_invocation("News")).arguments == [{"n": 1}]
        assert [(await other.receive_invocation("News")).arguments for _ in range(4)] == [
            [{"n": 1}], [{"n": 2}], [{"n": 3}], [{"n": 4}],
        ]  # fmt: skip
        assert await member.receive_nothing(0.2)
    assert current_sender() is None


async def test_async_push_errors_raise_at_the_call_site():
    clients = get_hub_context(PushHub).clients
    with pytest.raises(TypeError, match="cannot be sent by a hub protocol"):
        await clients.group("g").asend("News", object(), on_commit=True)
    with pytest.raises(ValueError, match="action must be one of"):
        await ModelBroadcaster(Order, hub=PushHub).abroadcast([Order(id=1)], "renamed")
    with override_settings(CHANNEL_LAYERS=DOWN), pytest.raises(BroadcastError, match="Could not send to.*Error 111"):
        await clients.group("g").asend("News", 1, on_commit=True)


def test_connection_id_middleware_sync_and_async():
    seen: list[str | None] = []

    def view(request):
        seen.append(current_sender())
        return HttpResponse()

    async def async_view(request):
        seen.append(current_sender())
        return HttpResponse()

    factory = RequestFactory()
    ConnectionIdMiddleware(view)(factory.get("/", headers={"X-Realtime-Connection-Id": "abc_DEF-1"}))
    ConnectionIdMiddleware(view)(factory.get("/", headers={"X-Realtime-Connection-Id": "bad id"}))
    ConnectionIdMiddleware(view)(factory.get("/"))
    middleware = ConnectionIdMiddleware(async_view)
    asyncio.run(middleware(factory.get("/", headers={"X-Realtime-Connection-Id": "xyz"})))
    assert seen == ["abc_DEF-1", None, None, "xyz"]
    assert current_sender() is None


# -- model signals and transactions (SQLite here; PostgreSQL in test_model_push) ------------------------------


def _db_work() -> None:
    Order.objects.create(name="autocommit")
    with transaction.atomic():
        Order.objects.create(name="committed")
    with pytest.raises(RuntimeError), transaction.atomic():
        Order.objects.create(name="rolled back")
        raise RuntimeError
    with transaction.atomic():
        order = Order.objects.create(name="edited")
        order.name = "edited twice"
        order.save()
        Order.objects.bulk_create([Order(name="bulk, silent")])
        broadcasters_for(Order)[-1].broadcast(Order.objects.filter(name="edited twice"), "updated")


@pytest.mark.django_db(transaction=True)
async def test_model_events_follow_commits(broadcaster, member):
    await asyncio.to_thread(_db_work)
    got = [(await member.receive_invocation()).target for _ in range(5)]
    assert got == [
        "pushapp.Order.created", "pushapp.Order.created",  # autocommit, committed
        "pushapp.Order.created", "pushapp.Order.updated", "pushapp.Order.updated",  # edited: save, save, explicit
    ]  # fmt: skip
    assert await member.receive_nothing(0.2)


class Rollback(Exception):
    pass


def _async_pushes_in_transactions() -> None:
    """A sync view's work: async helpers run through ``async_to_sync`` inside and outside atomic blocks."""
    orders = ModelBroadcaster(Order, hub=PushHub, groups=["orders"], payload=["name"])  # no signals: explicit only
    group = get_hub_context(PushHub).clients.group("orders")  # send(): at once, whatever the transaction
    after_commit = async_to_sync(group.asend)
    with transaction.atomic():
        Order.objects.create(name="kept")
        after_commit("News", "committed", on_commit=True)
        group.send("Marker", "inside the first block")
    with contextlib.suppress(Rollback), transaction.atomic():
        after_commit("News", "rolled back", on_commit=True)
        raise Rollback
    with transaction.atomic():
        with contextlib.suppress(Rollback), transaction.atomic():
            after_commit("News", "in a dropped savepoint", on_commit=True)
            raise Rollback
        async_to_sync(orders.abroadcast)(Order.objects.filter(name="kept"), "updated")  # a queryset, read here
        group.send("Marker", "inside the second block")
    after_commit("News", "autocommit", on_commit=True)


@pytest.mark.django_db(transaction=True)
async def test_async_push_waits_for_the_commit_of_the_block_it_runs_in(member):
    await sync_to_async(_async_pushes_in_transactions)()  # a worker thread of this loop, as a sync view's
    got = [(m.target, m.arguments) for m in [await member.receive_invocation() for _ in range(5)]]
    assert got == [
        ("Marker", ["inside the first block"]),
        ("News", ["committed"]),
        ("Marker", ["inside the second block"]),
        ("pushapp.Order.updated", [{"name": "kept"}]),
        ("News", ["autocommit"]),
    ]
    assert await member.receive_nothing(0.2)


@pytest.mark.django_db(transaction=True)
async def test_async_code_outside_any_block_sends_at_once(member):
    """Async ORM writes commit at once (autocommit): so does the push after them, here in this loop."""
    order = await Order.objects.acreate(name="async")
    orders = ModelBroadcaster(Order, hub=PushHub, groups=["orders"], payload=["id", "name"])
    await orders.abroadcast(Order.objects.filter(pk=order.pk), "created")
    assert (await member.receive_invocation("pushapp.Order.created")).arguments == [{"id": order.pk, "name": "async"}]


@pytest.mark.django_db(transaction=True)
def test_failures_of_model_broadcasts_are_logged_and_never_break_the_save(caplog):
    bad = broadcast_model(Order, hub=HUB_PATH, payload=lambda order: object(), groups=["g"])
    caplog.set_level(logging.ERROR, logger="realtime.push")
    try:
        with transaction.atomic():
            Order.objects.create(name="unserializable")  # encoded at save time: logged, the save goes on
        assert Order.objects.filter(name="unserializable").exists()
        assert "Could not send the pushapp.Order.created event" in caplog.text
        bad.disconnect()
        good = broadcast_model(Order, hub=HUB_PATH, groups=["g"])
        try:
            with override_settings(CHANNEL_LAYERS=DOWN), transaction.atomic():
                Order.objects.create(name="layer down")
                get_hub_context(PushHub).clients.group("g").send("News", 1, on_commit=True)  # logged as well
            assert Order.objects.filter(name="layer down").exists()
            failures = [r for r in caplog.records if r.getMessage().endswith("after the commit")]
            # the two model events (tests.pushapp's to ChatHub, this one) and the explicit push
            assert len(failures) == 3 and all("Error 111" in str(r.exc_info[1]) for r in failures), failures
        finally:
            good.disconnect()
    finally:
        bad.disconnect()


@pytest.mark.django_db(transaction=True)
def test_manual_transactions_are_refused_not_sent_early(caplog):
    """``set_autocommit(False)`` has no commit hook: broadcasting then would leak uncommitted rows."""
    caplog.set_level(logging.ERROR, logger="realtime.push")
    group = get_hub_context(PushHub).clients.group("g")
    group.send("News", 0, on_commit=True)  # autocommit: sent at once
    transaction.set_autocommit(False)
    try:
        with pytest.raises(transaction.TransactionManagementError, match="manual transaction management"):
            group.send("News", 1, on_commit=True)
        Order.objects.create(name="manual")  # tests.pushapp's model event of Order: logged, the save goes on
        assert "manual transaction management" in caplog.text and "Could not send the pushapp" in caplog.text
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert not Order.objects.filter(name="manual").exists()


# -- Celery helpers, management command -----------------------------------------------------------------------


class FakeTask:
    class request:  # noqa: N801
        id = "task-1"


async def test_report_progress(member):
    member_id = await member.invoke("MyId")
    await asyncio.to_thread(report_progress, PushHub, FakeTask(), 50, connection_id=member_id, message="half")
    [body] = (await member.receive_invocation("TaskProgress")).arguments
    assert body == {"taskId": "task-1", "percent": 50, "done": False, "message": "half"}
    assert progress_message("t", 100, rows=3) == {"taskId": "t", "percent": 100, "done": True, "message": "", "rows": 3}
    for percent in (-1, 101, math.nan, True, "50"):
        with pytest.raises(ValueError, match="percent"):
            progress_message("t", percent)
    with pytest.raises(ValueError, match="exactly one"):
        report_progress(PushHub, "t", 1)
    with pytest.raises(ValueError, match="exactly one"):
        report_progress(PushHub, "t", 1, user_id="1", connection_id="c")
    assert task_id_of("abc") == "abc"
    with pytest.raises(TypeError, match="No task id"):
        task_id_of(object())


async def test_areport_progress_from_async_code():
    alice = type("User", (), {"pk": 7, "is_authenticated": True})()
    async with HubCommunicator(PushHub, user=alice) as tab, HubCommunicator(PushHub) as other:
        await tab.invoke("MyId")  # answered once the connection joined its user's group
        await areport_progress(PushHub, "task-2", 25.5, user_id="7", message="a quarter", rows=3)
        [body] = (await tab.receive_invocation("TaskProgress")).arguments
        assert body == {"taskId": "task-2", "percent": 25.5, "done": False, "message": "a quarter", "rows": 3}
        other_id = await other.invoke("MyId")
        await areport_progress(PushHub, FakeTask(), 100, connection_id=other_id, method="TaskDone")
        [body] = (await other.receive_invocation("TaskDone")).arguments
        assert body == {"taskId": "task-1", "percent": 100, "done": True, "message": ""}
        assert await tab.receive_nothing(0.2)
    with pytest.raises(ValueError, match="exactly one"):
        await areport_progress(PushHub, "t", 1)
    with pytest.raises(ValueError, match="percent"):
        await areport_progress(PushHub, "t", 101, user_id="7")
    with pytest.raises(RuntimeError, match=r"ClientProxy.send\(\) is the sync API .* 'await ...asend"):
        report_progress(PushHub, "t", 1, user_id="7")


async def test_realtime_send_command(member):
    await asyncio.to_thread(call_command, "realtime_send", HUB_PATH, "News", '"cli"', "[1, 2]", "--group", "orders")
    assert (await member.receive_invocation("News")).arguments == ["cli", [1, 2]]
    for arguments, match in [
        (["tests.no.such.Hub", "M", "--all"], "Cannot import hub"),
        (["tests.pushapp.models.Order", "M", "--all"], "is not a Hub subclass"),
        ([HUB_PATH, "M", "not json", "--all"], "Argument 1 is not JSON"),
    ]:
        with pytest.raises(CommandError, match=match):
            await asyncio.to_thread(call_command, "realtime_send", *arguments, verbosity=0)

    def down() -> None:
        with override_settings(CHANNEL_LAYERS=DOWN):
            call_command("realtime_send", HUB_PATH, "M", "--user", "1", verbosity=0)

    with pytest.raises(CommandError, match="Could not send 'M' to users \\['1'\\]: ConnectionError"):
        await asyncio.to_thread(down)


def test_realtime_send_refuses_the_in_memory_layer_without_a_server():
    """No server in this process (no event loop runs one) and an in-memory layer: nobody could receive."""
    with pytest.raises(CommandError, match="in-memory layer, which reaches only its own process"):
        call_command("realtime_send", HUB_PATH, "M", "--all", verbosity=0)


def test_sync_pushes_to_the_in_memory_layer_without_a_server_are_logged(caplog, monkeypatch):
    """A Celery worker on the in-memory layer would push to nobody: said once, in the log, not silently."""
    monkeypatch.setattr(sync, "_warned_isolated", False)
    with caplog.at_level(logging.WARNING, logger="realtime.push"):
        get_hub_context(PushHub).clients.all.send("M", 1)
        get_hub_context(PushHub).clients.all.send("M", 2)
    warnings = [r.getMessage() for r in caplog.records if "reaches only this process" in r.getMessage()]
    assert len(warnings) == 1 and "CHANNEL_LAYERS['default']" in warnings[0]


# -- the sync API leaves no layer connection behind outside a server -------------------------------------------


@pytest.mark.parametrize("backend", ["core.RedisChannelLayer", "pubsub.RedisPubSubChannelLayer"])
def test_sync_pushes_close_their_layer_connections(backend):
    import redis

    with redis_server() as url:
        config = {"hosts": [{"address": url, "socket_timeout": None}]}
        layers = {"default": {"BACKEND": f"channels_redis.{backend}", "CONFIG": config}}
        counter = redis.Redis.from_url(url)
        try:
            with override_settings(CHANNEL_LAYERS=layers):
                assert sync.uses_private_loop()
                for index in range(10):
                    get_hub_context(PushHub).clients.group("g").send("M", index)
                assert len(counter.client_list()) == 1  # this counter only

                async def connections_while_and_after() -> tuple[int, int]:
                    async with lifetime.own_layer():
                        await lifetime.layer().group_send("realtime.x", {"type": "x"})
                        during = len(await asyncio.to_thread(counter.client_list))
                    return during, len(await asyncio.to_thread(counter.client_list))

                assert asyncio.run(connections_while_and_after()) == (2, 1)
        finally:
            counter.close()
