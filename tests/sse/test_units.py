"""SSE items and topics in-process: encoding, bad input, publish (sync, async, hub methods), the topic feed's
ordering and gap repair, cleanup, the WSGI error and the system checks.

The channel layer is the test settings' InMemoryChannelLayer, the history the real MemoryHistory.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import threading
import urllib.error
import urllib.request
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django.urls import path
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from realtime import events, lifetime, names
from realtime.conf import forget_backend
from realtime.eventstream import (
    EventStreamResponse,
    EventStreamView,
    EventTooLarge,
    ServerSentEvent,
    TopicError,
    TopicStreamView,
    apublish,
    publish,
    subscribe,
    topics,
)
from realtime.eventstream.history import history
from realtime.eventstream.views import parse_event_id
from realtime.hubs import Hub, hub_method
from realtime.permissions import BasePermission, IsAdminUser, IsAuthenticated
from realtime.testing import HubCommunicator
from tests.servers import free_port

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
SSE_LINE = re.compile(rb"(event|id|data|retry): ?(.*)")


@pytest.fixture(autouse=True)
def _fresh(settings, realtime_cleanup):
    """A new MemoryHistory per test (small), no heartbeats unless asked."""
    settings.REALTIME = {"SSE_HISTORY_SIZE": 5, "SSE_HEARTBEAT_INTERVAL": 0}
    forget_backend("SSE_HISTORY_BACKEND")


def parse(raw: bytes) -> list[tuple[str, str, str]]:
    """``(event, id, data)`` of each complete event in ``raw`` (comments skipped)."""
    found = []
    for block in raw.split(b"\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split(b"\n"):
            match = SSE_LINE.fullmatch(line)
            if match:
                fields.setdefault(match[1].decode(), []).append(match[2].decode())
        if "data" in fields:
            found.append((fields.get("event", ["message"])[0], fields.get("id", [""])[0], "\n".join(fields["data"])))
    return found


async def take(stream, count: int) -> list[tuple[str, str, str]]:
    """The next ``count`` events of a topic stream (bounded wait)."""
    found: list[tuple[str, str, str]] = []
    while len(found) < count:
        found += parse(await asyncio.wait_for(anext(stream), WAIT))
    return found


# -- items -----------------------------------------------------------------------------------------------


def test_items_encode_to_the_wire_format():
    assert ServerSentEvent("a\nb\r\nc\rd", event="x", id=7, retry=100).encoded == (
        b"event: x\nid: 7\nretry: 100\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    )
    assert ServerSentEvent("").encoded == b"data: \n\n"
    assert ServerSentEvent("ü✓🎉").encoded == "data: ü✓🎉\n\n".encode()
    assert ServerSentEvent(comment="hi\nthere").encoded == b": hi\n: there\n\n"
    assert ServerSentEvent(id="5").encoded == b"id: 5\n\n"
    assert ServerSentEvent(retry=0).encoded == b"retry: 0\n\n"
    assert ServerSentEvent.json({"ä": [1, None]}, event="j").encoded == 'event: j\ndata: {"ä":[1,null]}\n\n'.encode()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "x", "event": "a\nb"},
        {"data": "x", "id": "a\rb"},
        {"data": "x", "id": "a\0b"},
        {"data": "x", "retry": -1},
        {"data": "x", "retry": True},
        {"event": "lonely"},
        {},
    ],
)
def test_bad_items_are_refused(kwargs):
    with pytest.raises(ValueError):
        ServerSentEvent(**kwargs)


def test_event_ids_and_topic_names():
    assert parse_event_id(None) is None and parse_event_id("") is None
    assert parse_event_id("1795598012497937") == 1795598012497937
    for bad in ("abc", "-1", "1.5", " 1", "9" * 19, "1e5"):
        with pytest.raises(ValueError, match="Malformed Last-Event-ID"):
            parse_event_id(bad)
    assert topics.check_topic("a-b_c.d:e@f") == "a-b_c.d:e@f"
    for bad in ("", "a b", "a/b", "é", "x" * 201, None, 5):
        with pytest.raises(TopicError, match="not allowed"):
            topics.check_topic(bad)


async def test_publish_refuses_bad_input_and_stores_nothing(settings):
    settings.REALTIME = {**settings.REALTIME, "SSE_MAX_EVENT_SIZE": 100}
    with pytest.raises(TopicError):
        await apublish("no spaces", 1)
    with pytest.raises(EventTooLarge, match="SSE_MAX_EVENT_SIZE allows 100"):
        await apublish("t", "x" * 200)
    for event in ("", "a\nb", 5):
        with pytest.raises(ValueError, match="one line"):
            await apublish("t", 1, event)
    with pytest.raises(TypeError):
        await apublish("t", object())
    assert (await history().since("t", None)).last_id == 0
    assert await apublish("t", "x" * 90) != ""  # the limit itself is fine


# -- topic streams -----------------------------------------------------------------------------------------


async def test_live_events_reach_every_stream_in_order():
    one = await subscribe("t", None)
    two = await subscribe("t", None)
    ids = [await apublish("t", n, "n") for n in range(3)]
    expected = [("n", i, str(n)) for n, i in enumerate(ids)]
    assert await take(one, 3) == expected
    assert await take(two, 3) == expected
    await one.aclose()
    await two.aclose()


async def test_crossed_lost_and_repeated_layer_messages_are_repaired():
    """Ids are consecutive: the feed sorts crossed messages, reads lost ones from the history, drops repeats."""
    stream = await subscribe("t", None)
    group = names.topic("t")

    async def send(event_id: int, data: str) -> None:
        await lifetime.send_to_group(group, events.topic("t", group, [(event_id, None, data, None)]))

    a = await history().append("t", None, '"a"')
    b = await history().append("t", None, '"b"')
    await send(b, '"b"')  # b overtakes a
    await send(a, '"a"')
    assert await take(stream, 2) == [("message", str(a), '"a"'), ("message", str(b), '"b"')]
    c = await history().append("t", None, '"c"')  # c's layer message is lost
    d = await apublish("t", "d")
    await send(int(d), '"d"')  # a repeat
    assert await take(stream, 2) == [("message", str(c), '"c"'), ("message", d, '"d"')]
    e = await apublish("t", "e")
    assert await take(stream, 1) == [("message", e, '"e"')]  # nothing twice before it
    await stream.aclose()


async def test_a_lost_last_event_arrives_within_a_heartbeat_interval(settings):
    """No later event reveals the gap: the feed's own check of the history, every heartbeat interval, does."""
    settings.REALTIME = {**settings.REALTIME, "SSE_HEARTBEAT_INTERVAL": 0.2}
    stream = await subscribe("t", None)
    lost = await history().append("t", None, '"lost"')  # its layer message never comes, and nothing follows
    assert await take(stream, 1) == [("message", str(lost), '"lost"')]
    live = await apublish("t", "live")
    assert await take(stream, 1) == [("message", live, '"live"')]  # nothing twice
    await stream.aclose()


async def test_a_forgotten_history_loses_no_event_of_its_new_epoch(settings):
    """The history forgets an idle topic (TTL) and begins anew: a reset at the new epoch's start, then its events."""
    settings.REALTIME = {**settings.REALTIME, "SSE_HISTORY_TTL": 0.3}
    stream = await subscribe("t", None)
    a = await apublish("t", "a")
    assert await take(stream, 1) == [("message", a, '"a"')]
    await asyncio.sleep(0.5)
    b = await apublish("t", "b")
    reset = ("stream-reset", str(int(b) - 1), f'{{"lastEventId":"{a}"}}')
    assert await take(stream, 2) == [reset, ("message", b, '"b"')]
    await stream.aclose()
    resumed = await subscribe("t", int(a))  # a client that comes back with the old id gets the same
    assert await take(resumed, 2) == [reset, ("message", b, '"b"')]
    await resumed.aclose()


async def test_a_replay_larger_than_the_outbound_bound_is_a_reset(settings):
    settings.REALTIME = {**settings.REALTIME, "MAX_OUTBOUND_BYTES": 300}
    ids = [await apublish("t", "x" * 100) for _ in range(4)]
    stream = await subscribe("t", int(ids[0]) - 1)  # 4 events of ~130 bytes: more than the bound
    assert await take(stream, 1) == [("stream-reset", ids[-1], f'{{"lastEventId":"{int(ids[0]) - 1}"}}')]
    await stream.aclose()
    small = await subscribe("t", int(ids[1]))  # two of them fit
    assert [event_id for _, event_id, _ in await take(small, 2)] == ids[2:]
    await small.aclose()


async def test_a_gap_beyond_the_history_resets_the_streams():
    stream = await subscribe("t", None)
    first = await apublish("t", "first")
    assert await take(stream, 1) == [("message", first, '"first"')]
    lost = [await history().append("t", None, str(n)) for n in range(7)]  # more than the 5 kept, never sent
    after = await apublish("t", "after")
    # the feed cannot replay what it missed: it tells the page to refetch, as of the newest event
    assert await take(stream, 1) == [("stream-reset", after, f'{{"lastEventId":"{first}"}}')]
    assert int(after) == lost[-1] + 1
    live = await apublish("t", "live")
    assert await take(stream, 1) == [("message", live, '"live"')]
    await stream.aclose()


async def test_subscribing_while_events_flow_loses_and_repeats_nothing(settings):
    """Streams that join mid-flow, with a Last-Event-ID, see every event after it exactly once, in order."""
    settings.REALTIME = {**settings.REALTIME, "SSE_HISTORY_SIZE": 1000}
    first = await apublish("t", 0)

    async def publisher() -> list[str]:
        sent = []
        for n in range(1, 200):
            sent.append(await apublish("t", n))
            if n % 7 == 0:
                await asyncio.sleep(0)
        return sent

    task = asyncio.create_task(publisher())
    streams = []
    while not task.done():  # join at different points of the flow
        streams.append(await subscribe("t", int(first)))
        await asyncio.sleep(0)
    sent = await task
    assert len(streams) >= 3
    for stream in streams:
        assert [event_id for _, event_id, _ in await take(stream, len(sent))] == sent
        await stream.aclose()


async def test_streams_and_feeds_are_cleaned_up():
    channel = lifetime.process_channel()
    stream = await subscribe("gone", None)
    other = await subscribe("gone", None)
    assert channel.wants(names.topic("gone"))
    await stream.aclose()
    assert "gone" in topics._feeds.get()
    await other.aclose()
    assert "gone" not in topics._feeds.get()
    assert not channel.wants(names.topic("gone"))
    # a stream that never started (its response was dropped before it was sent) is released when collected
    never = await subscribe("dropped", None)
    assert "dropped" in topics._feeds.get()
    del never
    gc.collect()
    assert "dropped" not in topics._feeds.get()


async def test_a_client_that_reads_too_slowly_is_ended(settings):
    settings.REALTIME = {**settings.REALTIME, "MAX_OUTBOUND_BYTES": 2000}
    stream = await subscribe("slow", None)
    for _ in range(30):
        await apublish("slow", "x" * 100)
    await asyncio.sleep(0.1)  # let the layer deliver
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), WAIT)
    assert "slow" not in (topics._feeds.current() or {})


async def test_heartbeats_on_a_quiet_topic():
    stream = await subscribe("quiet", None, heartbeat=0.05)
    assert await asyncio.wait_for(anext(stream), WAIT) == b":\n\n"
    await stream.aclose()


# -- publish from sync code and hubs -------------------------------------------------------------------------


def test_sync_publish_outside_a_loop_and_its_refusal_inside_one():
    first = publish("sync", {"n": 1})
    second = publish("sync", {"n": 2}, "e")
    assert int(second) == int(first) + 1

    async def inside() -> None:
        publish("sync", 3)

    with pytest.raises(RuntimeError, match="await realtime.eventstream.apublish"):
        asyncio.run(inside())


class PublishingHub(Hub):
    async def Announce(self, text):  # noqa: N802
        return await apublish("hub-news", text, "announce")

    @hub_method
    def announce_sync(self, text):
        return publish("hub-news", text)


async def test_hub_methods_publish():
    stream = await subscribe("hub-news", None)
    async with HubCommunicator(PublishingHub) as client:
        first = await client.invoke("Announce", "async")
        second = await client.invoke("announce_sync", "sync")
    assert await take(stream, 2) == [("announce", first, '"async"'), ("message", second, '"sync"')]
    await stream.aclose()


# -- responses ---------------------------------------------------------------------------------------------


class Forever(EventStreamView):
    async def events(self, request):
        try:
            yield ServerSentEvent("hello")
            await asyncio.Event().wait()
        finally:
            FOREVER_CLOSED.set()


FOREVER_CLOSED = threading.Event()
urlpatterns = [path("forever", Forever.as_view()), path("topic/<str:topic>", TopicStreamView.as_view())]


@override_settings(ROOT_URLCONF=__name__)
async def test_django_closes_the_stream_when_the_client_disconnects():
    FOREVER_CLOSED.clear()
    sent: list[dict] = []
    disconnect = asyncio.Event()
    body = asyncio.Event()

    calls = []

    async def receive():
        calls.append(1)
        if len(calls) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if b"hello" in message.get("body", b""):
            body.set()

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/forever",
        "query_string": b"",
        "headers": [],
        "asgi": {"version": "3.0"},
    }
    app = asyncio.create_task(ASGIHandler()(scope, receive, send))
    await asyncio.wait_for(body.wait(), WAIT)
    assert sent[0]["status"] == 200
    assert (b"Content-Type", b"text/event-stream") in sent[0]["headers"]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b":\nretry: 3000\n\ndata: hello\n\n"
    disconnect.set()
    await asyncio.wait_for(app, WAIT)
    assert FOREVER_CLOSED.is_set()


@override_settings(ROOT_URLCONF=__name__)
async def test_an_unreachable_history_answers_503(settings, caplog):
    settings.REALTIME = {
        **settings.REALTIME,
        "SSE_HISTORY_BACKEND": "realtime.eventstream.history.RedisHistory",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    }
    sent: list[dict] = []
    calls: list[int] = []

    async def receive():
        calls.append(1)
        if len(calls) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(WAIT)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/topic/news", "query_string": b"", "headers": []}
    await asyncio.wait_for(ASGIHandler()({**scope, "asgi": {"version": "3.0"}}, receive, send), WAIT)
    assert sent[0]["status"] == 503
    assert b"history is unavailable" in sent[1]["body"]
    assert "news" not in (topics._feeds.current() or {})


def test_sync_iteration_and_wsgi_servers_get_a_clear_error(caplog):
    async def nothing():
        yield ServerSentEvent("x")

    with pytest.raises(ImproperlyConfigured, match="needs an ASGI server"):
        iter(EventStreamResponse(nothing()))
    with override_settings(ROOT_URLCONF=__name__):
        for url in ("/forever", "/topic/news"):
            server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=QuietHandler)
            thread = threading.Thread(target=server.handle_request)
            thread.start()
            try:
                with pytest.raises(urllib.error.HTTPError) as caught:
                    urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{url}", timeout=WAIT)
                assert caught.value.code == 500
                (record,) = [r for r in caplog.records if r.name == "django.request"]
                assert "needs an ASGI server" in str(record.exc_info[1])
                caplog.clear()
            finally:
                thread.join(WAIT)
                server.server_close()


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


# -- system checks -----------------------------------------------------------------------------------------


def _ids(deploy: bool = False) -> set[str]:
    """Ids of realtime's messages about settings (those about hub classes name them in ``obj``)."""
    found = checks.run_checks(databases=[], include_deployment_checks=deploy)
    return {m.id for m in found if (m.id or "").startswith("realtime.") and m.obj is None}


def test_system_checks_catch_sse_misconfigurations(settings):
    assert _ids() == set()
    settings.REALTIME = {"SSE_HISTORY_BACKEND": "realtime.eventstream.history.RedisHistory"}
    assert "realtime.E020" in _ids()
    settings.REALTIME = {"SSE_HISTORY_SIZE": 0, "SSE_TOPIC_PATTERN": "(["}
    assert {"realtime.E022", "realtime.E023"} <= _ids()
    settings.REALTIME = {}
    redis_layer = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [{"socket_timeout": None}]}}
    with override_settings(CHANNEL_LAYERS={"default": redis_layer}):
        assert "realtime.W021" in _ids(deploy=True)  # check --deploy: one process may share a Redis layer
        assert _ids() == set()
    settings.REALTIME = {
        "SSE_HISTORY_BACKEND": "realtime.eventstream.history.RedisHistory",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    with override_settings(CHANNEL_LAYERS={"default": redis_layer}):
        assert "realtime.W021" not in _ids(deploy=True)
        assert _ids() == set()


def test_a_view_without_events_says_what_to_define():
    class Forgotten(EventStreamView):
        pass

    with pytest.raises(ImproperlyConfigured, match=r"Forgotten must define events\(self, request, \.\.\.\)"):
        Forgotten().events(None)


async def test_sync_publish_from_threads_of_a_server_process_opens_no_client_per_call(settings, redis_url):
    """A thread of a server process (``asyncio.to_thread``) runs the publish on the process channel's loop."""
    import redis

    settings.REALTIME = {
        **settings.REALTIME,
        "SSE_HISTORY_BACKEND": "realtime.eventstream.history.RedisHistory",
        "REDIS_URL": redis_url,
    }
    forget_backend("SSE_HISTORY_BACKEND")
    await lifetime.process_channel().start()  # what runs in every server process
    stream = await subscribe("t", None)
    first = await asyncio.to_thread(publish, "t", "first")
    assert await take(stream, 1) == [("message", first, '"first"')]
    counter = redis.Redis.from_url(redis_url)
    before = counter.info("clients")["connected_clients"]
    ids = [await asyncio.to_thread(publish, "t", n) for n in range(5)]
    assert await take(stream, 5) == [("message", event_id, str(n)) for n, event_id in enumerate(ids)]
    assert counter.info("clients")["connected_clients"] - before <= 1
    counter.close()
    await stream.aclose()
    await history().release_loop()


async def test_an_event_generator_runs_in_one_task_across_its_yields():
    """Context variables and ``with`` blocks that span ``yield`` work (heartbeats on)."""
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    closed: list[bool] = []

    async def events():
        token = var.set("set")
        try:
            for n in range(3):
                yield ServerSentEvent(f"{n}:{var.get()}")
                await asyncio.sleep(0)
        finally:
            var.reset(token)  # ValueError if a later step ran in another context
            closed.append(True)

    response = EventStreamResponse(events(), heartbeat=5)
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert [data for _, _, data in parse(body)] == ["0:set", "1:set", "2:set"]
    assert closed == [True]


async def test_an_event_generator_error_ends_the_stream_with_that_error():
    async def events():
        yield ServerSentEvent("one")
        raise LookupError("gone")

    response = EventStreamResponse(events(), heartbeat=5)
    received = []
    with pytest.raises(LookupError, match="gone"):
        async for chunk in response.streaming_content:
            received.append(chunk)
    assert [data for _, _, data in parse(b"".join(received))] == ["one"]


async def test_a_stored_event_the_layer_refuses_is_logged_and_still_delivered(settings, caplog, monkeypatch):
    settings.REALTIME = {**settings.REALTIME, "SSE_HEARTBEAT_INTERVAL": 0.2}
    stream = await subscribe("t", None)

    async def refuse(group, event):
        raise ConnectionError("layer down")

    monkeypatch.setattr(lifetime, "send_to_group", refuse)
    event_id = await apublish("t", "kept")  # no error: it is stored, a retry would duplicate it
    assert "the channel layer refused it" in caplog.text
    assert await take(stream, 1) == [("message", event_id, '"kept"')]  # from the history, at the next check
    await stream.aclose()


# -- authentication and permissions: DRF's classes ------------------------------------------------------------


class Whoami(EventStreamView):
    permission_classes = [IsAuthenticated]

    async def events(self, request):
        yield ServerSentEvent.json(
            {"user": self.user.username, "auth": type(self.auth).__name__, "request.user": request.user.username}
        )
        await asyncio.Event().wait()


class SessionOnly(Whoami):
    authentication_classes = [SessionAuthentication]


class OwnTopic(BasePermission):
    """``own-<username>`` topics are their user's (an async DRF-style permission reading the view)."""

    async def has_permission(self, request, view):
        return view.topic == f"own-{request.user.username}"


class SeesADrfRequest(BasePermission):
    def has_permission(self, request, view):
        assert isinstance(request, Request) and isinstance(view, TopicStreamView)
        return request.method == "GET" and "lastEventId" not in request.query_params


urlpatterns += [
    path("whoami", Whoami.as_view()),
    path("session-only", SessionOnly.as_view()),
    path("own/<str:topic>", TopicStreamView.as_view(permission_classes=[SeesADrfRequest, IsAdminUser | OwnTopic])),
]


async def get(
    path: str, headers: list[tuple[bytes, bytes]] = (), until: bytes = b"data:"
) -> tuple[int, dict[bytes, bytes], bytes]:
    """GET ``path`` through Django's ASGI handler: status, headers and the body up to ``until`` (a stream is
    then ended by a client disconnect)."""
    sent: list[dict] = []
    answered, gone = asyncio.Event(), asyncio.Event()
    calls: list[int] = []

    async def receive():
        calls.append(1)
        if len(calls) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        body = b"".join(m.get("body", b"") for m in sent[1:])
        if message["type"] == "http.response.body" and (until in body or not message.get("more_body")):
            answered.set()

    path, _, query = path.partition("?")
    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": list(headers)}
    app = asyncio.create_task(ASGIHandler()({**scope, "asgi": {"version": "3.0"}}, receive, send))
    await asyncio.wait_for(answered.wait(), WAIT)
    gone.set()
    await asyncio.wait_for(app, WAIT)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def _users() -> dict[str, str]:
    """Real users and their simplejwt access tokens; ``session`` is a session cookie of ``bob``."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework_simplejwt.tokens import AccessToken

    users = get_user_model().objects
    alice, bob = users.create_user("alice"), users.create_user("bob")
    admin, gone = users.create_user("admin", is_staff=True), users.create_user("gone")
    tokens = {user.username: str(AccessToken.for_user(user)) for user in (alice, admin, gone)}
    gone.delete()
    session = SessionStore()
    session.update({"_auth_user_id": str(bob.pk), "_auth_user_hash": bob.get_session_auth_hash()})
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session.save()
    return {**tokens, "session": f"sessionid={session.session_key}"}


SESSIONS = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


@pytest.mark.django_db(transaction=True)
@override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=SESSIONS)
async def test_sse_views_authenticate_a_jwt_from_the_header_or_query_then_the_session(caplog):
    from asgiref.sync import sync_to_async

    found = await sync_to_async(_users)()
    bearer = [(b"authorization", f"Bearer {found['alice']}".encode())]
    cookie = [(b"cookie", found["session"].encode())]
    for headers, query in [(bearer, ""), ([], f"?access_token={found['alice']}"), (cookie + bearer, "")]:
        status, _, body = await get(f"/whoami{query}", headers)
        assert status == 200
        assert parse(body) == [("message", "", '{"user":"alice","auth":"AccessToken","request.user":"alice"}')]
    status, _, body = await get("/whoami", cookie)
    assert (status, parse(body)[0][2]) == (200, '{"user":"bob","auth":"NoneType","request.user":"bob"}')
    caplog.set_level(logging.INFO, logger="realtime.eventstream")
    for headers, query in [([], ""), ([], "?access_token=junk"), (cookie, f"?access_token={found['gone']}")]:
        status, response_headers, body = await get(f"/whoami{query}", headers)  # a rejected token: anonymous
        assert (status, body, response_headers[b"WWW-Authenticate"]) == (401, b"", b'Bearer realm="api"')
    assert "rejected the credentials of a request to /whoami: User not found" in caplog.text
    assert (await get("/session-only", bearer))[0] == 401  # no JWT class: the token is not read
    assert (await get("/session-only", cookie))[0] == 200
    assert b"WWW-Authenticate" not in (await get("/session-only"))[1]  # session auth names no scheme


@pytest.mark.django_db(transaction=True)
@override_settings(ROOT_URLCONF=__name__)
async def test_sse_permissions_are_drf_classes_composed_and_see_the_view():
    from asgiref.sync import sync_to_async

    found = await sync_to_async(_users)()
    alice, admin = ({"access_token": found[name]} for name in ("alice", "admin"))
    codes = [
        (await get(f"/own/{topic}?{urlencode(query)}", until=b":\n"))[0]
        for topic, query in [
            ("own-alice", alice),
            ("own-admin", alice),
            ("own-alice", admin),
            ("own-alice", {**alice, "lastEventId": "0"}),
            ("own-alice", {}),
        ]
    ]
    assert codes == [200, 403, 200, 403, 401]
