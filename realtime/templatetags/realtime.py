"""``{% load realtime %}{% realtime_client %}``: put the browser client on a page.

``{% realtime_client %}`` writes an import map that names the ES module ``realtime`` (and its MessagePack
protocol ``realtime/msgpack``), so module scripts say ``import { HubConnectionBuilder } from "realtime"``.
Put it before the first module script. A page with an import map of its own adds these entries to it
instead (``{% static 'realtime/realtime.mjs' %}``). ``{% realtime_client "classic" %}`` writes a classic
``<script>`` that sets ``window.realtime``.

With ``DEBUG`` off, an installed package (a wheel: setup.py adds the minified files) serves
``realtime.min.mjs``, ``realtime-msgpack.min.mjs`` and ``realtime.min.js``; with ``DEBUG`` on, or from a
checkout, the readable sources.

``nonce=...`` puts a CSP nonce on the ``<script>`` tag. Without it the template context's ``csp_nonce`` is
used when there is one: Django 6.0's ``django.template.context_processors.csp`` provides it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

CLIENT_DIR = Path(__file__).resolve().parent.parent / "static" / "realtime"
_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


@functools.cache
def _minified(name: str) -> str | None:
    """``realtime.mjs`` -> ``realtime.min.mjs`` when the package ships that file, else None."""
    stem, extension = name.rsplit(".", 1)
    minified = f"{stem}.min.{extension}"
    return minified if (CLIENT_DIR / minified).is_file() else None


def client_url(name: str) -> str:
    """The static URL of the client file ``name``: its minified build outside DEBUG when shipped, else itself."""
    minified = None if settings.DEBUG else _minified(name)
    return static(f"realtime/{minified or name}")


@register.simple_tag(takes_context=True)
def realtime_client(context: template.Context, kind: str = "module", nonce: str | None = None) -> SafeString:
    """The ``<script>`` that loads the client: an import map (``"module"``) or a classic script (``"classic"``),
    with ``nonce`` (default: the context's ``csp_nonce``) as its CSP nonce."""
    if nonce is None:
        nonce = context.get("csp_nonce")
    nonce_attribute = format_html(' nonce="{}"', nonce) if nonce else ""
    if kind == "classic":
        return format_html('<script src="{}"{}></script>', client_url("realtime.js"), nonce_attribute)
    if kind != "module":
        raise template.TemplateSyntaxError(f'realtime_client takes "module" or "classic", not {kind!r}')
    imports = {"realtime": client_url("realtime.mjs"), "realtime/msgpack": client_url("realtime-msgpack.mjs")}
    data = mark_safe(json.dumps({"imports": imports}).translate(_ESCAPES))  # JSON with <, >, & escaped
    return format_html('<script type="importmap"{}>{}</script>', nonce_attribute, data)
