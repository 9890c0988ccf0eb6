"""Arguments are checked against the hub method's annotations and built from what JSON and MessagePack decode;
names follow the hub's naming policy and match case-insensitively."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, TypedDict

import pytest

from realtime import Hub, HubCommunicator


class Point(TypedDict):
    x: int
    y: int


@dataclasses.dataclass
class Order:
    id: int
    note: str = ""


class TypedArgumentsHub(Hub):
    naming = "pascal"
    detailed_errors = True

    async def add_numbers(self, a: int, b: int) -> int:
        return a + b

    async def scale(self, value: float) -> float:
        return value * 2

    async def describe(
        self,
        flag: bool,
        raw: bytes,
        when: datetime.datetime,
        key: uuid.UUID,
        tags: list[str],
        counts: dict[str, int],
        point: Point,
        order: Order,
        maybe: int | None = None,
    ) -> list[Any]:
        return [flag, raw.hex(), when.isoformat(), str(key), tags, counts, point, dataclasses.asdict(order), maybe]

    async def anything(self, value, other: Any) -> list[Any]:  # noqa: ANN001
        return [value, other]


GOOD = [
    True,
    "aGVsbG8=",  # base64 in JSON
    "2026-12-07T10:00:00+00:00",
    "12345678-1234-5678-1234-567812345678",
    ["a", "b"],
    {"n": 1},
    {"x": 1, "y": 2},
    {"id": 7},
]


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_typed_arguments_are_built_from_either_protocol(protocol):
    arguments = list(GOOD)
    if protocol == "messagepack":
        arguments[1] = b"hello"  # MessagePack carries bytes as they are
        arguments[2] = datetime.datetime(2026, 12, 7, 10, tzinfo=datetime.UTC)
    async with HubCommunicator(TypedArgumentsHub, protocol=protocol) as client:
        assert await client.invoke("AddNumbers", 2, 3) == 5
        assert await client.invoke("Scale", 2) == 4.0  # an int is a float
        result = await client.invoke("Describe", *arguments)
    assert result[:4] == [True, "68656c6c6f", "2026-12-07T10:00:00+00:00", "12345678-1234-5678-1234-567812345678"]
    assert result[4:] == [["a", "b"], {"n": 1}, {"x": 1, "y": 2}, {"id": 7, "note": ""}, None]


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        (["2", 3], "Error binding argument 'a': Expected `int`, got `str`."),
        ([2.5, 3], "Error binding argument 'a': Expected `int`, got `float`."),
        ([True, 3], "Error binding argument 'a': Expected `int`, got `bool`."),
        ([2, None], "Error binding argument 'b': Expected `int`, got `null`."),
    ],
)
async def test_a_mismatch_answers_the_binding_failure_with_why_when_detailed(arguments, why):
    async with HubCommunicator(TypedArgumentsHub) as client:
        completion = await client.invoke_completion("AddNumbers", *arguments)
    failed = "Failed to invoke 'AddNumbers' due to an error on the server."
    assert completion.error == f"{failed} InvalidDataException: {why}"


async def test_nested_values_are_checked_too():
    bad = list(GOOD)
    bad[6] = {"x": 1, "y": "two"}
    async with HubCommunicator(TypedArgumentsHub) as client:
        completion = await client.invoke_completion("Describe", *bad)
    assert completion.error.endswith("Error binding argument 'point': Expected `int`, got `str` - at `$.y`.")


async def test_without_detailed_errors_the_client_learns_only_that_binding_failed():
    class Quiet(TypedArgumentsHub):
        detailed_errors = False

    async with HubCommunicator(Quiet) as client:
        completion = await client.invoke_completion("addnumbers", "2", 3)
    assert completion.error == "Failed to invoke 'addnumbers' due to an error on the server."


async def test_unannotated_and_any_parameters_take_what_comes():
    async with HubCommunicator(TypedArgumentsHub) as client:
        assert await client.invoke("Anything", {"a": [1]}, "x") == [{"a": [1]}, "x"]


def test_the_naming_policy_spells_python_names_on_the_wire():
    assert list(TypedArgumentsHub.hub_methods) == ["AddNumbers", "Scale", "Describe", "Anything"]

    class Camel(Hub):
        naming = "camel"

        async def send_message(self) -> None: ...

    class Custom(Hub):
        naming = str.upper

        async def ping_me(self) -> None: ...

    assert list(Camel.hub_methods) == ["sendMessage"] and list(Custom.hub_methods) == ["PING_ME"]
    assert Camel.find_method("SENDMESSAGE") is Camel.hub_methods["sendMessage"]
