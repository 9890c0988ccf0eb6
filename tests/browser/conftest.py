"""Browser tests: Playwright (PyPI) drives Debian's Chromium against real server processes.

The fixtures are package-scoped: Playwright's sync API keeps an event loop marked as running in this
thread while it is alive, which the asyncio suites that run after this package must not see.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.proxy import CuttingProxy
from tests.servers import (
    CHROMIUM_ARGS,
    REPO_ROOT,
    Server,
    chromium_path,
    conformance_server,
    free_port,
    server_command,
    stop,
    wait_for_http,
)

HELPERS = Path(__file__).with_name("helpers.js")
OFFICIAL_BUNDLE = (
    Path(__file__).resolve().parents[1] / "js-conformance/node_modules/@microsoft/signalr/dist/browser/signalr.js"
)


@pytest.fixture(scope="package")
def js_tools() -> Path:
    """js/node_modules/.bin (esbuild, tsc: test-only tools), installed from the lockfile on first use."""
    npm = shutil.which("npm")
    bin_dir = REPO_ROOT / "js" / "node_modules" / ".bin"
    if not ((bin_dir / "esbuild").exists() and (bin_dir / "tsc").exists()):
        if npm is None or shutil.which("node") is None:
            pytest.fail("Node.js and npm are needed to check the client (apt-get install nodejs npm)")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=REPO_ROOT / "js", check=True, timeout=240
        )
    return bin_dir


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One headless Chromium for the whole package."""
    from playwright import sync_api  # pip install -e .[dev] installs it (bash scripts/test does)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def server() -> Iterator[Server]:
    """The conformance server under Daphne, shared by the package's tests."""
    with conformance_server("daphne") as running:
        yield running


@pytest.fixture
def open_page(browser, server) -> Iterator[Callable]:
    """``open_page(client, **query)``: a fresh browser context on ``/clienttest/`` with ``T`` (helpers.js) loaded.

    Uncaught page errors fail the test; every connection a scenario opened is stopped afterwards.
    """
    contexts = []
    errors: list[str] = []

    def open_(client: str = "realtime", *, base_url: str | None = None, **query: str):
        if client == "official" and not OFFICIAL_BUNDLE.exists():
            pytest.fail("no official bundle: run `npm ci` in tests/js-conformance (bash scripts/test does)")
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base_url or server.url}/clienttest/?{urlencode({'client': client, **query})}")
        page.wait_for_function("window.R")
        page.add_script_tag(path=str(HELPERS))
        return page

    yield open_
    for context in contexts:
        for page in context.pages:
            try:
                page.evaluate("T.cleanup()")
            except Exception:  # noqa: BLE001  (a page the test broke on purpose)
                pass
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


class Restartable:
    """A server process on a port of its own that :meth:`restart` stops and starts again."""

    process: subprocess.Popen[bytes] | None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()


class RestartableServer(Restartable):
    """The conformance server, restartable on its port and database."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "CONFORMANCE_DB": str(self.tmp / "db.sqlite3")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        log = self.tmp / "server.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                server_command("daphne", self.port), cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for_http(f"{self.url}/generateJwtToken", self.process, log)


@pytest.fixture
def restartable_server(tmp_path) -> Iterator[RestartableServer]:
    running = RestartableServer(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


class DemoServer(Restartable):
    """The demo project as ``scripts/demo`` runs it (migrate, then ``runserver``), on a fresh SQLite file;
    :meth:`restart` stops and starts it again on the same port and database."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "demo.log"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DEMO_DB": str(tmp / "demo.sqlite3")}
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None
        migrate = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
        subprocess.run(migrate, cwd=REPO_ROOT, env=self.env, check=True, timeout=120)

    def start(self) -> None:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_for_http(f"{self.url}/", self.process, self.log)


@contextlib.contextmanager
def demo_server(tmp: Path, **env: str) -> Iterator[DemoServer]:
    """A running :class:`DemoServer`, stopped afterwards."""
    server = DemoServer(tmp, **env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cutting_proxy(server) -> Iterator[CuttingProxy]:
    """A :class:`CuttingProxy` in front of the package's conformance server."""
    proxy = CuttingProxy(server.url)
    try:
        yield proxy
    finally:
        proxy.close()


SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


@pytest.fixture
def screenshot(tmp_path) -> Callable:
    """``screenshot(page, name)``: the README's docs/screenshots/NAME.png when REALTIME_SCREENSHOTS=1 is set or it
    is missing (so plain test runs leave the committed pictures alone), else a file in the test's tmp_path."""

    def take(page, name: str) -> Path:
        target = SCREENSHOTS / f"{name}.png"
        if os.environ.get("REALTIME_SCREENSHOTS") != "1" and target.exists():
            target = tmp_path / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), full_page=True)
        return target

    return take
