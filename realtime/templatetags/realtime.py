"""``{% load realtime %}{% realtime_client %}``: put the browser client on a page.

``{% realtime_client %}`` writes an import map that names the ES module ``realtime`` (and its MessagePack
protocol ``realtime/msgpack``), so module scripts say ``import { HubConnectionBuilder } from "realtime"``.
Put it before the first module script. A page with an import map of its own adds these entries to it
instead (``{% static 'realtime/realtime.mjs' %}``). ``{% realtime_client "classic" %}`` writes a classic
``<script>`` that sets ``window.realtime``.
"""

from __future__ import annotations

import json

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


@register.simple_tag
def realtime_client(kind: str = "module") -> SafeString:
    """The ``<script>`` that loads the client: an import map (``"module"``) or a classic script (``"classic"``)."""
    if kind == "classic":
        return format_html('<script src="{}"></script>', static("realtime/realtime.js"))
    if kind != "module":
        raise template.TemplateSyntaxError(f'realtime_client takes "module" or "classic", not {kind!r}')
    imports = {"realtime": static("realtime/realtime.mjs"), "realtime/msgpack": static("realtime/realtime-msgpack.mjs")}
    data = json.dumps({"imports": imports}).translate(_ESCAPES)
    return mark_safe(f'<script type="importmap">{data}</script>')  # JSON with <, >, & escaped
