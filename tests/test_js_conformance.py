"""Run the JS client conformance suite (``tests/js-conformance/``) against real servers, in Node.

For each ASGI server (Daphne, uvicorn) this starts ``tests.conformance.asgi:application`` as a separate
process on a free 127.0.0.1 port, waits until it answers, and runs ``node --test`` over the Node suite
with ``SERVER_URL`` pointing at it. ``CLIENT`` picks the client the same scenarios drive (helpers.mjs): the
unmodified ``@microsoft/signalr`` and ``@microsoft/signalr-protocol-msgpack`` packages (see
``tests/js-conformance/package.json``), or our ``realtime/static/realtime/realtime.mjs`` given the real ``ws``
and ``eventsource`` packages, or given nothing (long polling). Last, the minified client of a wheel built
from this checkout runs the suite too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from tests import servers

pytestmark = pytest.mark.timeout(900)

REPO_ROOT = Path(__file__).resolve().parent.parent
SUITE_DIR = REPO_ROOT / "tests" / "js-conformance"

NPM_CI_TIMEOUT = 300.0
NODE_SUITE_TIMEOUT = 600.0
OUTPUT_TAIL_CHARS = 12_000

NODE = shutil.which("node")


def _tail(text: str, limit: int = OUTPUT_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _failure_summary(tap: str, per_test_chars: int = 600) -> str:
    """The failing tests of node's TAP output (name + diagnostics block, truncated) and its closing counts."""
    lines = tap.splitlines()
    failures: list[str] = []
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)not ok \d+ - (.*)$", lines[i])
        i += 1
        if not match:
            continue
        block: list[str] = []
        if i < len(lines) and lines[i].strip() == "---":
            i += 1
            while i < len(lines) and lines[i].strip() != "...":
                block.append(lines[i].strip())
                i += 1
        details = "\n".join(block)
        if "failureType: 'subtestsFailed'" in details:
            continue  # a suite whose tests are listed on their own
        details = re.sub(r"^(duration_ms|location|code):.*\n?", "", details, flags=re.MULTILINE)
        if len(details) > per_test_chars:
            details = details[:per_test_chars] + " ..."
        failures.append(f"* {match.group(2)}\n{textwrap.indent(details, '    ')}")
    counts = [line for line in lines if re.match(r"^# (tests|pass|fail|cancelled|skipped|todo|duration_ms) ", line)]
    return f"{len(failures)} failing test(s):\n" + "\n".join(failures) + "\n" + "\n".join(counts)


@pytest.fixture
def conformance_server(request):
    """The conformance server on ``request.param`` (daphne or uvicorn), one process on the in-memory layer."""
    with servers.conformance_server(request.param, env={"REDIS_URL": ""}) as server:
        yield server


def _run_node_suite(conformance_server, **suite_env: str) -> str:
    """``node --test`` over the suite against the running server, with ``suite_env`` (CLIENT, ...) set; its TAP."""
    base_url, proc, log_path = conformance_server.url, conformance_server.process, conformance_server.log
    env = dict(os.environ)
    env.pop("NODE_OPTIONS", None)
    env.pop("REALTIME_MODULE", None)
    env.update(suite_env, SERVER_URL=base_url)
    started = time.monotonic()
    # Own process group: node runs each test file in a child process, and a timeout must end them all.
    node = subprocess.Popen(
        [NODE, "--test", "--test-concurrency=1", "--test-reporter=tap", "tests/js-conformance/"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = node.communicate(timeout=NODE_SUITE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        output, _ = node.communicate()
        pytest.fail(f"node suite did not finish within {NODE_SUITE_TIMEOUT:.0f} s:\n{_tail(output or '')}")
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
    elapsed = time.monotonic() - started
    server_alive = proc.poll() is None
    assert node.returncode == 0, (
        f"node --test exited {node.returncode} after {elapsed:.1f} s against {base_url} "
        f"(server {'still running' if server_alive else f'exited {proc.returncode}'}):\n"
        f"{_failure_summary(output)}\n"
        f"--- node output tail ---\n{_tail(output, 6_000)}\n"
        f"--- server log tail ---\n{_tail(log_path.read_text(errors='replace'), 4_000)}"
    )
    return output


def _assert_ran_on(output: str, transports: list[str]) -> None:
    """The hub scenarios ran (not skipped) on each of ``transports``."""
    for transport in transports:
        assert re.search(rf"^\s*ok \d+ - A1 \[{transport}/json\](?!.*# SKIP)", output, re.MULTILINE), transport


# "official": @microsoft/signalr; "realtime": ours with `ws` and `eventsource` given as its WebSocket and
# EventSource options; "realtime-bare": ours with nothing given (Node 20 has neither: long polling only).
CLIENTS = ["official", "realtime", "realtime-bare"]
TRANSPORTS = ["WebSockets", "ServerSentEvents", "LongPolling"]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("conformance_server", ["daphne", "uvicorn"], indirect=True)
def test_js_client_conformance(node_modules, conformance_server, client):
    output = _run_node_suite(conformance_server, CLIENT=client)
    _assert_ran_on(output, ["LongPolling"] if client == "realtime-bare" else TRANSPORTS)


MINIFIED = ["realtime.min.mjs", "realtime-msgpack.min.mjs", "realtime.min.js", "realtime-msgpack.min.js"]


@pytest.fixture(scope="module")
def built_wheel(built_dists) -> Path:
    """The wheel of this checkout, built from its sdist (``built_dists`` in ``tests/conftest.py``)."""
    return built_dists.wheel


@pytest.mark.parametrize("conformance_server", ["daphne"], indirect=True)
def test_minified_client_from_the_wheel(node_modules, conformance_server, built_wheel, tmp_path):
    """The wheel ships the minified client beside the sources, and the suite passes on it (module and classic)."""
    with zipfile.ZipFile(built_wheel) as wheel:
        for name in MINIFIED:
            (tmp_path / name).write_bytes(wheel.read(f"realtime/static/realtime/{name}"))
    for name in MINIFIED:
        source = REPO_ROOT / "realtime" / "static" / "realtime" / name.replace(".min", "")
        assert (tmp_path / name).stat().st_size < 0.75 * source.stat().st_size, f"{name} is not minified"
    output = _run_node_suite(conformance_server, CLIENT="realtime", REALTIME_MODULE=str(tmp_path / "realtime.min.mjs"))
    _assert_ran_on(output, TRANSPORTS)
    assert re.search(r"^\s*ok \d+ - K1 \[WebSockets/messagepack\]", output, re.MULTILINE), "the classic .min.js ran"


RENDER_TAG = """
import sys

import django
from django.conf import settings
settings.configure(DEBUG=sys.argv[1] == "debug", STATIC_URL="/static/", INSTALLED_APPS=["realtime"],
                   TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}])
django.setup()
from django.template import engines
import realtime
assert realtime.__file__.startswith(sys.argv[2]), realtime.__file__
print(engines["django"].from_string('{% load realtime %}{% realtime_client %}{% realtime_client "classic" %}').render())
"""


@pytest.mark.parametrize("debug", [False, True])
def test_installed_template_tag_serves_the_minified_client(built_wheel, tmp_path, debug):
    """Installed from the wheel, ``{% realtime_client %}`` names the minified files unless DEBUG is on."""
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    subprocess.run([*install, str(built_wheel)], check=True, capture_output=True, timeout=NPM_CI_TIMEOUT)
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", RENDER_TAG, "debug" if debug else "production", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    suffix = "" if debug else ".min"
    assert result.stdout.strip() == (
        f'<script type="importmap">{{"imports": {{"realtime": "/static/realtime/realtime{suffix}.mjs", '
        f'"realtime/msgpack": "/static/realtime/realtime-msgpack{suffix}.mjs"}}}}</script>'
        f'<script src="/static/realtime/realtime{suffix}.js"></script>'
    )
