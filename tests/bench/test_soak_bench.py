"""``gridwatch bench soak`` for a few seconds: its last line carries the start and end
values of every process and queue, and on a shared broker it leaves no retained
message of its own behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.retained import retained_under

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]


def test_a_short_soak_reports_every_process_and_queue_and_clears_its_retained(
    mqtt_broker: tuple[str, int],
) -> None:
    host, port = mqtt_broker
    done = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "bench", "soak", "--minutes", "0.3",
         "--rate", "100", "--warmup-s", "4", "--json", "--mqtt", f"{host}:{port}"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["rss"]) == {"gateway", "dispatcher", "publisher"}  # the broker is shared
    for values in result["rss"].values():
        assert values["start_mib"] > 10 and values["end_mib"] > 10
    assert isinstance(result["rss_within_20pct"], bool)
    assert set(result["queues"]) == {"ingest", "dispatch"}
    for q in result["queues"].values():
        assert {"start", "end", "after_drain"} <= set(q)
    assert result["box_ref"] > 0
    assert result["sent"] == pytest.approx(0.3 * 60 * 100, rel=0.05)
    assert result["stored"] == result["sent"] and result["lost"] == 0
    assert result["cases"] > 0
    # The gateway acked each camera retained; the run cleared all of them.
    assert result["retained_cleared"] >= 1
    assert result["retained_left"] == 0
    prefix = result["prefix"]
    assert retained_under(host, port, prefix) == []
