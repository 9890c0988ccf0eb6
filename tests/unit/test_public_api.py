"""The one page of public API: every name an application imports comes from ``realtime`` itself, lazily."""

from __future__ import annotations

import re
import subprocess
import sys

import realtime
from tests.servers import REPO_ROOT


def test_every_exported_name_resolves_to_its_definition():
    assert set(realtime.__all__) == {"__version__", *realtime._EXPORTS}
    for name, module in realtime._EXPORTS.items():
        value = getattr(realtime, name)
        assert value is getattr(sys.modules[module], name)


def test_importing_realtime_needs_no_settings_and_loads_nothing_else():
    code = (
        "import sys, realtime\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('realtime.', 'django', 'channels')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_unknown_names_raise_attribute_error():
    try:
        realtime.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "has no attribute 'NoSuchThing'" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_the_readme_opens_with_the_whole_public_api():
    """The README's first section is the table of every exported name, and names nothing else in its Use column."""
    readme = (REPO_ROOT / "README.md").read_text()
    first_section = readme.split("\n## ")[1]
    assert first_section.startswith("The public API\n")
    used = {
        name.split(".")[0]
        for row in first_section.splitlines()
        if row.startswith("| ") and not row.startswith(("| To ", "| ---"))
        for name in re.findall(r"`([A-Za-z_.]+)`", row.split(" | ")[1])
    }
    assert used == set(realtime._EXPORTS)


def test_hubs_work_in_a_project_without_django_contrib_auth():
    """Routing and serving a hub needs neither ``django.contrib.auth`` nor simplejwt: only the JWT middleware does."""
    code = """
import asyncio, django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["channels", "realtime"],
    CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
)
django.setup()
from realtime import Hub, HubCommunicator, hub_routes

class EchoHub(Hub):
    async def Echo(self, text: str) -> str:
        return text

async def main():
    hub_routes({"echo": EchoHub})
    async with HubCommunicator(EchoHub) as client:
        print(await client.invoke("Echo", "hi"))

asyncio.run(main())
import sys
print(sorted(m for m in sys.modules if m.startswith(("django.contrib.auth", "rest_framework_simplejwt"))))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hi", "[]"]
