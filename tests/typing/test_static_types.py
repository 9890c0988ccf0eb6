"""Typed hubs under the type checkers users run: pyright (strict) and mypy (strict) on a small project.

``fixture/chat.py`` is a typed hub as the docs write it and must check clean; each line of ``fixture/mistakes.py``
marked ``# error:`` must be reported, by the rule that names the mistake. The fixture is copied out of the
repository so that each tool sees it as a project of its own, with ``realtime`` importable from this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

FIXTURE = Path(__file__).parent / "fixture"
PYRIGHT = REPO_ROOT / "js" / "node_modules" / ".bin" / "pyright"

MISTAKES = {  # line -> the mistake, as each checker names it
    12: ("unknown method", {"reportAttributeAccessIssue", "reportUnknownMemberType"}, {"attr-defined"}),
    13: ("wrong argument type", {"reportArgumentType"}, {"arg-type"}),
    14: ("missing await", {"reportUnusedCoroutine"}, {"unused-coroutine"}),
}


@pytest.fixture
def project(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(FIXTURE, copy)
    marked = {n for n, line in enumerate((copy / "mistakes.py").read_text().splitlines(), 1) if "# error:" in line}
    assert marked == set(MISTAKES)  # the table below and the fixture agree
    return copy


@pytest.fixture(scope="session")
def pyright() -> Path:
    if not PYRIGHT.exists():  # scripts/test installs js/'s tools; a missing install must fail, not pass
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO_ROOT / "js", check=True, timeout=300)
    return PYRIGHT


def test_pyright_strict_accepts_the_typed_hub_and_names_each_mistake(project, pyright):
    config = {"typeCheckingMode": "strict", "pythonVersion": "3.11", "extraPaths": [str(REPO_ROOT)]}
    (project / "pyrightconfig.json").write_text(json.dumps(config))
    done = subprocess.run(
        [str(pyright), "--outputjson", "--pythonpath", sys.executable, "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = json.loads(done.stdout)
    found: dict[tuple[str, int], set[str]] = {}
    for diagnostic in report["generalDiagnostics"]:
        key = (Path(diagnostic["file"]).name, diagnostic["range"]["start"]["line"] + 1)
        found.setdefault(key, set()).add(diagnostic.get("rule", diagnostic["message"]))
    assert found == {("mistakes.py", line): rules for line, (_, rules, _) in MISTAKES.items()}


def test_mypy_strict_accepts_the_typed_hub_and_names_each_mistake(project):
    env = {**os.environ, "MYPYPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental", "--no-error-summary"]
        + ["--python-executable", sys.executable, "chat.py", "mistakes.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    found: dict[tuple[str, int], set[str]] = {}
    for line in done.stdout.splitlines():
        match = re.match(r"^(\S+\.py):(\d+): error: .*\[([a-z-]+)\]$", line)
        if match:
            found.setdefault((match[1], int(match[2])), set()).add(match[3])
    assert found == {("mistakes.py", line): codes for line, (_, _, codes) in MISTAKES.items()}, done.stdout
