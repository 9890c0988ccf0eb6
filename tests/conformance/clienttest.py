"""``/clienttest/``: a page that loads a browser client, for the browser tests (``tests/browser``).

``/clienttest/?client=realtime`` loads our ES module, ``realtime-classic`` our classic script,
``official`` the ``@microsoft/signalr`` browser bundle (from ``tests/js-conformance/node_modules``). Each
exposes the client's namespace as ``window.R`` (both have the same API), with the client's MessagePack
protocol as ``R.MessagePackHubProtocol``. ``&websocket=off`` and
``&eventsource=off`` remove those globals before the client loads, as a blocked browser would.
``/clienttest/browser-tests/worker.mjs`` is the module worker of the browser tests.
"""

from __future__ import annotations

from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse
from django.views.static import serve

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / "js-conformance" / "node_modules" / "@microsoft"
ROOTS = {
    "realtime": REPO / "realtime" / "static" / "realtime",
    "signalr": NODE_MODULES / "signalr" / "dist" / "browser",
    "signalr-msgpack": NODE_MODULES / "signalr-protocol-msgpack" / "dist" / "browser",
    "browser-tests": REPO / "tests" / "browser",  # worker.mjs
}
LOADERS = {
    "realtime": (
        '<script type="module">import * as R from "/clienttest/realtime/realtime.mjs";'
        'import { MessagePackHubProtocol } from "/clienttest/realtime/realtime-msgpack.mjs";'
        "window.R = { ...R, MessagePackHubProtocol };</script>"
    ),
    "realtime-classic": (
        '<script src="/clienttest/realtime/realtime.js"></script>'
        '<script src="/clienttest/realtime/realtime-msgpack.js"></script>'
        "<script>window.R = { ...realtime, ...realtimeMsgpack };</script>"
    ),
    "official": (
        '<script src="/clienttest/signalr/signalr.js"></script>'
        '<script src="/clienttest/signalr-msgpack/signalr-protocol-msgpack.js"></script>'
        "<script>window.R = { ...signalR, MessagePackHubProtocol: signalR.protocols.msgpack.MessagePackHubProtocol };"
        "</script>"
    ),
}


def page(request: HttpRequest) -> HttpResponse:
    """The test page: no content, just the chosen client."""
    loader = LOADERS.get(request.GET.get("client", "realtime"))
    if loader is None:
        raise Http404("unknown client")
    blocked = "".join(
        f"window.{name} = undefined;" for name in ("WebSocket", "EventSource") if request.GET.get(name.lower()) == "off"
    )
    html = f'<!doctype html><meta charset="utf-8"><title>client test</title><script>{blocked}</script>{loader}'
    return HttpResponse(html)


def asset(request: HttpRequest, root: str, path: str) -> HttpResponse:
    """A file of our client or of the official browser bundle."""
    if root not in ROOTS:
        raise Http404(root)
    response = serve(request, path, document_root=ROOTS[root])
    if path.endswith(".mjs"):
        response["Content-Type"] = "text/javascript"
    return response
