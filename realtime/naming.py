"""Naming policies: how the Python name of a hub method or client method is spelt on the wire.

``"exact"`` (the default) keeps the Python name; ``"pascal"`` turns ``send_message`` into ``SendMessage`` (what
.NET hubs and clients use); ``"camel"`` into ``sendMessage``. A callable ``str -> str`` is a policy too. A name
given with ``@hub_method(name=...)`` is used as it is. Incoming names match case-insensitively, as in ASP.NET.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

Policy = Callable[[str], str]


def exact(name: str) -> str:
    """The Python name as it is."""
    return name


def pascal(name: str) -> str:
    """``send_message`` -> ``SendMessage`` (a name without underscores only gets its first letter raised)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or name


def camel(name: str) -> str:
    """``send_message`` -> ``sendMessage``."""
    spelt = pascal(name)
    return spelt[:1].lower() + spelt[1:]


POLICIES: dict[str, Policy] = {"exact": exact, "pascal": pascal, "camel": camel}


def policy(value: str | Policy) -> Policy:
    """The policy a ``NAMING`` setting (or a hub's ``naming``) names."""
    if callable(value):
        return value
    found = POLICIES.get(str(value))
    if found is None:
        raise ImproperlyConfigured(f"NAMING must be one of {', '.join(POLICIES)} or a callable, not {value!r}.")
    return found
