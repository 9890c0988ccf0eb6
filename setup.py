"""Packaging step that pyproject.toml cannot state: ship minified copies of the browser client.

A wheel, whether built from the repository or from the sdist, gets ``realtime.min.mjs``,
``realtime-msgpack.min.mjs``, ``realtime.min.js`` and ``realtime-msgpack.min.js`` beside their sources in
``realtime/static/realtime/``. They are made here with rjsmin (a build requirement in pyproject.toml), so
neither the repository nor the sdist holds build outputs and installing needs no Node.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CLIENT = Path("realtime", "static", "realtime")
SOURCES = ("realtime.mjs", "realtime-msgpack.mjs", "realtime.js", "realtime-msgpack.js")


def minified_name(name: str) -> str:
    """``realtime.mjs`` -> ``realtime.min.mjs``."""
    stem, extension = name.rsplit(".", 1)
    return f"{stem}.min.{extension}"


class build_py_with_minified_client(build_py):  # noqa: N801  (setuptools command names are lower case)
    """build_py, then the minified client files into the build tree (not in editable installs: they serve the
    sources, which the template tag falls back to)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        import rjsmin

        for name in SOURCES:
            source = (CLIENT / name).read_text(encoding="utf-8")
            header = f"/* {minified_name(name)}: {name} of django-realtime-hubs, minified by rjsmin */\n"
            target = Path(self.build_lib, CLIENT, minified_name(name))
            target.write_text(header + rjsmin.jsmin(source) + "\n", encoding="utf-8")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib, CLIENT, minified_name(name))) for name in SOURCES]


setup(cmdclass={"build_py": build_py_with_minified_client})
