"""``realtime.typescript``: the mapping of Python annotations to TypeScript, the hub declarations, and the
``realtime_typescript`` command. tests/browser/test_typescript.py compiles what it writes with tsc."""

from __future__ import annotations

import datetime
import decimal
import enum
import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, NotRequired, Optional, Protocol, TypedDict

import msgspec
import pytest
from django.core.management import CommandError, call_command

from realtime import Hub
from realtime.typescript import Declarations, declarations, type_names
from tests.conformance import hubs as conformance_hubs
from tests.servers import REPO_ROOT


class Point(TypedDict):
    """A point on the page."""

    y: float
    x: float
    label: NotRequired[str]


class Partial(TypedDict, total=False):
    a: int


@dataclass
class Date:  # takes the name of a global the declarations use: declared as Date2
    day: int
    note: str = ""


class Node(TypedDict):
    value: int
    children: list[Node]


class Pair(NamedTuple):
    left: int
    right: str


class Shape(msgspec.Struct, tag=True):
    sides: int


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):  # msgspec refuses mixed values: the server takes them as they come
    A = 1
    B = "b"


class Opaque:
    pass


MAPPING = [
    (int, "number"),
    (float, "number"),
    (str, "string"),
    (bool, "boolean"),
    (bytes, "string | Uint8Array"),
    (bytearray, "string | Uint8Array"),
    (datetime.datetime, "string | Date"),
    (datetime.date, "string"),
    (datetime.time, "string"),
    (datetime.timedelta, "string"),
    (uuid.UUID, "string"),
    (decimal.Decimal, "string"),
    (list[int], "number[]"),
    (list[int | None], "(number | null)[]"),
    (set[str], "string[]"),
    (frozenset[str], "string[]"),
    (tuple[int, ...], "number[]"),
    (tuple[int, str], "[number, string]"),
    (dict[str, int], "Record<string, number>"),
    (dict[int, list[str]], "Record<number, string[]>"),
    (dict[uuid.UUID, int], "Record<string, number>"),
    (dict[Literal["a", "b"], int], 'Partial<Record<"a" | "b", number>>'),
    (dict[str, Any], "Record<string, unknown>"),
    (list[dict[str, Any]], "Record<string, unknown>[]"),
    (Optional[str], "string | null"),  # noqa: UP045  (the spelling under test)
    (None | str, "string | null"),
    (int | str | None, "number | string | null"),
    (Literal["day", "week"], '"day" | "week"'),
    (Literal["a"] | None, '"a" | null'),
    (Any, "unknown"),
    (object, "unknown"),
    (Opaque, "unknown"),
    (list[Opaque], "unknown[]"),
    (Mixed, "unknown"),
    (int | Any, "unknown"),
    ("Unresolved", "unknown"),
    (type(None), "null"),
]


@pytest.mark.parametrize(
    ("annotation", "expected"), MAPPING, ids=[str(pair[1]) + f"-{i}" for i, pair in enumerate(MAPPING)]
)
def test_mapping_table(annotation, expected):
    assert Declarations().type_of(annotation) == expected


@pytest.mark.parametrize(
    ("protocol", "binary", "instant"),
    [
        (None, "string | Uint8Array", "string | Date"),
        ("json", "string", "string"),
        ("messagepack", "Uint8Array", "Date"),
    ],
)
def test_bytes_and_datetimes_as_the_protocol_carries_them(protocol, binary, instant):
    written = Declarations(protocol)
    assert (written.type_of(bytes), written.type_of(datetime.datetime)) == (binary, instant)
    assert written.type_of(list[datetime.datetime | None]) == f"({instant} | null)[]"


def test_an_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="json, messagepack"):
        Declarations("xml")


def test_named_types_are_declared_once_in_order_of_first_use():
    written = Declarations()
    assert written.type_of(list[Point]) == "Point[]"
    assert written.type_of(Point | None) == "Point | null"
    assert written.type_of(Date) == "Date2"
    assert written.type_of(Node) == "Node"
    assert written.type_of(Pair) == "Pair"
    assert written.type_of(Shape) == "Shape"
    assert written.type_of(Level) == "Level"
    assert written.type_of(dict[Level, Partial]) == "Partial<Record<Level, Partial2>>"
    assert written.render() == (
        "/** A point on the page. */\n"
        "export interface Point {\n  y: number;\n  x: number;\n  label?: string;\n}\n\n"
        "export interface Date2 {\n  day: number;\n  note: string;\n}\n\n"  # dataclasses: every field is sent
        "export interface Node {\n  value: number;\n  children: Node[];\n}\n\n"
        "export type Pair = [left: number, right: string];\n\n"
        'export interface Shape {\n  type: "Shape";\n  sides: number;\n}\n\n'
        "export type Level = 1 | 2;\n\n"
        "export interface Partial2 {\n  a?: number;\n}\n"
    )


class BoardClient(Protocol):
    async def moved(self, piece: str, to: Point) -> None:
        """A piece moved (``to``: where)."""

    async def confirm(self, question: str, default: bool = False) -> bool: ...

    async def untyped(self, value): ...  # noqa: ANN001  (no return annotation: a send)


class BoardHub(Hub[BoardClient]):
    naming = "camel"

    async def move_piece(self, piece: str, to: Point, note: str | None = None) -> bool:
        """Move ``piece``; false when the move is illegal.

        Further paragraphs stay in Python.
        """
        return True

    async def replay(self, since: datetime.datetime) -> AsyncIterator[Point]:
        yield Point(x=0, y=0)

    async def upload(self, moves: AsyncIterator[tuple[int, int]], function: str) -> None:
        pass


def test_hub_declarations():
    assert declarations([BoardHub], header=["header line", ""]) == (
        "// header line\n//\n\n"
        "/** An upload stream of `T` items, as the client takes it: a `Subject<T>` (anything with `subscribe`) or "
        "an async iterable. */\n"
        "export type UploadStream<T> =\n"
        "  | { subscribe(observer: { next?(value: T): void; error?(error: Error): void; complete?(): void }): "
        "{ dispose(): void } }\n"
        "  | AsyncIterable<T>;\n\n"
        "/** The methods of tests.unit.test_typescript.BoardHub by wire name: invoke and send; stream for those "
        "returning AsyncIterable. */\n"
        "export interface BoardHubServer {\n"
        "  /** Move `piece`; false when the move is illegal. */\n"
        "  movePiece(piece: string, to: Point, note?: string | null): boolean;\n"
        "  replay(since: string | Date): AsyncIterable<Point>;\n"
        "  upload(moves: UploadStream<[number, number]>, function_: string): void;\n"
        "}\n\n"
        "/** The client methods tests.unit.test_typescript.BoardHub calls (BoardClient) by wire name: handlers for "
        "on(); one with a result answers a client-result call. */\n"
        "export interface BoardHubClient {\n"
        "  /** A piece moved (`to`: where). */\n"
        "  moved(piece: string, to: Point): void;\n"
        "  confirm(question: string, default_?: boolean): boolean;\n"
        "  untyped(value: unknown): void;\n"
        "}\n\n"
        "/** A point on the page. */\n"
        "export interface Point {\n  y: number;\n  x: number;\n  label?: string;\n}\n"
    )


class ChatHub(Hub):  # the name of a conformance hub
    track_presence = True

    async def say(self, text: str) -> None:
        pass


def test_an_untyped_hub_gets_no_client_interface_and_shared_names_get_their_path():
    names = type_names([ChatHub, conformance_hubs.ChatHub, conformance_hubs.TestHub])
    assert list(names.values()) == ["TestsUnitTestTypescriptChatHub", "TestsConformanceHubsChatHub", "TestHub"]
    text = declarations([ChatHub])
    assert "export interface ChatHubServer {\n  say(text: string): void;\n}\n" in text
    assert text.endswith(
        "// ChatHub has no client protocol (Hub[Protocol]), so no ChatHubClient: on() of "
        "HubConnection<ChatHubServer> takes any name.\n"
    )
    assert "PresenceChange" not in text  # nowhere to declare it: on() of an untyped hub takes any name


def test_a_presence_hub_declares_its_presence_event():
    class PresenceHub(Hub[BoardClient]):
        track_presence = True
        presence_event = "Who"

    text = declarations([PresenceHub])
    assert "  Who(change: PresenceChange): void;\n}" in text
    assert "export interface PresenceChange {\n  group: string;\n  joined: string[];\n  left: string[];\n}" in text
    PresenceHub.track_presence = False
    assert "PresenceChange" not in declarations([PresenceHub])


def test_a_protocol_extending_client_leaves_other_names_to_on():
    """``realtime.Client`` keeps ``send(name, ...)`` on typed targets, so the hub may call names outside the
    protocol: on() takes them too, with unchecked arguments (``never[]``: any handler fits, no ``any`` written)."""
    assert "[method: string]" not in declarations([BoardHub])
    text = declarations([conformance_hubs.TypedHub])
    assert text.endswith(
        "export interface TypedHubClient {\n"
        "  Greeted(user: string): void;\n"
        "  /** Other names, which the hub may send too (TypedClient extends realtime.Client: send(name, ...)): their "
        "arguments are unchecked. */\n"
        "  [method: string]: (...args: never[]) => unknown;\n"
        "}\n"
    )


def test_no_any_where_python_has_a_type():
    from project import hubs as demo_hubs
    from tests.browser import typed_hub

    hubs = [BoardHub, conformance_hubs.TestHub, conformance_hubs.ChatHub, demo_hubs.ChatHub, typed_hub.RoomHub]
    code = re.sub(r"/\*\*.*?\*/|//.*", "", declarations(hubs))  # comments say "any name"
    assert "interface RoomHubServer" in code and re.findall(r"\bany\b", code) == []


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command("realtime_typescript", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_writes_the_hubs_named_or_a_modules_hubs(tmp_path):
    text = run_command("tests.conformance.hubs.ChatHub", "tests.browser.typed_hub")
    assert text.startswith(
        "// Generated by `manage.py realtime_typescript tests.conformance.hubs.ChatHub tests.browser.typed_hub`: "
        "do not edit.\n// Types of: tests.browser.typed_hub.RoomHub, tests.conformance.hubs.ChatHub\n\n"
    )
    assert "export interface RoomHubServer {" in text and "export interface ChatHubServer {" in text
    target = tmp_path / "hubs.d.ts"
    run_command("tests.browser.typed_hub", "--protocol", "json", "-o", str(target))
    written = target.read_text()
    assert "--protocol json`" in written and "sent: string;" in written
    run_command("tests.browser.typed_hub", "--protocol", "json", "-o", str(target), "--check")
    with pytest.raises(CommandError, match="out of date"):
        run_command("tests.browser.typed_hub", "-o", str(target), "--check")
    with pytest.raises(CommandError, match="out of date"):
        run_command("tests.browser.typed_hub", "-o", str(tmp_path / "missing.ts"), "--check")


def test_the_command_without_hubs_writes_the_known_hubs():
    from realtime.checks import known_hubs

    text = run_command()
    assert f"// Types of: {', '.join(hub.hub_name() for hub in known_hubs())}\n" in text


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("nowhere.Hub", "Cannot import 'nowhere.Hub'"),
        ("realtime.hubs.Hub", "is not a Hub subclass"),
        ("realtime.naming", "defines no Hub subclass"),
        ("realtime.naming.pascal", "is not a Hub subclass"),
    ],
)
def test_the_command_refuses_what_is_not_a_hub(path, error):
    with pytest.raises(CommandError, match=error):
        run_command(path)


def test_check_needs_an_output():
    with pytest.raises(CommandError, match="--output"):
        run_command("tests.browser.typed_hub", "--check")


def test_the_output_is_the_same_in_every_process():
    """Nothing depends on hash seeds or addresses: two processes with different seeds write the same bytes."""
    outputs = set()
    for seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": seed, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))
        command = [
            sys.executable,
            "-m",
            "django",
            "realtime_typescript",
            "tests.browser.typed_hub",
            "tests.conformance.hubs",
        ]
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=environment, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
