"""Model broadcasting on PostgreSQL through real processes: a daphne server (views) and management commands
(no server), a private Redis channel layer, clients over WebSockets. Nothing is sent before a commit or after
a rollback; bulk paths send only what ``broadcast()`` is asked to; "to others" skips the sender."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from tests.push.conftest import collect_until

pytestmark = pytest.mark.timeout(120)

CREATED, UPDATED, DELETED = (f"pushapp.Order.{action}" for action in ("created", "updated", "deleted"))
_markers = itertools.count()


async def op(stack, body, headers=None):
    status, answer = await stack.post("/pushapp/ops", body, headers)
    assert status == 200, answer
    return answer["ids"]


async def async_op(stack, body, headers=None):
    status, answer = await stack.post("/pushapp/async-ops", body, headers)
    assert status == 200, answer
    return answer["ids"]


async def marker(stack, groups=("orders",)) -> str:
    """Announce a fresh marker to ``groups``; every event sent before it arrives before it."""
    text = f"marker-{next(_markers)}"
    await op(stack, {"op": "announce", "text": text, "groups": list(groups)})
    return text


async def own_connection_id(client, name: str) -> str:
    """The client's connection id, read back through presence (ChatHub tracks it)."""
    await client.invoke("JoinGroup", name)
    [connection_id] = await client.invoke("GetGroupMembers", name)
    return connection_id


def names(events, target=None):
    return [(t, payload["name"]) for t, payload in events if target in (None, t)]


async def test_create_update_delete_reach_list_and_object_groups(push_stack):
    watcher = await push_stack.client("chathub", "orders")
    try:
        [pk] = await op(push_stack, {"op": "create", "names": ["pen"]})
        created = [{"id": pk, "name": "pen", "status": "new", "total": "0.00"}]
        assert await watcher.receive_invocation(CREATED) == created
        detail = await push_stack.client("chathub", f"orders-{pk}")
        try:
            await op(push_stack, {"op": "update", "id": pk, "status": "paid"})
            expected = [{"id": pk, "name": "pen", "status": "paid", "total": "0.00"}]
            assert await watcher.receive_invocation(UPDATED) == expected
            assert await detail.receive_invocation(UPDATED) == expected
            await op(push_stack, {"op": "delete", "ids": [pk]})
            assert (await watcher.receive_invocation(DELETED))[0]["id"] == pk  # the deleted row's data, pk included
            assert (await detail.receive_invocation(DELETED))[0] == {**expected[0]}
        finally:
            await detail.close()
    finally:
        await watcher.close()


async def test_rollbacks_send_nothing_and_commits_send_once(push_stack):
    watcher = await push_stack.client("chathub", "orders")
    try:
        await op(push_stack, {"op": "create", "names": ["ghost-1", "ghost-2"], "atomic": True, "rollback": True})
        await op(push_stack, {"op": "create", "names": ["a1", "a2"], "atomic": True})
        await op(push_stack, {"op": "savepoint", "keep": "kept", "drop": "dropped"})
        events = await collect_until(watcher, await marker(push_stack))
        assert names(events) == [(CREATED, "a1"), (CREATED, "a2"), (CREATED, "kept")]
    finally:
        await watcher.close()


async def test_each_database_alias_follows_its_own_transaction(push_stack):
    """Two connections to the database ("default", "other"): a model event and a ``broadcast(using=...)``
    wait for the commit of the connection they were made on, and are dropped by its rollback only."""
    watcher = await push_stack.client("chathub", "orders")
    try:
        body = {"keep": "other-kept", "drop": "default-dropped", "keep_default": "default-kept"}
        ids = await op(push_stack, {"op": "aliases", **body, "drop_other": "other-dropped"})
        events = await collect_until(watcher, await marker(push_stack))
        assert [(t, p if t == "Note" else p["name"]) for t, p in events] == [
            (CREATED, "other-kept"), ("Note", "other-kept"), (CREATED, "default-kept"), ("Note", "default-kept"),
        ]  # fmt: skip
        for pk, name in zip(ids, ["other-kept", "default-kept"], strict=True):
            status, row = await push_stack.get(f"/pushapp/orders/{pk}")
            assert (status, row["name"]) == (200, name)
    finally:
        await watcher.close()


async def test_bulk_paths_send_what_broadcast_is_asked(push_stack):
    watcher = await push_stack.client("chathub", "orders")
    try:
        await op(push_stack, {"op": "bulk_create", "names": ["silent-1", "silent-2"]})  # bulk_create: no signal
        ids = await op(push_stack, {"op": "bulk_create", "names": ["b1", "b2", "b3"], "broadcast": True})
        await op(push_stack, {"op": "bulk_update", "ids": ids[:2], "status": "shipped"})  # update(): explicit
        await op(push_stack, {"op": "delete", "ids": ids})  # QuerySet.delete(): one post_delete per row
        events = await collect_until(watcher, await marker(push_stack))
        assert names(events, CREATED) == [(CREATED, "b1"), (CREATED, "b2"), (CREATED, "b3")]
        assert [(t, p["id"], p["status"]) for t, p in events if t == UPDATED] == [
            (UPDATED, ids[0], "shipped"),
            (UPDATED, ids[1], "shipped"),
        ]
        assert sorted(p["id"] for t, p in events if t == DELETED) == ids
        assert len(events) == 8
    finally:
        await watcher.close()


async def test_to_others_skips_the_sender_connection(push_stack):
    sender, other = await push_stack.client("chathub", "orders"), await push_stack.client("chathub", "orders")
    try:
        sender_id = await own_connection_id(sender, "whoami-sender")
        [pk] = await op(push_stack, {"op": "create", "names": ["shared"]}, {"X-Realtime-Connection-Id": sender_id})
        await op(push_stack, {"op": "update", "id": pk, "status": "edited"}, {"X-Realtime-Connection-Id": sender_id})
        await op(push_stack, {"op": "create", "names": ["bad-header"]}, {"X-Realtime-Connection-Id": "no spaces!"})
        text = await marker(push_stack)
        assert names(await collect_until(sender, text)) == [(CREATED, "bad-header")]  # malformed ids are ignored
        assert names(await collect_until(other, text)) == [
            (CREATED, "shared"),
            (UPDATED, "shared"),
            (CREATED, "bad-header"),
        ]
    finally:
        await sender.close()
        await other.close()


async def test_management_commands_push_after_commit_without_a_server(push_stack):
    """A command process (no server, no hub connection) pushes; the row is visible when the event arrives."""
    watcher = await push_stack.client("chathub", "orders")
    try:
        waiting = asyncio.ensure_future(watcher.receive_invocation(CREATED, timeout=30))
        hold = {"op": "create", "names": ["from-cli"], "atomic": True, "hold": 1.0}
        rollback = {"op": "create", "names": ["x"], "atomic": True, "rollback": True}
        done = await push_stack.command("pushapp_ops", json.dumps(rollback))
        assert done.returncode == 0, done.stderr
        command = asyncio.ensure_future(push_stack.command("pushapp_ops", json.dumps(hold)))
        [payload] = await waiting
        assert payload["name"] == "from-cli"  # the rolled-back "x" never came
        status, row = await push_stack.get(f"/pushapp/orders/{payload['id']}")  # another connection sees it: committed
        assert (status, row["name"]) == (200, "from-cli")
        finished = await command
        assert finished.returncode == 0, finished.stderr
        assert "Error" not in finished.stderr and "Traceback" not in finished.stderr

        arguments = ["tests.conformance.hubs.ChatHub", "ReceiveMessage", '"cli"', '{"n": 1}', "--group", "orders"]
        sent = await push_stack.command("realtime_send", *arguments)
        assert sent.returncode == 0, sent.stderr
        assert await watcher.receive_invocation("ReceiveMessage") == ["cli", {"n": 1}]
    finally:
        await watcher.close()


async def test_async_views_push_after_the_commit_and_to_others(push_stack):
    """An async view: ``abroadcast`` in autocommit goes at once and skips the header's connection; async helpers
    that a transaction runs (``async_to_sync`` in a worker thread) wait for its commit, and a rollback drops
    their pushes. The row is visible to another connection when its event arrives."""
    sender, other = await push_stack.client("chathub", "orders"), await push_stack.client("chathub", "orders")
    try:
        sender_id = await own_connection_id(sender, "whoami-async-sender")
        await async_op(push_stack, {"op": "note", "text": "to others"}, {"X-Realtime-Connection-Id": sender_id})
        await async_op(push_stack, {"op": "atomic", "names": ["ghost"], "rollback": True})
        posting = asyncio.ensure_future(async_op(push_stack, {"op": "atomic", "names": ["held"], "hold": 1.0}))
        [payload] = await sender.receive_invocation(UPDATED, timeout=30)
        status, row = await push_stack.get(f"/pushapp/orders/{payload['id']}")  # another connection sees it
        assert status == 200, "the event came before the commit"
        assert row["name"] == "held"
        assert await posting == [payload["id"]]
        text = await marker(push_stack)

        def seen(events):
            return [(t, p if isinstance(p, str) else p["name"]) for t, p in events]

        assert seen(await collect_until(sender, text)) == [(CREATED, "held"), ("Note", "held")]
        assert seen(await collect_until(other, text)) == [
            ("Note", "to others"), (CREATED, "held"), (UPDATED, "held"), ("Note", "held"),
        ]  # fmt: skip
    finally:
        await sender.close()
        await other.close()
