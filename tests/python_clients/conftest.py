"""One real conformance server process (Daphne) shared by the third-party Python client suites."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.servers import Server, conformance_server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with conformance_server("daphne") as running:
        yield running


def post_json(url: str, body: dict) -> int:
    """POST ``body`` as JSON to ``url`` (bounded); the response status."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status
