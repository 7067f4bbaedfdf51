"""``gridwatch bench live`` at a small scale: its JSON line, and the slow client dropped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.retained import retained_under

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_small_live_bench_reports_its_figures_and_drops_the_slow_client(
    pg_admin_url: str, mqtt_broker: tuple[str, int]
) -> None:
    host, port = mqtt_broker
    # A small queue and send buffer: the slow client overflows within the few seconds.
    args = ["--clients", "12", "--rate", "100", "--seconds", "5", "--warmup", "2",
            "--client-queue", "64", "--send-buffer", "4096", "--client-procs", "1",
            "--admin-dsn", pg_admin_url, "--json"]  # fmt: skip
    env = {"GRIDWATCH_MQTT_HOST": host, "GRIDWATCH_MQTT_PORT": str(port), "PATH": "/usr/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "bench", "live", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("clients", "events_per_s", "p50_ms", "p99_ms", "slow_client_dropped",
                "rss_mb_start", "rss_mb_end", "box_ref"):  # fmt: skip
        assert key in got, key
    assert got["clients"] == 12
    assert got["slow_client_dropped"] is True, got["slow_client"]
    # It was cut off: it never got the last events the others got.
    assert got["slow_client"]["events"] < got["events_published_all"]
    # Every other client got every stored event, in order of a second, not a minute.
    assert got["events_stored"] == got["events_published"] == 500, got
    assert got["missed"] == 0 and got["deliveries"] == 11 * 500, got
    assert 0 < got["p50_ms"] <= got["p99_ms"] < 10_000
    # The gateway's retained acks went with the run.
    assert got["retained_cleared"] >= 1
    assert retained_under(host, port, got["topic_prefix"]) == []
