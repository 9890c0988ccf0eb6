"""The sides of the comparison run: what each serves, where, with which client dialect, in which scenarios.

Every side is served by the same server (``--server``: daphne or uvicorn) as a fresh process per scenario.
``hub`` is the project's hub; ``asgi`` is the ceiling (``bench.rawloop``), against which the goals are judged.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field

from bench.common import Server, log

AIOSIGNALR = "aiosignalr==0.1.1"  # pinned: the bench reads its source to serve an equivalent hub
SIGNALR = "signalr"
SOCKETIO = "socketio"
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"


@dataclass(frozen=True)
class Side:
    """One column of the comparison: an ASGI app and how the bench client reaches it."""

    name: str
    label: str
    app: str
    settings: str | None  # DJANGO_SETTINGS_MODULE, or None for apps without Django
    paths: dict[str, str]  # WebSocket path per scenario: echo, fanout, idle, connects
    dialect: str = SIGNALR
    negotiate: str | None = None  # HTTP path of negotiate, for the connects/s scenario
    scenarios: frozenset[str] = field(default_factory=lambda: frozenset({"echo", "fanout", "idle"}))

    def server(self, kind: str, scenario: str) -> Server:
        """A (not yet started) server process serving this side's app."""
        server = Server(kind, f"{scenario}-{self.name}")
        server.app = self.app
        server.settings = self.settings
        return server


def _same(path: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names or ("echo", "fanout", "idle", "connects"), path)


SIDES: dict[str, Side] = {
    side.name: side
    for side in (
        Side(
            "hub",
            "realtime hub",
            "bench.asgi:application",
            "bench.settings",
            _same("/benchhub"),
            negotiate="/benchhub/negotiate",
            scenarios=frozenset({"echo", "fanout", "idle", "connects"}),
        ),
        Side(
            "hub-app",
            "hub, realistic app",
            "bench.realistic:application",
            "bench.realistic_settings",
            _same("/benchhub"),
            negotiate="/benchhub/negotiate",
            scenarios=frozenset({"idle"}),
        ),
        Side(
            "asgi",
            "raw ASGI loop",
            "bench.rawloop:application",
            None,
            _same("/rawloop"),
            negotiate="/rawloop/negotiate",
            scenarios=frozenset({"echo", "fanout", "idle", "connects"}),
        ),
        Side(
            "channels",
            "raw Channels",
            "bench.asgi:application",
            "bench.settings",
            {"echo": "/raw/echo", "fanout": "/raw/fanout", "idle": "/raw/echo"},
        ),
        Side(
            "aiosignalr",
            "aiosignalr",
            "bench.aiosignalr_app:application",
            None,
            _same("/hub"),
            negotiate="/hub/negotiate",
            scenarios=frozenset({"echo", "fanout", "idle", "connects"}),
        ),
        Side("socketio", "python-socketio", "bench.socketio_app:application", None, _same(SOCKETIO_PATH), SOCKETIO),
    )
}


def ensure_aiosignalr() -> None:
    """Install aiosignalr without its dependencies when it is missing (only its client needs websockets<17)."""
    if importlib.util.find_spec("aiosignalr") is not None:
        return
    log(f"bench: installing {AIOSIGNALR} (--no-deps) for the aiosignalr side")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", AIOSIGNALR], check=True)
