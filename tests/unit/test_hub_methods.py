"""Which hub methods clients can call, under which names (the exposure rule of realtime/hubs.py)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from realtime.exceptions import HubError
from realtime.hubs import Hub, hub_method
from realtime.testing import HubCommunicator


class ExposureHub(Hub):
    async def Echo(self, value):  # noqa: N802
        return value

    async def Count(self, n: int) -> AsyncIterator[int]:  # noqa: N802
        for i in range(n):
            yield i

    @hub_method(name="Renamed")
    async def renamed_python_name(self):
        return "renamed"

    @hub_method
    def sync_marked(self):
        return threading.get_ident()

    def sync_unmarked(self):
        return "must not run"

    async def _private(self):
        return "must not run"

    async def on_connected(self) -> None:
        self.context.items["connected"] = self.context.items.get("connected", 0) + 1

    async def on_disconnected(self, exception):
        return None


def test_public_async_methods_and_generators_are_exposed_under_their_names():
    methods = ExposureHub.hub_methods
    assert set(methods) == {"Echo", "Count", "Renamed", "sync_marked"}
    assert methods["Count"].is_stream
    assert not methods["Echo"].is_stream
    assert not methods["sync_marked"].is_async


async def test_exposed_methods_are_callable():
    async with HubCommunicator(ExposureHub) as client:
        assert await client.invoke("Echo", {"a": [1]}) == {"a": [1]}
        assert await client.stream("Count", 3) == [0, 1, 2]
        assert await client.invoke("Renamed") == "renamed"


async def test_sync_hub_method_runs_in_a_worker_thread():
    async with HubCommunicator(ExposureHub) as client:
        thread_id = await client.invoke("sync_marked")
    assert thread_id != threading.get_ident()


@pytest.mark.parametrize(
    "target",
    [
        "renamed_python_name",  # the Python name of a renamed method
        "sync_unmarked",  # plain def without @hub_method
        "_private",
        "on_connected",
        "on_disconnected",
        "context",
        "clients",
        "groups",
        "hub_name",
        "protocol_instances",
        "hub_methods",
        "__init__",
    ],
)
async def test_non_exposed_names_are_unknown(target):
    async with HubCommunicator(ExposureHub) as client:
        completion = await client.invoke_completion(target)
    assert completion.error == f"Unknown hub method '{target}'"


@pytest.mark.parametrize("target", ["echo", "ECHO", "eCHo"])
async def test_method_names_match_case_insensitively_as_in_aspnet(target):
    async with HubCommunicator(ExposureHub) as client:
        assert await client.invoke(target, "hi") == "hi"


async def test_calling_on_connected_does_not_run_it():
    seen = []

    class Hooked(Hub):
        async def on_connected(self) -> None:
            seen.append(self.context.connection_id)

    async with HubCommunicator(Hooked) as client:
        completion = await client.invoke_completion("on_connected")
    assert completion.error == "Unknown hub method 'on_connected'"
    assert len(seen) == 1


def test_duplicate_wire_names_fail_at_class_creation():
    with pytest.raises(ImproperlyConfigured, match="'Send'"):

        class Duplicate(Hub):
            @hub_method(name="Send")
            async def first(self):
                return 1

            @hub_method(name="Send")
            async def second(self):
                return 2


def test_renaming_onto_another_methods_name_fails():
    with pytest.raises(ImproperlyConfigured, match="'Echo'"):

        class Collides(Hub):
            async def Echo(self):  # noqa: N802
                return 1

            @hub_method(name="Echo")
            async def other(self):
                return 2


def test_private_wire_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="'_hidden'"):

        class Private(Hub):
            @hub_method(name="_hidden")
            async def method(self):
                return 1


def test_marking_a_reserved_hub_attribute_is_refused():
    with pytest.raises(ImproperlyConfigured, match="reserved"):

        class Reserved(Hub):
            @hub_method
            async def on_connected(self) -> None:
                return None


async def test_subclass_overrides_base_method():
    class Base(Hub):
        async def Who(self):  # noqa: N802
            return "base"

        async def Inherited(self):  # noqa: N802
            return "inherited"

        @hub_method(name="Old")
        async def renamed(self):
            return "old"

    class Child(Base):
        async def Who(self):  # noqa: N802
            return "child"

        @hub_method(name="New")
        async def renamed(self):
            return "new"

    assert set(Child.hub_methods) == {"Who", "Inherited", "New"}
    assert set(Base.hub_methods) == {"Who", "Inherited", "Old"}
    async with HubCommunicator(Child) as client:
        assert await client.invoke("Who") == "child"
        assert await client.invoke("Inherited") == "inherited"
        assert await client.invoke("New") == "new"
        assert (await client.invoke_completion("Old")).error == "Unknown hub method 'Old'"
    async with HubCommunicator(Base) as client:
        assert await client.invoke("Who") == "base"


async def test_subclass_can_hide_a_base_method_with_a_non_method():
    class Base(Hub):
        async def Secret(self):  # noqa: N802
            return "secret"

    class Child(Base):
        Secret = None

    assert "Secret" not in Child.hub_methods
    async with HubCommunicator(Child) as client:
        with pytest.raises(HubError, match="Unknown hub method 'Secret'"):
            await client.invoke("Secret")


# -- the server log on an unknown method ----------------------------------------------------------------


@pytest.fixture
def unknown_log(caplog, monkeypatch):
    """The warnings of ``realtime.dispatcher``, with its once-per-name memory cleared for this test."""
    from realtime import invocations

    monkeypatch.setattr(invocations, "_unknown_logged", {})
    caplog.set_level("WARNING", logger="realtime.dispatcher")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "realtime.dispatcher"]


@pytest.mark.parametrize(
    ("target", "hint"),
    [
        ("Ecko", "the closest hub method is 'Echo'"),
        (
            "sync_unmarked",
            "ExposureHub.sync_unmarked is a plain def, which clients cannot call: make it async def, "
            "or use @hub_method",
        ),
        ("renamed_python_name", "ExposureHub.renamed_python_name is exposed as 'Renamed'"),
        ("Zzzzzz", "its hub methods are Count, Echo, Renamed, sync_marked"),
    ],
)
async def test_an_unknown_method_is_logged_with_what_was_meant(unknown_log, target, hint):
    async with HubCommunicator(ExposureHub) as client:
        completion = await client.invoke_completion(target)
    assert completion.error == f"Unknown hub method '{target}'"  # the client learns nothing more
    assert unknown_log() == [
        f"realtime: a client called {target!r}, which is not a hub method of "
        f"tests.unit.test_hub_methods.ExposureHub: {hint}."
    ]


async def test_an_unknown_method_is_logged_once_per_hub_and_name(unknown_log):
    class OtherHub(Hub):
        async def Echo(self, value):  # noqa: N802
            return value

    async with HubCommunicator(ExposureHub) as first, HubCommunicator(ExposureHub) as second:
        for client in (first, second, first):
            assert (await client.invoke_completion("Ecko")).error == "Unknown hub method 'Ecko'"
    async with HubCommunicator(OtherHub) as client:
        await client.invoke_completion("Ecko")
    assert [line.split(" which ")[1].split(":")[0] for line in unknown_log()] == [
        "is not a hub method of tests.unit.test_hub_methods.ExposureHub",
        "is not a hub method of tests.unit.test_hub_methods.test_an_unknown_method_is_logged_once_per_hub_and_name."
        "<locals>.OtherHub",
    ]


async def test_a_client_calling_ever_new_names_cannot_flood_the_log(unknown_log):
    from realtime.invocations import SHOWN_NAME_LENGTH, UNKNOWN_LOGGED_PER_HUB

    async with HubCommunicator(ExposureHub) as client:
        for n in range(UNKNOWN_LOGGED_PER_HUB + 20):
            await client.invoke_completion(f"name{n}")
        long_name = "x" * 30_000
        assert (await client.invoke_completion(long_name)).error == f"Unknown hub method '{long_name}'"
    lines = unknown_log()
    assert len(lines) == UNKNOWN_LOGGED_PER_HUB + 1
    assert lines[-1] == (
        "realtime: tests.unit.test_hub_methods.ExposureHub: clients called more unknown method names; "
        "no more are logged"
    )
    assert all(len(line) < SHOWN_NAME_LENGTH + 300 for line in lines)
