"""Prometheus metrics and the detect schedule of a running edge box."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from edge.camera import next_due
from edge.config import load_edge_config
from tests.edge.conftest import EdgeRig, camera


@pytest.mark.parametrize(
    ("due", "now", "expected"),
    [
        (10.0, 10.0, (10.2, False)),  # on time
        (10.0, 10.3, (10.2, False)),  # a little late: made up at once, the rate holds
        (10.0, 10.6, (10.2, False)),  # two periods late: still made up
        (10.0, 10.7, (10.7, True)),  # far behind: start again from now, slots dropped
    ],
)
def test_detect_schedule_makes_up_jitter_and_drops_when_far_behind(
    due: float, now: float, expected: tuple[float, bool]
) -> None:
    got = next_due(due, now, 0.2)
    assert (round(got[0], 6), got[1]) == expected


@pytest.mark.slow
def test_metrics_endpoint_reports_fps_detector_latency_outbox_and_drops(
    vtest_clip: Path, rig: EdgeRig
) -> None:
    from edge.agent import EdgeAgent

    path = rig.config([camera("cam-m", str(vtest_clip))])
    cfg = load_edge_config(path).model_copy(update={"metrics_port": 0})
    agent = EdgeAgent(cfg)
    agent.start()
    try:
        assert agent.metrics.port
        import time

        deadline = time.monotonic() + 30
        while agent.cameras[0].processed < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        url = f"http://127.0.0.1:{agent.metrics.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    finally:
        agent.stop()
    lines = {ln.split(" ")[0]: ln.split(" ")[-1] for ln in text.splitlines() if ln[:1] != "#"}
    assert float(lines['gridwatch_edge_frames_detected_total{camera="cam-m"}']) >= 5
    assert float(lines['gridwatch_edge_stream_fps{camera="cam-m"}']) > 0
    assert float(lines['gridwatch_edge_detect_seconds_count{camera="cam-m"}']) >= 5
    assert 'gridwatch_edge_dropped_total{camera="cam-m",reason="late_frames"}' in lines
    for name in ("detector_queue_depth", "outbox_items", "outbox_bytes"):
        assert f"gridwatch_edge_{name}" in lines
