"""SSE views against real daphne and uvicorn processes, read with a plain HTTP client (aiohttp).

Covers the wire format, heartbeats, cleanup when the client leaves, topics with live delivery and replay
(``Last-Event-ID`` header and ``?lastEventId=``), the ``stream-reset`` event, authentication and bad input.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests.sse.client import open_stream, publish, request
from tests.sse.conftest import sse_server

pytestmark = pytest.mark.timeout(120)

HISTORY = 5


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request):
    env = {"SSE_HEARTBEAT_INTERVAL": "0.5", "SSE_RETRY_MS": "700", "SSE_HISTORY_SIZE": str(HISTORY)}
    with sse_server(request.param, env) as running:
        yield running


async def status(server) -> dict:
    code, body, _ = await request("GET", f"{server.url}/sse-test/status")
    assert code == 200
    return json.loads(body)


async def until(condition, timeout: float = 20.0) -> None:
    """Poll an async ``condition`` (bounded)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_wire_format_of_a_hand_written_stream(server):
    async with open_stream(f"{server.url}/sse-test/demo") as stream:
        assert stream.response.status == 200
        headers = stream.response.headers
        assert headers["Content-Type"] == "text/event-stream"
        assert headers["Cache-Control"] == "no-cache"
        assert headers["X-Accel-Buffering"] == "no"
        assert "Content-Length" not in headers
        lines, hello, who = await stream.events(3)
        assert (lines.event, lines.data, lines.id) == ("lines", "one\ntwo\nthree\nfour", "a1")
        assert (hello.event, hello.data, hello.id) == ("message", "héllo ✓ 🎉 日本", "a2")
        assert (who.event, json.loads(who.data), who.id) == ("who", {"user": "None"}, "a2")
        assert "just a comment" in stream.comments
        assert await stream.retry_field() == 1500  # the demo's last item
        raw = bytes(stream.raw)
        assert raw.startswith(b":\nretry: 700\n\n")
        assert b"event: lines\nid: a1\ndata: one\ndata: two\ndata: three\ndata: four\n\n" in raw
        assert "data: héllo ✓ 🎉 日本\n".encode() in raw


async def test_heartbeat_and_cleanup_when_the_client_leaves(server):
    tag = f"heartbeat-{uuid.uuid4().hex}"  # streams of other tests may still be closing
    async with open_stream(f"{server.url}/sse-test/demo?heartbeat=0.3&tag={tag}") as stream:
        await stream.events(3)
        assert stream.comments == ["", "just a comment"]  # the preamble, then the item
        assert await stream.comment() == ""  # a heartbeat after 0.3 s of silence
        assert await stream.comment() == ""
        assert (await status(server))["demo"].get(tag) == 1
    # the client closed the connection: the view's iterator is closed at once (its finally ran). Only the
    # server knows when; its status is the one place to see it.
    await until(lambda: _not_in_demo(status(server), tag))


async def _not_in_demo(coroutine, tag: str) -> bool:
    return tag not in (await coroutine)["demo"]


async def test_topic_live_then_replay_by_header_and_query(server):
    topic = f"live-{server.process.pid}"
    async with open_stream(f"{server.url}/sse/{topic}") as stream:
        first = await publish(server.url, topic, {"n": 1}, "tick")
        second = await publish(server.url, topic, "two lines\nhere")
        one, two = await stream.events(2)
        assert (one.event, json.loads(one.data), one.id) == ("tick", {"n": 1}, first)
        assert (two.event, json.loads(two.data), two.id) == ("message", "two lines\nhere", second)
        assert int(second) == int(first) + 1
    missed = [await publish(server.url, topic, n) for n in (3, 4)]
    for headers, query in (({"Last-Event-ID": second}, ""), ({}, f"?lastEventId={second}")):
        async with open_stream(f"{server.url}/sse/{topic}{query}", headers) as stream:
            replayed = await stream.events(len(missed))
            assert [e.id for e in replayed] == missed
            assert json.loads(replayed[0].data) == 3
            live = await publish(server.url, topic, len(missed) + 3)
            assert (await stream.next()).id == live
            assert stream.idle() == []  # nothing twice
            missed.append(live)
    # the header wins over the query parameter; an up-to-date id replays nothing
    async with open_stream(f"{server.url}/sse/{topic}?lastEventId={first}", {"Last-Event-ID": live}) as stream:
        assert await stream.comment() == ""  # the preamble
        assert await stream.comment() == ""  # a heartbeat: any replay would have come before it
        assert stream.last_id == ""  # no event came


async def test_topic_heartbeat_and_feed_cleanup(server):
    topic = f"beat-{server.process.pid}"
    async with open_stream(f"{server.url}/sse/{topic}") as stream, open_stream(f"{server.url}/sse/{topic}") as other:
        assert await stream.comment() == ""  # the preamble
        assert await stream.comment() == ""  # a heartbeat (SSE_HEARTBEAT_INTERVAL=0.5)
        assert await other.comment() == ""
        assert topic in (await status(server))["feeds"]
    await until(lambda: _not_in(status(server), topic))


async def _not_in(coroutine, topic) -> bool:
    return topic not in (await coroutine)["feeds"]


async def test_reset_when_the_id_is_older_than_the_history(server):
    topic = f"old-{server.process.pid}"
    ids = [await publish(server.url, topic, n) for n in range(HISTORY + 2)]
    # the oldest kept is ids[2]: after ids[1] is still complete, after ids[0] is not
    async with open_stream(f"{server.url}/sse/{topic}", {"Last-Event-ID": ids[1]}) as stream:
        assert [e.id for e in await stream.events(HISTORY)] == ids[2:]
    newest = ids[-1]
    for asked in (ids[0], "1", str(int(ids[-1]) + 1000)):  # too old, unknown, from the future
        async with open_stream(f"{server.url}/sse/{topic}?lastEventId={asked}") as stream:
            reset = await stream.next()
            assert (reset.event, json.loads(reset.data), reset.id) == ("stream-reset", {"lastEventId": asked}, newest)
            newest = await publish(server.url, topic, "after")
            assert (await stream.next()).id == newest  # then live, from the newest id on
            assert stream.idle() == []


async def test_bad_input_gets_a_clear_answer_and_disturbs_nothing(server):
    topic = f"bad-{server.process.pid}"
    async with open_stream(f"{server.url}/sse/{topic}") as stream:
        for headers, url in [
            ({"Last-Event-ID": "abc"}, f"/sse/{topic}"),
            ({}, f"/sse/{topic}?lastEventId=-5"),
            ({"Last-Event-ID": "9" * 40}, f"/sse/{topic}"),
        ]:
            code, body, _ = await request("GET", server.url + url, headers=headers)
            assert code == 400 and "Last-Event-ID" in body
        for name in ["a%20b", "x" * 201, "%C3%A9t%C3%A9", "a%2Fb"]:
            code, body, _ = await request("GET", f"{server.url}/sse/{name}")
            assert code in (400, 404)
            if code == 400:
                assert "not allowed" in body
        code, body, _ = await request("POST", f"{server.url}/sse/a%20b", json={"event": None, "data": 1})
        assert code == 400 and "not allowed" in body
        code, body, _ = await request("POST", f"{server.url}/sse/{topic}", json={"event": None, "data": "x" * 70_000})
        assert code == 413 and "SSE_MAX_EVENT_SIZE" in body
        code, body, _ = await request("POST", f"{server.url}/sse/{topic}", json={"event": "two\nlines", "data": 1})
        assert code == 400 and "one line" in body
        code, body, _ = await request("POST", f"{server.url}/sse/{topic}", data=b"not json")
        assert code == 400
        code, body, _ = await request("GET", f"{server.url}/sse-test/only-news/sports")
        assert code == 404 and "Unknown topic" in body
        # the open stream saw none of it, and still works
        good = await publish(server.url, topic, "fine")
        event = await stream.next()
        assert (event.id, json.loads(event.data)) == (good, "fine")
        assert stream.idle() == []


async def test_authentication_and_permissions(server):
    topic = f"auth-{server.process.pid}"
    code, _, _ = await request("GET", f"{server.url}/sse-test/private/{topic}")
    assert code == 401
    code, _, _ = await request(
        "GET", f"{server.url}/sse-test/private/{topic}", headers={"Authorization": "Bearer junk"}
    )
    assert code == 401
    _, token, _ = await request("GET", f"{server.url}/generateJwtToken")
    code, _, _ = await request(
        "GET", f"{server.url}/sse-test/staff/{topic}", headers={"Authorization": f"Bearer {token}"}
    )
    assert code == 403  # authenticated, but not staff
    for url, headers in [
        (f"{server.url}/sse-test/private/{topic}", {"Authorization": f"Bearer {token}"}),
        (f"{server.url}/sse-test/private/{topic}?access_token={token}", {}),
    ]:
        async with open_stream(url, headers) as stream:
            assert stream.response.status == 200
            sent = await publish(server.url, topic, "secret")
            assert (await stream.next()).id == sent
    async with open_stream(f"{server.url}/sse-test/demo", {"Authorization": f"Bearer {token}"}) as stream:
        who = (await stream.events(3))[2]
        assert json.loads(who.data) == {"user": "testuser"}


async def test_drf_permissions_and_the_query_token_authentication(server):
    _, token, _ = await request("GET", f"{server.url}/generateJwtToken")
    code, _, headers = await request("GET", f"{server.url}/sse-test/own/own-testuser")
    assert (code, headers["WWW-Authenticate"]) == (401, 'Bearer realm="api"')
    code, _, _ = await request("GET", f"{server.url}/sse-test/own/own-someone?access_token={token}")
    assert code == 403  # IsAuthenticated & (IsAdminUser | OwnTopic): not staff, not the owner
    async with open_stream(f"{server.url}/sse-test/own/own-testuser?access_token={token}") as stream:
        assert stream.response.status == 200
        sent = await publish(server.url, "own-testuser", "mine")
        assert (await stream.next()).id == sent
    for url, headers in [
        (f"{server.url}/sse-test/whoami", {"Authorization": f"Bearer {token}"}),
        (f"{server.url}/sse-test/whoami?access_token={token}", {}),
    ]:
        code, body, _ = await request("GET", url, headers=headers)
        assert (code, json.loads(body)) == (200, {"user": "testuser"})
    code, body, _ = await request("GET", f"{server.url}/sse-test/whoami?access_token=junk")
    assert code == 401 and json.loads(body)["code"] == "token_not_valid"


async def test_session_authentication(server):
    import aiohttp

    topic = f"session-{server.process.pid}"
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of an IP-address host
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), cookie_jar=jar) as session:
        async with session.get(f"{server.url}/sse-test/private/{topic}") as response:
            assert response.status == 401
        async with session.get(f"{server.url}/sse-test/login") as response:
            assert response.status == 200
        async with session.get(f"{server.url}/sse-test/private/{topic}") as response:
            assert response.status == 200
            assert (await response.content.readuntil(b"\n\n")).startswith(b":\n")
