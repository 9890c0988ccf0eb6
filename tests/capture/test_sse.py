"""Captured changes on an SSE topic: live to the streams of every process, only the rows a stream's user may see,
replay from the outbox after ``Last-Event-ID``, ``stream-reset`` when the outbox no longer reaches back."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from tests.capture.conftest import CaptureStack, _get
from tests.capture.test_capture import PRUNE_ALL
from tests.sse.client import Event, EventStream, open_stream, request

pytestmark = pytest.mark.timeout(120)

TOPIC = "captured-items"


async def stream_url(stack: CaptureStack, server: int, user: str) -> str:
    base = stack.servers[server].url
    token = await asyncio.to_thread(_get, f"{base}/generateJwtToken?user={user}")
    return f"{base}/sse/{TOPIC}?access_token={token}"


async def until_name(stream: EventStream, name: str) -> list[Event]:
    """Every event up to and including the ``ItemChanged`` of the row named ``name``."""
    seen: list[Event] = []
    while not seen or seen[-1].event != "ItemChanged" or json.loads(seen[-1].data)["name"] != name:
        seen.append(await stream.next())
    return seen


def names(events: list[Event]) -> list[str]:
    return [json.loads(event.data)["name"] for event in events if event.event == "ItemChanged"]


async def test_captured_rows_reach_topic_streams_live_then_by_replay_then_a_reset(stack: CaptureStack) -> None:
    t = secrets.token_hex(3)
    async with open_stream(await stream_url(stack, 0, "alice")) as stream:
        assert stream.response.status == 200
        await stream.comment()  # subscribed: the stream's opening comment
        await asyncio.to_thread(
            stack.psql,
            f"INSERT INTO conformance_item (name, owner) VALUES ('{t}-mine', 'alice'), ('{t}-bobs', 'bob'); "
            f"INSERT INTO conformance_item (name) VALUES ('{t}-all')",
        )
        live = await until_name(stream, f"{t}-all")
    assert names(live) == [f"{t}-mine", f"{t}-all"]  # bob's row never reaches alice
    assert json.loads(live[0].data) == {"op": "insert", "id": json.loads(live[0].data)["id"], "name": f"{t}-mine",
                                        "done": False}  # fmt: skip
    seen = live[0].id  # alice saw her row, then the connection dropped
    assert int(live[1].id) > int(seen)
    await asyncio.to_thread(stack.psql, f"UPDATE conformance_item SET done = true WHERE name LIKE '{t}-%'")
    async with open_stream(await stream_url(stack, 1, "alice"), headers={"Last-Event-ID": seen}) as back:
        assert back.response.status == 200
        missed = await until_name(back, f"{t}-all")
        missed += await until_name(back, f"{t}-mine")
        missed += await until_name(back, f"{t}-all")
    # what came after her id, in commit order: the insert of t-all, then the updates she may see
    assert [(json.loads(e.data)["op"], json.loads(e.data)["name"]) for e in missed] == [
        ("insert", f"{t}-all"), ("update", f"{t}-mine"), ("update", f"{t}-all")
    ]  # fmt: skip
    stack.sql(PRUNE_ALL)
    async with open_stream(await stream_url(stack, 0, "alice"), headers={"Last-Event-ID": seen}) as old:
        reset = await old.next()
    assert reset.event == "stream-reset" and json.loads(reset.data) == {"lastEventId": seen}
    ((pruned,),) = stack.sql("SELECT pruned FROM realtime_capture_state")
    assert int(reset.id) >= pruned  # the newest id: the stream goes on from there


async def test_a_captured_topic_takes_no_published_event(stack: CaptureStack) -> None:
    status, body, _ = await request("POST", f"{stack.servers[0].url}/sse/{TOPIC}", json={"event": None, "data": 1})
    assert status == 400 and "captured changes" in body
