"""``realtime.protocol`` stays sans-IO: importing it pulls in no Django, Channels, asyncio or redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import realtime.protocol

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django", "channels", "asyncio", "redis", "daphne")


def test_no_forbidden_imports() -> None:
    code = (
        "import sys, realtime.protocol, realtime.protocol.errors, realtime.protocol.varint\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_all_is_importable() -> None:
    for name in realtime.protocol.__all__:
        assert hasattr(realtime.protocol, name), name
