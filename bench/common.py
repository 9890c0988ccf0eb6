"""What every benchmark here shares: statistics, the server process, CPU meters, the report file.

``bench.run`` (the comparison run) and the other benchmarks (``scaleout``, ``sse``, ``soak``, ``resume``,
``push_api``) import these; the SignalR client helpers are in ``bench.hubclient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.servers import free_port, server_command, stop

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
APP = "bench.asgi:application"
RS = "\x1e"
HANDSHAKE = '{"protocol":"json","version":1}' + RS
PING = '{"type":6}' + RS
KEEPALIVE_INTERVAL = 10.0  # the client pings every connection this often (the JS client: every 15 s)
CONNECT_CONCURRENCY = 100
STEP_TIMEOUT = 20.0  # bound for any single connect / handshake / answer
START_TIMEOUT = 30.0
ECHO_PAYLOAD = "0123456789abcdef0123456789abcdef"  # 32 characters
FANOUT_PAD = "x" * 32
now = time.perf_counter


# -- statistics ---------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (``None`` when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


# -- the server process -------------------------------------------------------------------------------


def client_runner(no_uvloop: bool) -> tuple[Callable[..., Any], str]:
    """How the bench client runs its event loop: ``uvloop.run`` when installed (unless refused), else
    ``asyncio.run``; and the loop's name for the report."""
    if not no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.run, "uvloop"
    return asyncio.run, "asyncio"


def log(text: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(text, file=sys.stderr, flush=True)


class Server:
    """One server process serving ``app`` on a free port; stopped with SIGTERM, then SIGKILL.

    Subclasses choose ``app``, ``settings`` (``None``: the app sets its own) and the environment variables
    of this process that the server must not inherit (``cleared``); ``env`` adds more.
    """

    app = APP
    settings: str | None = "bench.settings"
    cleared: tuple[str, ...] = ()

    def __init__(self, kind: str, label: str, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = RESULTS / f"server-{label}.log"
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process (without waiting for it to accept connections)."""
        env = {key: value for key, value in os.environ.items() if key not in (*self.cleared, "DJANGO_SETTINGS_MODULE")}
        env.update(PYTHONUNBUFFERED="1", **self.env)
        if self.settings is not None:
            env["DJANGO_SETTINGS_MODULE"] = self.settings
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                server_command(self.kind, self.port, self.app, log_level="warning"),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def __enter__(self) -> Server:
        self.launch()
        try:
            self._wait_accepting()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_accepting(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"server did not accept connections within {START_TIMEOUT} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        """VmRSS of the server process, in KiB."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


class Meter:
    """Wall time and CPU time (server process and this client process) over one measured window.

    The client's cyclic garbage collector is paused inside the window (unless ``CLIENT_GC``), so a
    collection in the client (1,000 sockets) does not show up as server latency.
    """

    client_gc = False

    def __init__(self, server: Server) -> None:
        self.server = server

    def __enter__(self) -> Meter:
        if not self.client_gc:
            gc.collect()
            gc.disable()
        self.wall0, self.server0, self.client0 = now(), self.server.cpu_seconds(), time.process_time()
        self.machine0 = machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = now() - self.wall0
        self.server_cpu = self.server.cpu_seconds() - self.server0
        self.client_cpu = time.process_time() - self.client0
        self.others_cpu = max(0.0, machine_busy_seconds() - self.machine0 - self.server_cpu - self.client_cpu)
        gc.enable()

    def figures(self, operations: int) -> dict[str, Any]:
        return {
            "server_cpu_pct": round(100 * self.server_cpu / self.wall, 1),
            "client_cpu_pct": round(100 * self.client_cpu / self.wall, 1),
            "others_cpu_pct": round(100 * self.others_cpu / self.wall, 1),
            "server_cpu_us_per_op": round(1e6 * self.server_cpu / operations, 1) if operations else None,
        }


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine used so far (``/proc/stat``: everything but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    busy = sum(fields[:8]) - idle  # guest time is already counted in user
    return busy / os.sysconf("SC_CLK_TCK")


def fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return format(value, spec)
    return str(value)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in (
        "django",
        "channels",
        "daphne",
        "uvicorn",
        "websockets",
        "twisted",
        "uvloop",
        "msgspec",
        "python-socketio",
        "python-engineio",
        "aiosignalr",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def raise_fd_limit(needed: int) -> None:
    """Raise the soft open-files limit (the server process inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"need {needed} open files, the hard limit is {hard}")


def write_report(path: Path, report: dict[str, Any], text: str, name: str) -> int:
    """Write ``report`` as JSON to ``path``, print its table ``text``; the exit status of a finished run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    log(f"{name}: wrote {path}")
    return 0
