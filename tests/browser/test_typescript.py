"""TypeScript from the hubs: ``manage.py realtime_typescript`` declares the demo's hub, the conformance server's
(``TypedHub`` among them) and a typed hub with every kind of value (typed_hub.py); tsc --strict compiles typed
usage of each (tests/browser/typescript/*.mts) against them and realtime.d.ts.

Each ``// @ts-expect-error TSnnnn: why`` line is then proven to matter: the same files compiled without the
directives fail with exactly those codes, on exactly the lines below them, and nowhere else. (tsc itself fails on a
directive with nothing to suppress, so the first compile also proves no directive is idle.)
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

USAGE = Path(__file__).with_name("typescript")
STATIC = Path(__file__).resolve().parents[2] / "realtime" / "static" / "realtime"
CLIENT_TYPES = ["realtime.d.ts", "realtime.d.mts", "realtime-msgpack.d.ts", "realtime-msgpack.d.mts"]
SOURCES = {  # declarations file -> what the command is given
    "demo-hubs.ts": ["project.hubs"],
    "conformance-hubs.ts": ["tests.conformance.hubs"],
    "typed-hubs.ts": ["tests.browser.typed_hub"],
}
TSCONFIG = """{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "lib": ["es2022", "dom", "dom.iterable"],
    "skipLibCheck": false
  },
  "include": ["*.mts", "*.ts"]
}
"""
DIRECTIVE = re.compile(r"^(\s*)// @ts-expect-error (TS\d+): .+$")
ERROR = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): ", re.M)

pytestmark = pytest.mark.timeout(300)


def tsc(tools: Path, where: Path) -> tuple[int, str]:
    result = subprocess.run(
        [tools / "tsc", "-p", where, "--pretty", "false"], capture_output=True, text=True, cwd=where, timeout=180
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(js_tools, tmp_path_factory) -> Path:
    """A TypeScript project: the generated declarations, the client's types, the usage files, a strict tsconfig."""
    where = tmp_path_factory.mktemp("typescript")
    for name, paths in SOURCES.items():
        call_command("realtime_typescript", *paths, "-o", str(where / name), stderr=io.StringIO())
    for name in CLIENT_TYPES:
        shutil.copy(STATIC / name, where / name)
    for usage in sorted(USAGE.glob("*.mts")):
        shutil.copy(usage, where / usage.name)
    (where / "tsconfig.json").write_text(TSCONFIG)
    return where


def expected_errors(where: Path) -> set[tuple[str, int, str]]:
    """(file, line, code) of each line under a directive; the directives are turned into plain comments."""
    expected = set()
    for usage in sorted(where.glob("*.mts")):
        lines = usage.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            match = DIRECTIVE.match(line)
            if match:
                expected.add((usage.name, number + 1, match[2]))
                lines[number - 1] = f"{match[1]}// expected {match[2]} below"
        usage.write_text("\n".join(lines) + "\n")
    return expected


def test_typed_usage_compiles(js_tools, project):
    """Every call and handler of the usage files fits the declarations, and every directive suppresses an error."""
    code, output = tsc(js_tools, project)
    assert code == 0, output


def test_each_expected_error_is_an_error_without_its_directive(js_tools, project, tmp_path):
    where = tmp_path / "bare"
    shutil.copytree(project, where)
    expected = expected_errors(where)
    assert len(expected) >= 25 and {file for file, _, _ in expected} == {"conformance.mts", "demo.mts", "typed.mts"}
    code, output = tsc(js_tools, where)
    found = {(Path(match["file"]).name, int(match["line"]), match["code"]) for match in ERROR.finditer(output)}
    assert code != 0
    assert found == expected, output
