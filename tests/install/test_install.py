"""The README's "Add to an existing project", done the way a user does it, on this checkout's distributions.

The sdist and the wheel built from it (``built_dists``) must hold what a user needs, and the sdist must build the
wheel the checkout builds. The wheel goes into a new virtualenv (pip resolves its dependencies from the index,
through its cache), ``django-admin startproject mysite`` makes a new project, and the README's recipe is applied
by writing exactly its marked blocks (``<!-- recipe: PATH -->`` replaces or creates PATH,
``<!-- recipe: PATH (append) -->`` appends to it), so README and test cannot drift. Then a user, ``migrate``,
``check``, and the project is served by Daphne and by uvicorn on a free 127.0.0.1 port, as the README runs them.

There, the unmodified official Node client (WebSockets only, negotiate first, no Origin header, the JWT of
simplejwt's token view through ``accessTokenFactory``) and pysignalr (WebSockets, the JWT in the query string, as
browsers send it) invoke the hub and receive its pushes, from each other too; a client without a token gets
401, a foreign page's Origin 403, and the access log shows the requests with the token masked.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.python_clients.test_pysignalr import invoke, running
from tests.servers import REPO_ROOT, Server, free_port, stop, wait_for_http

pytestmark = pytest.mark.timeout(600)

README = (REPO_ROOT / "README.md").read_text()
RECIPE_BLOCK = re.compile(
    r"^<!-- recipe: (?P<path>\S+?)(?P<append> \(append\))? -->\n```python\n(?P<code>.*?)^```$", re.M | re.S
)
RECIPE_FILES = ["mysite/asgi.py", "mysite/hubs.py", "mysite/settings.py", "mysite/urls.py"]
OFFICIAL_CLIENT = Path(__file__).with_name("official_client.mjs")
MINIFIED = ["realtime.min.mjs", "realtime-msgpack.min.mjs", "realtime.min.js", "realtime-msgpack.min.js"]
USERNAME, PASSWORD = "alice", "install-path-secret"
WAIT = 10.0
INSTALL_TIMEOUT = 300.0  # one pip install, build or manage.py command
SERVERS = {  # the README's commands, on a port of the test's choosing
    "daphne": ["daphne", "--websocket_timeout", "-1", "-b", "127.0.0.1", "-p", "{port}", "mysite.asgi:application"],
    "uvicorn": ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "mysite.asgi:application"],
}


def run(command: list, **options) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (bounded); its output in the failure message."""
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=INSTALL_TIMEOUT, **options
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{(result.stdout + result.stderr)[-6000:]}"
    return result


def source_files() -> list[str]:
    """The checkout's files (tracked, or new and not ignored) that exist."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT).stdout.split("\n")
    return [name for name in listed if name and (REPO_ROOT / name).is_file()]


def wheel_files(wheel: Path) -> dict[str, str]:
    """``{name: sha256}`` of a wheel's members."""
    with zipfile.ZipFile(wheel) as archive:
        return {name: hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()}


def test_distributions_hold_what_a_user_needs(built_dists, tmp_path):
    """The wheel: every file of the package plus the minified client, the project URLs, the README as its
    description. The sdist: sources only. The wheel built from the sdist is the one the checkout builds."""
    wheel = wheel_files(built_dists.wheel)
    package = {name for name in source_files() if name.startswith("realtime/")}
    assert "realtime/py.typed" in package
    assert {name for name in wheel if name.startswith("realtime/")} == package | {
        f"realtime/static/realtime/{name}" for name in MINIFIED
    }
    with zipfile.ZipFile(built_dists.wheel) as archive:
        (metadata_name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert dict(value.split(", ", 1) for value in metadata.get_all("Project-URL")) == project["urls"]
    assert metadata.get_all("Classifier") == project["classifiers"]
    assert "## Add to an existing project" in metadata.get_payload()

    with tarfile.open(built_dists.sdist) as sdist:
        names = sdist.getnames()
    assert not [name for name in names if ".min." in name], "the sdist carries sources; the wheel build minifies"
    checkout = tmp_path / "checkout"
    for name in source_files():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, checkout / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "out", checkout])
    (direct,) = (tmp_path / "out").glob("*.whl")
    assert wheel_files(direct) == wheel, "the sdist builds another wheel than the checkout"


def recipe() -> list[re.Match[str]]:
    """The README's marked blocks: every file of the recipe, once."""
    blocks = list(RECIPE_BLOCK.finditer(README))
    assert sorted(block["path"] for block in blocks) == RECIPE_FILES
    return blocks


def test_readme_gives_the_install_line():
    assert re.search(r"^pip install django-realtime-hubs\b", README, re.M)


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell in the new virtualenv: nothing of this checkout's."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    return {**env, "VIRTUAL_ENV": str(venv.parent), "PATH": f"{venv}{os.pathsep}{env.get('PATH', '')}", **extra}


@pytest.fixture(scope="module")
def venv(built_dists, tmp_path_factory) -> Path:
    """A new virtualenv with the wheel (and uvicorn) installed; its ``bin`` directory."""
    root = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", root])
    # This interpreter's pip installs into the new one (--python), so the new one needs no pip of its own.
    pip = [sys.executable, "-m", "pip", "--python", root / "bin" / "python", "install", "--quiet"]
    run([*pip, built_dists.wheel, "uvicorn[standard]"])
    return root / "bin"


@pytest.fixture(scope="module")
def project(venv, tmp_path_factory) -> Path:
    """``startproject mysite`` with the README's recipe applied, a user, migrated; its directory."""
    root = tmp_path_factory.mktemp("project")
    env = clean_env(venv)
    run([venv / "django-admin", "startproject", "mysite", root], env=env)
    for block in recipe():
        path = root / block["path"]
        path.write_text(path.read_text() + "\n\n" + block["code"] if block["append"] else block["code"])
    manage = [venv / "python", "manage.py"]
    run([*manage, "check", "--fail-level", "WARNING"], cwd=root, env=env)
    run([*manage, "migrate", "--verbosity", "0"], cwd=root, env=env)
    admin = ["createsuperuser", "--noinput", "--username", USERNAME, "--email", "alice@example.com"]
    run([*manage, *admin], cwd=root, env=clean_env(venv, DJANGO_SUPERUSER_PASSWORD=PASSWORD))
    where = run([venv / "python", "-c", "import realtime; print(realtime.__file__)"], cwd=root, env=env).stdout
    assert where.startswith(str(venv.parent)), f"realtime imported from {where}, not from the new virtualenv"
    return root


@pytest.fixture(params=list(SERVERS))
def served(request, venv, project, tmp_path) -> Iterator[Server]:
    port = free_port()
    name, *arguments = SERVERS[request.param]
    command = [str(venv / name), *(argument.format(port=port) for argument in arguments)]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=project, env=clean_env(venv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/admin/login/", process, log)
        yield Server(url, process, log)
    finally:
        stop(process)


def sign_in(url: str) -> str:
    """An access token from simplejwt's token view, as the recipe's urls.py routes it."""
    body = json.dumps({"username": USERNAME, "password": PASSWORD}).encode()
    request = urllib.request.Request(f"{url}/api/token/", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return json.load(response)["access"]


async def run_official_client(url: str, message: str) -> dict:
    """``official_client.mjs`` against ``url``; what it reports."""
    node = shutil.which("node")
    assert node, "node is not on PATH"  # the node_modules fixture fails first
    env = {key: value for key, value in os.environ.items() if key != "NODE_OPTIONS"}
    env.update(SERVER_URL=url, USERNAME=USERNAME, PASSWORD=PASSWORD, MESSAGE=message)
    process = await asyncio.create_subprocess_exec(
        node, OFFICIAL_CLIENT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"official client exited {process.returncode}:\n{err.decode()[-4000:]}"
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_recipe_serves_the_official_client_and_pysignalr(served, node_modules):
    access = await asyncio.to_thread(sign_in, served.url)
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def on_message(arguments: list[str]) -> None:
        await received.put(tuple(arguments))

    async with running(f"{served.url}/hubs/chat?access_token={access}") as python:
        python.client.on("ReceiveMessage", on_message)
        report = await run_official_client(served.url, "hello from node")
        assert report["result"] is None  # SendMessage is void
        assert report["push"] == [USERNAME, "hello from node"]
        assert report["tokenRequests"] >= 1
        assert "401" in report["refusal"], report["refusal"]
        # The official client's message reached pysignalr's connection too: both are in the lobby.
        assert await asyncio.wait_for(received.get(), WAIT) == (USERNAME, "hello from node")
        assert await invoke(python.client, "SendMessage", "hello from pysignalr") is None
        assert await asyncio.wait_for(received.get(), WAIT) == (USERNAME, "hello from pysignalr")

    socket_url = f"{served.url.replace('http', 'ws', 1)}/hubs/chat?access_token={access}"
    async with connect(socket_url, origin=served.url, open_timeout=WAIT):
        pass  # a page of the site itself (ALLOWED_HOSTS; with DEBUG and none listed, 127.0.0.1)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url, origin="https://elsewhere.example", open_timeout=WAIT):
            pass
    assert refused.value.response.status_code == 403
    log = served.output()
    assert "/hubs/chat/negotiate?access_token=***" in log, "the access log lost pysignalr's negotiate"
    assert access not in log, "the access token reached the server's log"
    assert "--- Logging error ---" not in log
