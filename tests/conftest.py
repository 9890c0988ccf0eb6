"""Shared fixtures: ``realtime_cleanup`` for the in-process suites (``tests/unit``, ``tests/integration``), and
for the suites that run real clients and packages, the official client's npm install and this checkout's
distributions, each made once per session.

``realtime_cleanup`` is not autouse here: ``tests/protocol`` is pure (no Django) and uses Hypothesis, which
refuses function-scoped fixtures it did not ask for. The suites that need it turn it on in their own conftest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT

JS_CONFORMANCE = REPO_ROOT / "tests" / "js-conformance"
INSTALL_TIMEOUT = 300.0


@pytest.fixture
async def realtime_cleanup():
    """After the test: stop this loop's services (process channel, background tasks), forget its connection
    table, and flush the layer."""
    yield
    from channels.layers import get_channel_layer

    from realtime import local, loops

    await loops.close()
    local._tables.pop()
    layer = get_channel_layer()
    if layer is not None:
        await layer.flush()


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``tests/js-conformance/node_modules`` (the official ``@microsoft/signalr``), installed from the lockfile if
    missing. No Node.js is a failure, never a skip: a missing install step must not pass as a green run."""
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the official JS client suite needs Node.js >= 20 (apt-get install nodejs)")
    modules = JS_CONFORMANCE / "node_modules"
    if not (modules / "@microsoft" / "signalr").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not on PATH: cannot install the JS client suite's dependencies (apt-get install npm)")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_CONFORMANCE,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        output = (result.stdout + result.stderr)[-6000:]
        assert result.returncode == 0, f"npm ci failed ({result.returncode}):\n{output}"
    return modules


@dataclass(frozen=True)
class Distributions:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="session")
def built_dists(tmp_path_factory) -> Distributions:
    """This checkout's sdist and the wheel built from that sdist, as ``python -m build`` (and pip, given the
    sdist) makes them."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode == 0, f"python -m build failed:\n{(result.stdout + result.stderr)[-6000:]}"
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Distributions(sdist, wheel)
