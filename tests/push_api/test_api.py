"""The push API in one process: routes, status codes, ErrorDetail bodies, tokens, bodies, through the hub context
to real hub connections (the WebSocket transport, JSON and MessagePack)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from realtime.hubs import Hub
from realtime.protocol.messages import CloseMessage, HubMessage, InvocationMessage
from realtime.push_api import PushApiApp, api_routes
from realtime.testing import HubCommunicator

from .conftest import HOST, KEY, OTHER_KEY, Api, path

pytestmark = pytest.mark.timeout(60)


class PushHub(Hub):
    track_presence = True

    async def JoinGroup(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)

    async def WhoAmI(self) -> str:  # noqa: N802
        return self.context.connection_id


class OtherHub(PushHub):
    pass


class QuietHub(Hub):
    pass


@pytest.fixture
def api() -> Api:
    return Api(PushApiApp({"push": PushHub, "other": OtherHub}))


def user(name: str) -> User:
    return User(pk=name, username=name)


async def next_push(client: HubCommunicator) -> InvocationMessage:
    """The next invocation but presence diffs."""
    while (message := await client.receive_invocation()).target == "PresenceChanged":
        pass
    return message


async def closed(client: HubCommunicator) -> HubMessage:
    """The Close message the server sends, skipping what comes before it."""
    while not isinstance(message := await client.receive_message(), CloseMessage):
        pass
    return message


async def connection_id(client: HubCommunicator) -> str:
    return await client.invoke("WhoAmI")


def test_routes_refuse_hubs_they_cannot_serve():
    with pytest.raises(ImproperlyConfigured, match="must track presence"):
        PushApiApp({"quiet": QuietHub})
    with pytest.raises(ImproperlyConfigured, match="not a hub name"):
        PushApiApp({"hubs/chat": PushHub})
    with pytest.raises(ImproperlyConfigured, match="given twice"):
        PushApiApp({"push": PushHub, "PUSH": OtherHub})
    with pytest.raises(ImproperlyConfigured, match="Hub subclass"):
        PushApiApp({"push": object})  # type: ignore[dict-item]


async def test_send_to_the_hub_a_group_a_user_and_a_connection(api):
    async with (
        HubCommunicator(PushHub, user=user("alice")) as alice,
        HubCommunicator(PushHub, protocol="messagepack") as bob,
    ):
        await connection_id(alice)  # both are taken in (the handshake answer comes before)
        bob_id = await connection_id(bob)
        response = await api.call("POST", path("push", ":send"), body={"target": "Hello", "arguments": [1, "x"]})
        assert (response.status, response.body) == (202, b"")
        assert (await alice.receive_invocation("Hello")).arguments == [1, "x"]
        assert (await bob.receive_invocation("Hello")).arguments == [1, "x"]

        response = await api.call("POST", path("push", ":send"), query=f"api-version=2022-06-01&excluded={bob_id}",
                                  body={"target": "Only"})  # fmt: skip
        assert response.status == 202
        assert (await alice.receive_invocation("Only")).arguments == []
        await api.call("POST", path("push", ":send"), body={"target": "Fence"})
        assert (await next_push(bob)).target == "Fence"  # sent after "Only", which bob did not get
        await alice.receive_invocation("Fence")

        await bob.invoke("JoinGroup", "room")
        await alice.invoke("JoinGroup", "room")
        assert (await api.call("POST", path("push", "groups", "room", ":send"), body={"target": "G"})).status == 202
        assert (await bob.receive_invocation("G")).arguments == []
        await alice.receive_invocation("G")

        assert (await api.call("POST", path("push", "users", "alice", ":send"), body={"target": "U"})).status == 202
        await alice.receive_invocation("U")
        response = await api.call("POST", path("push", "connections", bob_id, ":send"), body={"target": "C"})
        assert response.status == 202
        await bob.receive_invocation("C")
        await api.call("POST", path("push", "users", "alice", ":send"), body={"target": "Fence2"})
        assert (await next_push(alice)).target == "Fence2"  # sent after "C", which alice did not get


async def test_existence_and_connection_groups(api):
    async with HubCommunicator(PushHub, user=user("alice")) as alice:
        alice_id = await connection_id(alice)
        assert (await api.call("HEAD", path("push", "connections", alice_id))).status == 200
        missing = await api.call("HEAD", path("push", "connections", "nobody"))
        assert (missing.status, missing.body) == (404, b"")
        assert (await api.call("HEAD", path("push", "users", "alice"))).status == 200
        assert (await api.call("HEAD", path("push", "users", "bob"))).status == 404
        assert (await api.call("HEAD", path("push", "groups", "a/b"))).status == 404

        assert (await api.call("PUT", path("push", "groups", "a/b", "connections", alice_id))).status == 200
        assert (await api.call("HEAD", path("push", "groups", "a/b"))).status == 200
        assert (await api.call("POST", path("push", "groups", "a/b", ":send"), body={"target": "AB"})).status == 202
        await alice.receive_invocation("AB")
        assert (await api.call("DELETE", path("push", "groups", "a/b", "connections", alice_id))).status == 200
        assert (await api.call("HEAD", path("push", "groups", "a/b"))).status == 404

        for group in ("one", "two"):
            assert (await api.call("PUT", path("push", "groups", group, "connections", alice_id))).status == 200
        assert (await api.call("DELETE", path("push", "connections", alice_id, "groups"))).status == 200
        for group in ("one", "two"):
            assert (await api.call("HEAD", path("push", "groups", group))).status == 404

        unknown = await api.call("PUT", path("push", "groups", "g", "connections", "nobody"))
        assert unknown.status == 404
        assert unknown.json() == {
            "code": "ConnectionNotFound",
            "message": "No connection 'nobody' in this hub.",
            "target": "connectionId",
        }
        assert (await api.call("DELETE", path("push", "groups", "g", "connections", "nobody"))).status == 404
        assert (await api.call("DELETE", path("push", "connections", "nobody", "groups"))).status == 404
        assert (await api.call("DELETE", path("push", "connections", "nobody"))).status == 404
        too_long = await api.call("HEAD", path("push", "groups", "g" * 1025))
        assert too_long.status == 400


async def test_user_groups_apply_to_connections_of_now_and_later_until_they_expire(api):
    async with (
        HubCommunicator(PushHub) as watcher,
        HubCommunicator(PushHub, user=user("alice")) as first,
    ):
        await watcher.invoke("JoinGroup", "vip")
        await watcher.receive_invocation("PresenceChanged")  # its own arrival
        first_id = await connection_id(first)
        query = "api-version=2022-06-01&ttl=2"
        response = await api.call("PUT", path("push", "users", "alice", "groups", "vip"), query=query)
        assert (response.status, response.body) == (200, b"")
        assert (await watcher.receive_invocation("PresenceChanged")).arguments[0]["joined"] == [first_id]
        assert (await api.call("HEAD", path("push", "users", "alice", "groups", "vip"))).status == 200
        async with HubCommunicator(PushHub, user=user("alice")) as later:
            later_id = await connection_id(later)
            assert (await watcher.receive_invocation("PresenceChanged")).arguments[0]["joined"] == [later_id]
            await api.call("POST", path("push", "groups", "vip", ":send"), body={"target": "V"})
            await first.receive_invocation("V")
            await later.receive_invocation("V")
            # the membership ends after its ttl: both leave, seen by the watcher (no polling)
            left = set()
            while left != {first_id, later_id}:
                left.update((await watcher.receive_invocation("PresenceChanged", timeout=10)).arguments[0]["left"])
        assert (await api.call("HEAD", path("push", "users", "alice", "groups", "vip"))).status == 404


async def test_ttl_zero_is_for_the_connections_of_now_and_removal_ends_membership(api):
    async with HubCommunicator(PushHub) as watcher, HubCommunicator(PushHub, user=user("bob")) as bob:
        watcher_id = await connection_id(watcher)
        await watcher.invoke("JoinGroup", "now")
        await watcher.receive_invocation("PresenceChanged")  # its own arrival
        bob_id = await connection_id(bob)
        query = "api-version=2022-06-01&ttl=0"
        assert (await api.call("PUT", path("push", "users", "bob", "groups", "now"), query=query)).status == 200
        assert (await watcher.receive_invocation("PresenceChanged")).arguments[0]["joined"] == [bob_id]
        assert (await api.call("HEAD", path("push", "users", "bob", "groups", "now"))).status == 404

        assert (await api.call("PUT", path("push", "users", "bob", "groups", "kept"))).status == 200
        await watcher.invoke("JoinGroup", "kept")
        assert (await watcher.receive_invocation("PresenceChanged")).arguments[0]["joined"] == [watcher_id]
        assert (await api.call("HEAD", path("push", "users", "bob", "groups", "kept"))).status == 200
        response = await api.call("DELETE", path("push", "users", "bob", "groups", "kept"))
        assert (response.status, response.body) == (204, b"")
        assert (await watcher.receive_invocation("PresenceChanged")).arguments[0]["left"] == [bob_id]
        assert (await api.call("HEAD", path("push", "users", "bob", "groups", "kept"))).status == 404

        assert (await api.call("PUT", path("push", "users", "bob", "groups", "later"))).status == 200
        assert (await api.call("DELETE", path("push", "users", "bob", "groups"))).status == 204
        assert (await watcher.receive_invocation("PresenceChanged")).arguments[0]["left"] == [bob_id]  # from "now"
        async with HubCommunicator(PushHub, user=user("bob")) as again:
            await connection_id(again)
            assert (await api.call("HEAD", path("push", "groups", "later"))).status == 404


async def test_closing_connections_carries_the_reason(api):
    async with (
        HubCommunicator(PushHub, user=user("alice")) as alice,
        HubCommunicator(PushHub, user=user("alice")) as alice2,
        HubCommunicator(PushHub) as bob,
    ):
        alice_id, alice2_id, bob_id = [await connection_id(c) for c in (alice, alice2, bob)]
        query = f"api-version=2022-06-01&reason=maintenance&excluded={alice2_id}"
        response = await api.call("POST", path("push", "users", "alice", ":closeConnections"), query=query)
        assert (response.status, response.body) == (204, b"")
        assert await closed(alice) == CloseMessage(error="maintenance")
        assert (await api.call("HEAD", path("push", "connections", alice2_id))).status == 200

        response = await api.call("DELETE", path("push", "connections", alice2_id), query=query)
        assert response.status == 200
        assert await closed(alice2) == CloseMessage(error="maintenance")

        await bob.invoke("JoinGroup", "g")
        query = "api-version=2022-06-01"
        assert (await api.call("POST", path("push", "groups", "g", ":closeConnections"), query=query)).status == 204
        assert await closed(bob) == CloseMessage(error=None)
        assert alice_id != bob_id


async def test_close_every_connection_of_the_hub_but_the_excluded(api):
    async with HubCommunicator(PushHub) as one, HubCommunicator(PushHub) as two:
        await connection_id(one)
        two_id = await connection_id(two)
        query = f"api-version=2022-06-01&excluded={two_id}&reason=bye"
        assert (await api.call("POST", path("push", ":closeConnections"), query=query)).status == 204
        assert await closed(one) == CloseMessage(error="bye")
        assert (await api.call("HEAD", path("push", "connections", two_id))).status == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "The body is not JSON"),
        (b"\xff\xfe\x00", "The body is not JSON"),
        (b"[1]", "must be a JSON object"),
        (b"{}", "target must be a non-empty string"),
        (b'{"target": ""}', "target must be a non-empty string"),
        (b'{"target": 5}', "target must be a non-empty string"),
        (b'{"target": "T", "arguments": {}}', "arguments must be a JSON array"),
        (b'{"target": "T", "arguments": [NaN]}', "NaN is not a JSON number"),
        (b'{"target": "T", "arguments": [100000000000000000000000]}', "cannot be sent to clients"),
        (b'{"target": "T", "arguments": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "The body is not JSON"),
    ],
)
async def test_a_bad_body_answers_400_with_the_reason(api, body, reason):
    response = await api.call("POST", path("push", ":send"), raw=body)
    assert response.status == 400
    assert response.headers[b"content-type"] == b"application/json"
    assert response.json()["code"] == "BadRequest"
    assert reason in response.json()["message"]


async def test_a_body_over_the_bound_answers_413_while_it_is_read(api, settings):
    settings.REALTIME = {**settings.REALTIME, "PUSH_API_MAX_BODY_SIZE": 100}
    response = await api.call("POST", path("push", ":send"), chunks=[b"{" + b" " * 60, b" " * 60, b"}"])
    assert response.status == 413
    assert response.json()["code"] == "PayloadTooLarge"


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "api-version query parameter is required"), ("api-version=2021-01-01", "is not served")],
)
async def test_api_version_is_required(api, query, message):
    response = await api.call("POST", path("push", ":send"), query=query, body={"target": "T"})
    assert response.status == 400
    assert message in response.json()["message"]
    assert (await api.call("HEAD", "/api/health", query=query, key=None)).status == 400


async def test_health_needs_no_token_and_the_document_is_served(api):
    assert (await api.call("HEAD", "/api/health", key=None)).status == 200
    document = await api.call("GET", "/api/openapi.json", query="", key=None)
    assert document.status == 200
    paths = document.json()["paths"]
    assert len([method for route in paths.values() for method in route]) == 19
    assert paths["/api/hubs/{hub}/:send"]["post"]["parameters"][0]["schema"]["enum"] == ["other", "push"]


async def test_unknown_hub_path_and_method(api):
    response = await api.call("POST", path("nohub", ":send"), body={"target": "T"})
    assert response.status == 404
    assert response.json() == {"code": "HubNotFound", "message": "No hub 'nohub' is served here.", "target": "hub"}
    assert (await api.call("HEAD", path("nohub", "users", "u"))).status == 404
    assert (await api.call("GET", "/api/elsewhere")).json()["code"] == "NotFound"
    wrong = await api.call("GET", path("push", "users", "u", "groups", "g"))
    assert wrong.status == 405
    assert wrong.headers[b"allow"] == b"HEAD, PUT, DELETE"
    # hub names match case-insensitively, as Azure SignalR's
    assert (await api.call("POST", path("PUSH", ":send"), body={"target": "T"})).status == 202


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    found = {"aud": f"http://{HOST}{path('push', ':send')}", "exp": now + 60, "iat": now}
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


def hs512(payload: dict[str, object], key: str) -> str:
    """A token signed with ``key`` by HS512 (an algorithm the API refuses), made by hand: PyJWT warns about the key."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS512", "typ": "JWT"}).encode()) + "." + part(json.dumps(payload).encode())
    return head + "." + part(hmac.new(key.encode(), head.encode(), hashlib.sha512).digest())


def hs256(**changes: object) -> str:
    return jwt.encode(claims(**changes), KEY, algorithm="HS256")


# Tokens are made when the test runs, not when it is collected: a token made at collection expires (60 s) before
# a late test in a long run gets to it, and is then refused for that instead of the reason under test.
@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param(lambda: None, "Send Authorization: Bearer", id="none"),
        pytest.param(
            lambda: jwt.encode(claims(), "not-the-key-0123456789abcdef0123456789", algorithm="HS256"),
            "not signed with",
            id="other-key",
        ),
        pytest.param(lambda: hs256(exp=int(time.time()) - 60), "expired", id="expired"),
        pytest.param(lambda: hs256(exp=None), '"exp"', id="no-exp"),
        pytest.param(lambda: hs256(aud=None), '"aud"', id="no-aud"),
        pytest.param(lambda: hs256(aud=f"http://{HOST}/api/hubs/push/users/u/:send"), "audience", id="other-path"),
        pytest.param(lambda: hs256(aud=f"http://elsewhere{path('push', ':send')}"), "audience", id="other-host"),
        pytest.param(lambda: hs512(claims(), KEY), "alg value is not allowed", id="hs512"),
        pytest.param(lambda: "not.a.jwt", "not valid", id="not-a-jwt"),
    ],
)
async def test_anything_but_a_good_token_is_401(api, token, message):
    response = await api.call("POST", path("push", ":send"), body={"target": "T"}, key=None, token=token())
    assert response.status == 401
    assert response.headers[b"www-authenticate"] == b"Bearer"
    assert response.json()["code"] == "Unauthorized"
    assert message in response.json()["message"]


async def test_keys_rotate_and_can_be_limited_to_hubs(api, settings):
    assert (await api.call("POST", path("push", ":send"), body={"target": "T"})).status == 202
    assert (await api.call("POST", path("other", ":send"), body={"target": "T"}, key=OTHER_KEY)).status == 202
    limited = await api.call("POST", path("push", ":send"), body={"target": "T"}, key=OTHER_KEY)
    assert limited.status == 403
    assert limited.json()["message"] == "Access key 'other' is not for hub 'push'."
    # the audience is the URL the caller used: the same URL with another case of host, a default port, a
    # trailing slash, or percent-encoding still matches
    audience = f"HTTP://{HOST.upper()}:80{path('push', ':send')}/"
    assert (await api.call("POST", path("push", ":send"), body={"target": "T"}, audience=audience)).status == 202
    # behind a proxy, PUSH_API_ENDPOINT names the URL callers sign
    settings.REALTIME = {**settings.REALTIME, "PUSH_API_ENDPOINT": "https://public.example"}
    proxied = f"https://public.example{path('push', ':send')}"
    assert (await api.call("POST", path("push", ":send"), body={"target": "T"}, audience=proxied)).status == 202
    assert (await api.call("POST", path("push", ":send"), body={"target": "T"})).status == 401


async def test_pushes_are_concurrent_safe(api):
    """Many requests at once all arrive (one process)."""
    async with HubCommunicator(PushHub) as client:
        await connection_id(client)  # the server took the connection in (the handshake answer comes before)
        requests = [api.call("POST", path("push", ":send"), body={"target": "N", "arguments": [n]}) for n in range(20)]
        assert {response.status for response in await asyncio.gather(*requests)} == {202}
        received = {(await client.receive_invocation("N")).arguments[0] for _ in range(20)}
        assert received == set(range(20))


def test_the_routes_claim_only_the_api_paths():
    """A project's own ``/api/...`` views (simplejwt's ``api/token/`` in the README) still reach Django."""
    (route,) = api_routes({"push": PushHub})
    claimed = ["api/health", "api/openapi.json", "api/hubs/push/:send", "api/hubs/x/users/u/groups"]
    assert all(route.pattern.match(path) for path in claimed)
    assert not any(route.pattern.match(path) for path in ["api/token/", "api/token/refresh", "api/healthz", "api/"])
