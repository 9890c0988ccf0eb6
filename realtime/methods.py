"""Hub methods: which functions of a hub are callable, under which wire name, and how to call them.

Each hub method's signature is inspected once, when its hub class is created.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect

STREAM_TYPES = {
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
}
STREAM_NAMES = ("AsyncIterator", "AsyncIterable", "AsyncGenerator")

_MARK = "_realtime_hub_method"


def hub_method(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    permission_classes: list[Any] | None = None,
) -> Any:
    """Expose ``func`` to clients, optionally under another wire ``name`` and with its own permissions.

    Public ``async def`` methods and async generators are exposed without it; use it to rename a method,
    to require ``permission_classes`` for calling it, or to expose a plain ``def`` (run in a worker thread
    through ``database_sync_to_async``).
    """

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        setattr(target, _MARK, (name or target.__name__, list(permission_classes or [])))
        return target

    return mark(func) if func is not None else mark


def wire_name(func: Any) -> str | None:
    """The wire name given by :func:`hub_method`, or ``None`` when ``func`` is not marked."""
    marked = getattr(func, _MARK, None)
    return marked[0] if marked else None


class ArgumentError(Exception):
    """The invocation's arguments do not fit the method (count or type)."""

    wire_name = "InvalidDataException"


def is_stream_annotation(annotation: Any) -> bool:
    """Whether a parameter annotated ``annotation`` takes a client-to-server stream (``AsyncIterator[T]``...)."""
    if isinstance(annotation, str):
        return annotation.split("[", 1)[0].rsplit(".", 1)[-1] in STREAM_NAMES
    return typing.get_origin(annotation) in STREAM_TYPES or annotation in STREAM_TYPES


def _converter(annotation: Any) -> Callable[[Any], Any] | None:
    """Check and build an argument of type ``annotation`` from what JSON or MessagePack decoded (msgspec): ints,
    floats, str, bool, bytes (base64 in JSON), datetime, UUID, lists, dicts, TypedDicts, dataclasses, optional
    values; ``None`` (taken as it comes) for an unannotated parameter, ``Any``, or a type msgspec cannot build."""
    if annotation is inspect.Parameter.empty or annotation is Any or isinstance(annotation, str):
        return None
    try:
        msgspec.inspect.type_info(annotation)
    except (TypeError, ValueError):
        return None
    return functools.partial(msgspec.convert, type=annotation)


@dataclass(frozen=True, slots=True)
class Parameter:
    """One client-supplied positional parameter."""

    name: str
    required: bool
    convert: Callable[[Any], Any] | None


class HubMethod:
    """A callable hub method: wire name, parameters, stream parameters and call kind."""

    __slots__ = (
        "name",
        "func",
        "params",
        "stream_positions",
        "is_stream",
        "is_void",
        "is_async",
        "arity",
        "permission_classes",
        "_as_sent",
    )

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self.name = name
        self.func = func
        marked = getattr(func, _MARK, None)
        self.permission_classes: list[Any] = marked[1] if marked else []
        self.is_stream = inspect.isasyncgenfunction(func)
        self.is_async = self.is_stream or inspect.iscoroutinefunction(func)
        signature = inspect.signature(func)
        hints = self._hints(func)
        returns = hints.get("return", signature.return_annotation)
        self.is_void = returns is None or returns is type(None) or returns == "None"
        self.params: list[Parameter] = []
        self.stream_positions: list[int] = []
        for index, param in enumerate(list(signature.parameters.values())[1:]):
            if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                raise TypeError(f"Hub method {func.__qualname__}: only positional parameters are supported")
            annotation = hints.get(param.name, param.annotation)
            if is_stream_annotation(annotation):
                self.stream_positions.append(index)
            else:
                required = param.default is param.empty
                self.params.append(Parameter(param.name, required, _converter(annotation)))
        self.arity = (sum(p.required for p in self.params), len(self.params))
        self._as_sent = not self.stream_positions and all(p.convert is None for p in self.params)
        """Whether the arguments are passed as the client sent them (no type to check, no stream to place)."""

    @staticmethod
    def _hints(func: Callable[..., Any]) -> dict[str, Any]:
        try:
            return typing.get_type_hints(func)
        except Exception:  # unresolvable forward references: fall back to the raw strings
            return dict(getattr(func, "__annotations__", {}))

    def bind(self, arguments: list[Any], streams: list[Any]) -> list[Any]:
        """Positional arguments for the call, stream iterators placed at their parameters' positions.

        Raises :class:`ArgumentError` (texts as ASP.NET's) when counts or types do not fit.
        """
        low, high = self.arity
        if not low <= len(arguments) <= high:
            expected = str(high) if low == high else f"{low} to {high}"
            raise ArgumentError(f"Invocation provides {len(arguments)} argument(s) but target expects {expected}.")
        if self._as_sent:
            return arguments
        values = []
        for param, value in zip(self.params, arguments, strict=False):
            if param.convert is not None:
                try:
                    value = param.convert(value)
                except (msgspec.ValidationError, ValueError, TypeError) as exc:
                    raise ArgumentError(f"Error binding argument '{param.name}': {exc}.") from exc
            values.append(value)
        for position, stream in zip(self.stream_positions, streams, strict=True):
            values.insert(position, stream)
        return values
