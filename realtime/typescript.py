"""TypeScript declarations of hubs, for typed connections of the browser client (``manage.py realtime_typescript``).

For each hub, ``<Hub>Server`` maps the wire names of its methods to their signatures, which
``HubConnection<Server, Client>`` of ``realtime.d.ts`` checks ``invoke``, ``send`` and ``stream`` against (a server
stream returns ``AsyncIterable<Item>``), and a typed hub (``Hub[ChatClient]``) gets ``<Hub>Client``, the methods of
its client protocol as the naming policy spells them, which ``on`` and ``off`` check handlers against (a protocol
extending ``realtime.Client`` may be sent other names: ``on`` takes those too, unchecked). Types are read the way
the server binds arguments (``msgspec.inspect``), as values cross the wire:

==============================================  ===============================================================
Python                                          TypeScript
==============================================  ===============================================================
``int``, ``float``                              ``number``
``str``; ``UUID``, ``Decimal``, ``date``,       ``string`` (what both protocols carry)
``time``, ``timedelta``
``bool``                                        ``boolean``
``bytes`` (``bytearray``, ``memoryview``)       ``string | Uint8Array``: base64 text in JSON, bin in MessagePack
                                                (``--protocol`` picks one)
``datetime``                                    ``string | Date``: ISO 8601 text in JSON, a Date in MessagePack
``list[T]``, ``set[T]``, ``tuple[T, ...]``      ``T[]``
``tuple[A, B]``, ``NamedTuple``                 ``[A, B]``, ``[a: A, b: B]``
``dict[str, T]`` (``dict[int, T]``)             ``Record<string, T>`` (``Record<number, T>``)
``TypedDict``, dataclass, ``msgspec.Struct``    an ``interface`` of the same name (``NotRequired`` keys: ``?``)
``Literal["a", 1]``; an ``Enum`` of str/int     ``"a" | 1``; a ``type`` alias of the values
``X | None``, ``Optional[X]``                   ``X | null``
``Any``, ``object``, no annotation, other       ``unknown`` (never ``any``)
return ``None``                                 ``void``
async generator of ``T``                        returns ``AsyncIterable<T>`` (``stream()`` yields ``T``)
parameter ``AsyncIterator[T]``                  ``UploadStream<T>``: a ``Subject<T>`` or an async iterable
a parameter with a default                      optional (``name?: T``)
==============================================  ===============================================================
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

import msgspec.inspect as mi

from .clients import Client
from .conf import hub_option
from .hubs import Hub, client_functions
from .methods import HubMethod, is_stream_annotation

PROTOCOLS = ("json", "messagepack")
"""``--protocol`` values: the types of bytes and datetimes as that protocol alone carries them."""

_BINARY = {None: "string | Uint8Array", "json": "string", "messagepack": "Uint8Array"}
_DATETIME = {None: "string | Date", "json": "string", "messagepack": "Date"}
_SCALARS = {
    "IntType": "number",
    "FloatType": "number",
    "StrType": "string",
    "BoolType": "boolean",
    "NoneType": "null",
    "UUIDType": "string",
    "DecimalType": "string",
    "DateType": "string",
    "TimeType": "string",
    "TimeDeltaType": "string",
}
_ARRAYS = {"ListType", "SetType", "FrozenSetType", "VarTupleType"}
_RECORDS = {"TypedDictType", "DataclassType", "StructType"}
_UPLOAD = (
    "/** An upload stream of `T` items, as the client takes it: a `Subject<T>` (anything with `subscribe`) or an "
    "async iterable. */\n"
    "export type UploadStream<T> =\n"
    "  | { subscribe(observer: { next?(value: T): void; error?(error: Error): void; complete?(): void }): "
    "{ dispose(): void } }\n"
    "  | AsyncIterable<T>;"
)
# Reserved words of TypeScript that Python allows as parameter names.
_RESERVED = {
    "case", "catch", "const", "debugger", "default", "delete", "do", "enum", "export", "extends", "function",
    "instanceof", "let", "new", "package", "private", "protected", "public", "static", "super", "switch", "this",
    "throw", "typeof", "var", "void", "implements", "interface", "yield", "arguments", "eval", "null", "true",
    "false",
}  # fmt: skip
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
# Names a declared type must not take: the module's own, and globals the declarations use (a dataclass named
# ``Date`` becomes ``Date2``), and TypeScript's type keywords.
_GLOBALS = {
    "UploadStream", "Record", "Partial", "Date", "Uint8Array", "AsyncIterable", "Array", "Promise", "Error",
    "Object", "String", "Number", "Boolean", "Symbol", "Function", "any", "bigint", "boolean", "never", "null",
    "number", "object", "string", "symbol", "undefined", "unknown", "void",
}  # fmt: skip


class PresenceChange(TypedDict):
    """What a presence hub sends to a group's members when connections join or leave it (``presence_event``)."""

    group: str
    joined: list[str]
    left: list[str]


def _wrap(text: str) -> str:
    """``text`` as an element of an array type: parenthesized when it is a union."""
    return f"({text})" if " | " in text else text


def _union(parts: Iterable[str]) -> list[str]:
    """Each member once, ``null`` last; ``unknown`` alone when it is among them."""
    seen = list(dict.fromkeys(parts))
    if "unknown" in seen:
        return ["unknown"]
    return [part for part in seen if part != "null"] + (["null"] if "null" in seen else [])


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _property(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name, ensure_ascii=False)


def _parameter(name: str) -> str:
    return f"{name}_" if name in _RESERVED or keyword.iskeyword(name) else name


def _doc(text: str | None, indent: str) -> list[str]:
    """A JSDoc comment of the first paragraph of docstring ``text`` (none without one)."""
    paragraph = " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())
    paragraph = paragraph.replace("``", "`").replace("*/", "*\\/")  # reST literals as Markdown's
    return [f"{indent}/** {paragraph} */"] if paragraph else []


def _class_doc(cls: type) -> str | None:
    """The docstring written in ``cls`` itself: not a base's, nor the signature that dataclasses and named tuples
    make up."""
    text = vars(cls).get("__doc__")
    return None if not isinstance(text, str) or text.startswith(f"{cls.__name__}(") else text


class Declarations:
    """Collects hubs (:meth:`add_hub`) and the named types they use; :meth:`render` writes the module.

    ``protocol``: ``None`` types bytes and datetimes as either protocol carries them; ``"json"`` or
    ``"messagepack"`` as that one does. Output depends only on the hubs' source, never on memory addresses.
    """

    def __init__(self, protocol: str | None = None) -> None:
        if protocol not in (None, *PROTOCOLS):
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)} or None, not {protocol!r}")
        self.protocol = protocol
        self._hubs: list[list[str]] = []
        self._named: dict[Any, str] = {}  # (class, shape) -> its TypeScript name
        self._taken: set[str] = set(_GLOBALS)
        self._types: list[list[str]] = []  # declarations of named types, in order of first use
        self._uploads = False

    # -- types ---------------------------------------------------------------------------------------------

    def type_of(self, annotation: Any) -> str:
        """The TypeScript type of a value annotated ``annotation`` (``unknown`` where it cannot tell)."""
        if annotation is inspect.Parameter.empty or isinstance(annotation, str):  # unresolved forward reference
            return "unknown"
        try:
            info = mi.type_info(annotation)
        except (TypeError, ValueError):  # a type msgspec cannot build: the server takes such values as they come
            return "unknown"
        return self._render(info)

    def _render(self, info: mi.Type) -> str:
        return " | ".join(self._parts(info))

    def _parts(self, info: Any) -> list[str]:
        """The members of the union type that ``info`` (``msgspec.inspect``) maps to; most types are one."""
        kind = type(info).__name__
        if kind in _SCALARS:
            return [_SCALARS[kind]]
        if kind in ("BytesType", "ByteArrayType", "MemoryViewType"):
            return [_BINARY[self.protocol]]
        if kind == "DateTimeType":
            return [_DATETIME[self.protocol]]
        if kind in _ARRAYS:
            return [f"{_wrap(self._render(info.item_type))}[]"]
        if kind == "TupleType":
            return [f"[{', '.join(self._render(item) for item in info.item_types)}]"]
        if kind in ("DictType", "FrozenDictType"):
            return [self._dict(info.key_type, self._render(info.value_type))]
        if kind == "UnionType":
            return _union(part for member in info.types for part in self._parts(member))
        if kind == "LiteralType":
            return _union(_literal(value) for value in info.values)
        if kind == "EnumType":
            return [self._enum(info.cls)]
        if kind in _RECORDS or kind == "NamedTupleType":
            return [self._record(info)]
        return ["unknown"]  # AnyType, CustomType (any other class), RawType, ExtType

    def _dict(self, key_info: Any, value: str) -> str:
        """``Record<string, V>``; number keys for int keys; ``Partial<Record<...>>`` for literal or enum keys."""
        key = self._render(key_info)
        if type(key_info).__name__ in ("LiteralType", "EnumType"):
            return f"Partial<Record<{key}, {value}>>"
        if set(key.split(" | ")) <= {"string", "number"}:
            return f"Record<{key}, {value}>"
        return f"Record<string, {value}>"  # keys of other types cross the wire as text

    def _name_for(self, key: Any, cls: type) -> tuple[str, bool]:
        """The TypeScript name of the type ``key`` (of class ``cls``), and whether it is new."""
        found = self._named.get(key)
        if found is not None:
            return found, False
        base = cls.__name__
        name, number = base, 1
        while name in self._taken:
            number += 1
            name = f"{base}{number}"
        self._taken.add(name)
        self._named[key] = name
        return name, True

    def _enum(self, cls: type) -> str:
        name, new = self._name_for((cls, "enum"), cls)
        if new:
            values = " | ".join(_union(_literal(member.value) for member in cls))  # type: ignore[attr-defined]
            self._types.append([*_doc(_class_doc(cls), ""), f"export type {name} = {values};"])
        return name

    def _record(self, info: Any) -> str:
        """An interface (a labeled tuple for a NamedTuple or an ``array_like`` Struct) named after the class."""
        cls = info.cls
        name, new = self._name_for((cls, repr(info)), cls)
        if not new:
            return name
        declaration = _doc(_class_doc(cls), "")
        self._types.append(declaration)  # placed before its fields' types: recursion finds the name already
        order = list(getattr(cls, "__annotations__", {}))  # as declared (msgspec sorts a TypedDict's keys)
        ordered = sorted(info.fields, key=lambda field: order.index(field.name) if field.name in order else len(order))
        fields = [(field.encode_name, self._render(field.type), field.required) for field in ordered]
        kind = type(info).__name__
        if kind == "NamedTupleType" or getattr(info, "array_like", False):
            items = ", ".join(f"{_parameter(field)}: {value}" for field, value, _ in fields)
            declaration.append(f"export type {name} = [{items}];")
            return name
        declaration.append(f"export interface {name} {{")
        tag_field = getattr(info, "tag_field", None)
        if tag_field is not None:
            declaration.append(f"  {_property(tag_field)}: {_literal(info.tag)};")
        for field, value, required in fields:
            optional = "" if required or kind != "TypedDictType" else "?"  # dataclasses and Structs: sent whole
            declaration.append(f"  {_property(field)}{optional}: {value};")
        declaration.append("}")
        return name

    # -- hubs ----------------------------------------------------------------------------------------------

    def _signature(self, func: Callable[..., Any], returns: str | None) -> str:
        """``(a: number, b?: string)``, then ``: returns`` (the mapped return annotation when ``None``)."""
        hints = HubMethod._hints(func)
        parameters = []
        for parameter in list(inspect.signature(func).parameters.values())[1:]:
            annotation = hints.get(parameter.name, parameter.annotation)
            if is_stream_annotation(annotation):
                self._uploads = True
                arguments = typing.get_args(annotation) if not isinstance(annotation, str) else ()
                kind = f"UploadStream<{self.type_of(arguments[0]) if arguments else 'unknown'}>"
            else:
                kind = self.type_of(annotation)
            optional = "?" if parameter.default is not parameter.empty else ""
            parameters.append(f"{_parameter(parameter.name)}{optional}: {kind}")
        if returns is None:
            annotation = hints.get("return", inspect.Parameter.empty)
            none = annotation is None or annotation is type(None) or annotation == "None"
            returns = "void" if none else self.type_of(annotation)
        return f"({', '.join(parameters)}): {returns}"

    def _server_method(self, method: HubMethod) -> str:
        if not method.is_stream:
            return f"{_property(method.name)}{self._signature(method.func, None)};"
        annotation = HubMethod._hints(method.func).get("return")
        arguments = typing.get_args(annotation) if annotation is not None and not isinstance(annotation, str) else ()
        item = self.type_of(arguments[0]) if arguments else "unknown"
        return f"{_property(method.name)}{self._signature(method.func, f'AsyncIterable<{item}>')};"

    def _client_method(self, hub: type[Hub], name: str, func: Callable[..., Any]) -> str:
        hints = HubMethod._hints(func)
        returns = None if hints.get("return") not in (None, type(None), "None") else "void"  # no annotation: a send
        return f"{_property(hub.wire_name_for(name))}{self._signature(func, returns)};"

    def reserve(self, names: Iterable[str]) -> None:
        """Keep ``names`` (of hubs' types) from the types that hubs use."""
        self._taken.update(names)

    def add_hub(self, hub: type[Hub], name: str | None = None) -> None:
        """Declare ``<name>Server`` (and ``<name>Client`` for a typed hub); ``name``: the class's name."""
        name = name or hub.__qualname__.replace(".", "")
        self.reserve([f"{name}Server", f"{name}Client"])
        lines = [
            f"/** The methods of {hub.hub_name()} by wire name: invoke and send; stream for those returning "
            "AsyncIterable. */",
            f"export interface {name}Server {{",
        ]
        for method in hub.hub_methods.values():
            lines += [*_doc(inspect.getdoc(method.func), "  "), f"  {self._server_method(method)}"]
        lines.append("}")
        functions = client_functions(hub)
        if hub.client_protocol is None:
            lines.append(
                f"// {hub.__qualname__} has no client protocol (Hub[Protocol]), so no {name}Client: "
                f"on() of HubConnection<{name}Server> takes any name."
            )
        else:
            lines += [
                "",
                f"/** The client methods {hub.hub_name()} calls ({hub.client_protocol.__qualname__}) by wire name: "
                "handlers for on(); one with a result answers a client-result call. */",
                f"export interface {name}Client {{",
            ]
            for attr, func in functions.items():
                lines += [*_doc(inspect.getdoc(func), "  "), f"  {self._client_method(hub, attr, func)}"]
            event = hub_option(hub, "PRESENCE_EVENT") if hub_option(hub, "TRACK_PRESENCE") else ""
            if event and event not in {hub.wire_name_for(attr) for attr in functions}:
                change = self.type_of(PresenceChange)
                about = "Connections joined or left a group of the connection (presence_event of a presence hub)."
                lines += [*_doc(about, "  "), f"  {_property(event)}(change: {change}): void;"]
            if Client in hub.client_protocol.__mro__:
                lines += [
                    f"  /** Other names, which the hub may send too ({hub.client_protocol.__qualname__} extends "
                    "realtime.Client: send(name, ...)): their arguments are unchecked. */",
                    "  [method: string]: (...args: never[]) => unknown;",
                ]
            lines.append("}")
        self._hubs.append(lines)

    def render(self, header: Iterable[str] = ()) -> str:
        """The module: comment lines ``header``, the upload stream type if used, the hubs, then named types."""
        blocks = [[f"// {line}" if line else "//" for line in header]] if header else []
        if self._uploads:
            blocks.append([_UPLOAD])
        blocks += self._hubs + self._types
        return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def type_names(hubs: list[type[Hub]]) -> dict[type[Hub], str]:
    """The prefix of each hub's types: its class name, or its import path run together when two share one."""
    names: dict[type[Hub], str] = {}
    for hub in hubs:
        name = hub.__qualname__.replace(".", "")
        shared = sum(other.__qualname__.replace(".", "") == name for other in hubs) > 1
        path = "".join(part[:1].upper() + part[1:] for part in re.split(r"[._]", hub.hub_name()))
        names[hub] = path if shared else name
    return names


def declarations(hubs: list[type[Hub]], protocol: str | None = None, header: Iterable[str] = ()) -> str:
    """The TypeScript module declaring ``hubs`` (see the module's docstring)."""
    written = Declarations(protocol)
    names = type_names(hubs)
    written.reserve(f"{name}{side}" for name in names.values() for side in ("Server", "Client"))
    for hub, name in names.items():
        written.add_hub(hub, name)
    return written.render(header)


__all__ = ["PROTOCOLS", "Declarations", "PresenceChange", "declarations", "type_names"]
