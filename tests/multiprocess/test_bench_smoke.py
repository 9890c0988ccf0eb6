"""``python -m bench.run --tiny``: every side and scenario of the comparison run (the raw ASGI loop, aiosignalr,
python-socketio, raw Channels, the hub and the hub in a realistic app) through real server processes and two
client worker processes, in seconds; every answer right, nothing lost, every goal reported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.servers import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

SIDES = {
    "idle": {"hub", "hub-app", "asgi", "channels", "aiosignalr", "socketio"},
    "echo": {"hub", "asgi", "channels", "aiosignalr", "socketio"},
    "fanout": {"hub", "asgi", "channels", "aiosignalr", "socketio"},
    "connects": {"hub", "asgi", "aiosignalr"},
}


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_tiny_comparison_run_covers_every_side_correctly(tmp_path, server):
    output = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench.run", "--tiny", "--server", server, "--client-procs", "2",
               "--output", str(output)]  # fmt: skip
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=280)
    assert finished.returncode == 0, finished.stderr[-4000:]
    report = json.loads(output.read_text())
    results = report["results"]

    for scenario, sides in SIDES.items():
        assert results[scenario], scenario
        for row in results[scenario]:
            assert set(row) == sides, scenario
    assert len(results["echo"]) == 2  # 1 and 4 clients
    for row in results["echo"]:
        for figures in row.values():
            assert figures["round_trips"] > 0 and figures["wrong_answers"] == 0
            assert {"server_cpu_pct", "client_cpu_pct", "busiest_client_cpu_pct", "others_cpu_pct"} <= set(figures)
    cases = [(row["hub"]["members"], row["hub"]["mode"]) for row in results["fanout"]]
    assert cases == [(20, "rate"), (20, "saturate")]
    for row in results["fanout"]:
        for figures in row.values():
            assert figures["expected"] > 0 and figures["received"] == figures["expected"] and figures["lost"] == 0
            assert figures["sender_errors"] == 0 and figures["p99_ms"] is not None
    for figures in results["connects"][0].values():
        assert (figures["already_open"], figures["connected"], figures["failed"]) == (20, 10, 0)
    for figures in results["idle"][0].values():
        assert figures["opened"] == figures["connections"] == 20

    goals = {goal["goal"]: goal for goal in report["goals"]}
    assert len(goals) == 8 and all(goal["value"] is not None for goal in goals.values())
    assert goals["every row correct: no wrong answer, no loss, no failed call or connect"]["met"]


def test_tiny_idle_run_under_uvicorn_with_wsproto(tmp_path):
    """``--uvicorn-ws wsproto`` serves every side with uvicorn's wsproto implementation (the lean-memory option)."""
    output = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench.run", "--tiny", "--server", "uvicorn", "--uvicorn-ws", "wsproto",
               "--sides", "hub,hub-app,asgi", "--scenarios", "idle,echo", "--output", str(output)]  # fmt: skip
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-4000:]
    report = json.loads(output.read_text())
    assert report["server"] == "uvicorn --ws wsproto"
    assert set(report["results"]["idle"][0]) == {"hub", "hub-app", "asgi"}
    for row in report["results"]["echo"]:
        assert all(figures["round_trips"] > 0 and figures["wrong_answers"] == 0 for figures in row.values())
