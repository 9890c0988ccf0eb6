"""``python -m bench.soak`` for 30 s with 60 connections: two real daphne processes on a private Redis, churn
included; no delivery to a stable member may be lost or doubled, and the report must carry every metric."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.servers import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

SERVER_METRICS = ("rss_kib", "fds", "tasks", "allocated_blocks", "threads")
REDIS_METRICS = ("redis.keys", "redis.used_memory_kib", "redis.clients")


def test_short_soak_loses_nothing_and_reports_every_metric(tmp_path):
    output = tmp_path / "soak.json"
    command = [sys.executable, "-m", "bench.soak", "--duration", "30", "--connections", "60",
               "--sample-interval", "5", "--drain-timeout", "0", "--output", str(output)]  # fmt: skip
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=100)
    assert finished.returncode == 0, finished.stderr[-4000:]
    report = json.loads(output.read_text())

    deliveries = report["deliveries"]
    assert deliveries["messages_confirmed"] >= 250  # 10 messages/s for 30 s, each confirmed by its Completion
    assert deliveries["expected"] > 0
    assert deliveries["received"] == deliveries["expected"]
    assert (deliveries["lost"], deliveries["duplicated"], deliveries["misdelivered"]) == (0, 0, 0)

    metrics = [f"server{n}.{name}" for n in (1, 2) for name in SERVER_METRICS] + list(REDIS_METRICS)
    assert sorted(report["trends"]) == sorted(metrics)
    assert len(report["series"]) == 7  # t = 0, 5, ..., 30 s
    for sample in [*report["series"], report["drained"]]:
        assert sorted(sample["metrics"]) == sorted(metrics)
        assert sample["metrics"]["server1.tasks"] > 0 and sample["metrics"]["redis.keys"] > 0
    for trend in report["trends"].values():
        assert trend["samples"] == 4  # the second half: t = 15, 20, 25, 30 s
        assert isinstance(trend["slope_per_min"], float) and isinstance(trend["flat"], bool)

    operations = report["churn"]["operations"]
    assert operations["connect:websockets"] > 0 and operations["join"] > 0
    assert operations.get("end:abort", 0) + operations.get("end:abort_streaming", 0) > 0
