"""Checks of the hubs: methods that clients cannot reach, found in each app's ``hubs`` module."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.utils.module_loading import autodiscover_modules

from ..hubs import Hub, exposers, is_unexposed_function

HUBS_MODULE = "hubs"
"""The module of each installed app that the checks import to find its hubs (as the admin does ``admin``)."""


# -- hubs ----------------------------------------------------------------------------------------------


def known_hubs() -> list[type[Hub]]:
    """Every ``Hub`` subclass, after importing the ``hubs`` module of each installed app and of the project package
    (the one ``ASGI_APPLICATION`` lives in, e.g. ``mysite/hubs.py``).

    Hubs are usually imported only by the ASGI routing, which ``manage.py check`` does not import: keep them in
    such a ``hubs`` module (or import them from there) so the checks see them.
    """
    autodiscover_modules(HUBS_MODULE)
    project = str(getattr(settings, "ASGI_APPLICATION", None) or "").rpartition(".")[0].rpartition(".")[0]
    if project:
        try:
            present = importlib.util.find_spec(f"{project}.{HUBS_MODULE}") is not None
        except (ImportError, ValueError):  # no such package: E002 and the server say what is wrong
            present = False
        if present:
            importlib.import_module(f"{project}.{HUBS_MODULE}")
    found: list[type[Hub]] = []
    pending = list(Hub.__subclasses__())
    while pending:
        hub = pending.pop()
        if hub not in found:
            found.append(hub)
            pending.extend(hub.__subclasses__())
    return sorted(found, key=lambda hub: hub.hub_name())


@register()
def check_hub_methods(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Hub methods that clients will not reach: a public plain ``def``, two methods under one wire name, and
    wire names that differ only in case (calls match case-insensitively, so they collide)."""
    return [problem for hub in known_hubs() for problem in _hub_method_problems(hub)]


def _hub_method_problems(hub: type[Hub]) -> list[Any]:
    """The W040-W042 warnings of ``hub``; each problem is reported on the class where it first appears."""
    problems = [
        Warning(
            f"{hub.__qualname__}.{attr} is a public plain def: clients cannot call it (they get "
            f"\"Unknown hub method '{attr}'\").",
            hint="Make it async def, decorate it with @hub_method (it then runs in a worker thread), "
            f"or call it _{attr} if it is a helper.",
            obj=hub,
            id="realtime.W040",
        )
        for attr, value in vars(hub).items()
        if is_unexposed_function(attr, value)
    ]
    bases = [base for base in hub.__bases__ if issubclass(base, Hub)]
    inherited = [exposers(base) for base in bases]
    for name, methods in exposers(hub).items():
        if len(methods) > 1 and not any(sorted(seen.get(name, [])) == sorted(methods) for seen in inherited):
            reached = hub.hub_methods.get(name)
            problems.append(
                Warning(
                    f"{hub.__qualname__}: {', '.join(sorted(methods))} are all exposed as {name!r}; clients reach "
                    f"only {reached.func.__qualname__ if reached else 'one of them'}.",
                    hint="Rename one with @hub_method(name=...), or give the method meant to replace the other the "
                    "same Python name, so that it overrides it.",
                    obj=hub,
                    id="realtime.W041",
                )
            )
    folded: dict[str, list[str]] = {}
    for name in hub.hub_methods:
        folded.setdefault(name.casefold(), []).append(name)
    for names in folded.values():
        if len(names) > 1 and not any(set(names) <= set(base.hub_methods) for base in bases):
            problems.append(
                Warning(
                    f"{hub.__qualname__} exposes {' and '.join(repr(n) for n in sorted(names))}, which collide: "
                    f"calls match names case-insensitively (as in ASP.NET), so a call spelt in any other case reaches "
                    f"only {names[0]!r}.",
                    hint="Give them names that differ by more than case.",
                    obj=hub,
                    id="realtime.W042",
                )
            )
    return problems
