"""Access logs of real Daphne and uvicorn processes, with their default access logs: every request whose query
holds ``access_token=`` and ``id=`` gets its access line, masked, and nothing writes ``--- Logging error ---``
(uvicorn's ``AccessFormatter`` unpacks ``record.args``; a filter that flattens them loses every such line)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import Counter

import pytest
from websockets.sync.client import connect

from tests.servers import Server, conformance_server

pytestmark = pytest.mark.timeout(120)

HUB = "/authorizedhub"
"""Refuses requests without a valid JWT, so each request below really carried the token it logs."""
RS = "\x1e"
HANDSHAKE = ('{"protocol":"json","version":1}' + RS).encode()
WAIT = 15.0
CLIENT = r"127\.0\.0\.1:\d+"


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    """``method url`` (bounded); status and body."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def access_line(server: str, method: str, target: str, status: int) -> str:
    """A pattern of ``server``'s default access line of one request (``target`` as masked), the whole line."""
    if server == "uvicorn":
        return rf'INFO: +{CLIENT} - "{re.escape(f"{method} {target}")} HTTP/1\.1" {status} \w+'
    return rf'{CLIENT} - - \[[^]]+\] "{re.escape(f"{method} {target}")}" {status} (\d+|-)'


def websocket_line(server: str, target: str) -> str:
    """A pattern of the access line of an accepted WebSocket. Daphne logs its path without the query string."""
    if server == "uvicorn":
        return rf'INFO: +{CLIENT} - "WebSocket {re.escape(target)}" \[accepted\]'
    return rf'{CLIENT} - - \[[^]]+\] "WSCONNECT {re.escape(target.split("?")[0])}" - -'


def count(pattern: str, lines: list[str]) -> int:
    """How many of ``lines`` are exactly ``pattern`` (a fragment quoted in an error dump does not count)."""
    return sum(re.fullmatch(pattern, line.rstrip("\n")) is not None for line in lines)


def long_polling_session(server: Server, auth: str) -> tuple[str, list[tuple[str, str, int]]]:
    """Negotiate, first poll, handshake, poll, DELETE; the connection token and the requests as masked lines."""
    status, body = http("POST", f"{server.url}{HUB}/negotiate?negotiateVersion=1&{auth}")
    assert status == 200, body
    token = json.loads(body)["connectionToken"]
    target = f"{server.url}{HUB}?id={token}&{auth}"
    assert http("GET", target) == (200, b"")
    assert http("POST", target, HANDSHAKE) == (200, b"")
    assert http("GET", target) == (200, b"{}" + RS.encode())
    assert http("DELETE", target)[0] == 202
    masked = f"{HUB}?id=***&access_token=***"
    requests = [("POST", f"{HUB}/negotiate?negotiateVersion=1&access_token=***", 200)]
    requests += [("GET", masked, 200), ("POST", masked, 200), ("GET", masked, 200), ("DELETE", masked, 202)]
    return token, requests


def websocket_session(server: Server, auth: str) -> tuple[str, list[tuple[str, str, int]]]:
    """Negotiate, then a WebSocket with the token in its query; the connection token and the negotiate line."""
    status, body = http("POST", f"{server.url}{HUB}/negotiate?negotiateVersion=1&{auth}")
    assert status == 200, body
    token = json.loads(body)["connectionToken"]
    ws_url = f"{server.url.replace('http://', 'ws://')}{HUB}?id={token}&{auth}"
    with connect(ws_url, open_timeout=WAIT) as socket:
        socket.send(HANDSHAKE.decode())
        assert socket.recv(timeout=WAIT) == "{}" + RS
    return token, [("POST", f"{HUB}/negotiate?negotiateVersion=1&access_token=***", 200)]


@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
def test_access_lines_are_written_masked_and_without_logging_errors(server_name):
    with conformance_server(server_name, access_log=True) as server:
        status, jwt = http("GET", f"{server.url}/generateJwtToken?user=logs")
        assert status == 200
        secrets = [jwt.decode()]
        auth = f"access_token={secrets[0]}"
        start = server.mark()
        # any client can put id= in any query: a plain view's line is masked the same way
        assert http("GET", f"{server.url}/generateJwtToken?user=logs&id=not-a-token-but-masked")[0] == 200
        secrets.append("not-a-token-but-masked")
        requests = [("GET", "/generateJwtToken?user=logs&id=***", 200)]

        token, more = long_polling_session(server, auth)
        secrets.append(token)
        requests += more
        token, more = websocket_session(server, auth)
        secrets.append(token)
        requests += more
        expected = Counter(access_line(server_name, *request) for request in requests)
        expected[websocket_line(server_name, f"{HUB}?id=***&access_token=***")] += 1

        def written(lines: list[str]) -> bool:
            return all(count(pattern, lines) >= times for pattern, times in expected.items())

        lines = server.wait_for_lines(written, start, timeout=WAIT)
        for pattern, times in expected.items():  # one line per request: none doubled, none lost
            assert count(pattern, lines) == times, (pattern, "".join(lines))
        server.shut_down()
        output = server.output()  # all of it, up to the server's exit
    assert "--- Logging error ---" not in output, output[-4000:]
    for secret in secrets:
        assert secret not in output, output[-4000:]
