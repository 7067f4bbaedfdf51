"""Zones and rules pushed to a running edge: applied without a restart, or refused with why."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import CameraConfig, parse_edge_config
from edge.remote_config import PushRefused, pushed_camera
from gateway.contract import Batch, Event, MessageKind, Status, parse, parse_topic
from gateway.push_config import config_message, push_config
from gridwatch.settings import get_settings
from tests.edge.conftest import ROAD, Collector, EdgeRig, edge_config

#: A strip of sky above vtest.avi's road where nobody walks.
SKY = [[0, 0], [768, 0], [768, 20], [0, 20]]


def watching(zone: str, polygon: list[list[int]]) -> dict[str, Any]:
    return {
        "zones": [{"name": zone, "polygon": polygon}],
        "rules": [{"type": "intrusion", "zone": zone, "classes": ["motion"], "cooldown_s": 1}],
    }


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"stream": "rtsp://elsewhere/"}, r"keys \['stream'\] cannot be pushed"),
        (
            {"rules": [{"type": "intrusion", "zone": "nowhere"}]},
            r"rules\[0\].zone 'nowhere' is not one of the zones",
        ),
        ({"zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]}, r"zones\[0\]\.polygon"),
        ({"detect_fps": 0}, r"detect_fps = 0"),
        ({"privacy": {"blur_faces": False}}, r"needs privacy\.authorised_by"),
    ],
)
def test_a_push_the_edge_models_refuse_names_the_field(config: dict[str, Any], error: str) -> None:
    cam = CameraConfig.model_validate({"id": "cam-p", "stream": "asset://vtest.avi"})
    with pytest.raises(PushRefused, match=error):
        pushed_camera(cam, config_message("cam-p", "v9", config))


def test_a_valid_push_keeps_the_stream_and_replaces_zones_and_rules() -> None:
    cam = CameraConfig.model_validate(
        {"id": "cam-p", "stream": "asset://vtest.avi", **watching("sky", SKY)}
    )
    new = pushed_camera(cam, config_message("cam-p", "v2", watching("road", ROAD)))
    assert new.stream == cam.stream and [z.name for z in new.zones] == ["road"]


def test_push_config_command_refuses_a_config_the_edge_would_refuse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"rules": [{"type": "intrusion", "zone": "nowhere"}]}))
    args = ["push-config", "--camera", "cam-p", "--file", str(bad), "--version", "v3"]
    proc = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "edge", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "rules[0].zone 'nowhere' is not one of the zones" in proc.stderr


def _events(collector: Collector, since: float) -> list[Event]:
    out: list[Event] = []
    for m in collector.drain(0.2):
        if m.at < since:
            continue
        device, kind = parse_topic(collector.prefix, m.topic)
        if kind is MessageKind.EVENT or kind is MessageKind.BATCH:
            msg = parse(kind, m.payload, device_id=device)
            items = msg.items if isinstance(msg, Batch) else [msg]
            out += [it for it in items if isinstance(it, Event)]
    return out


def _status(collector: Collector, since: float, pred: Any, timeout: float) -> Status | None:
    def match(m: Any) -> bool:
        if m.at < since or not m.topic.endswith("cam-p/status"):
            return False
        st = parse(MessageKind.STATUS, m.payload)
        return isinstance(st, Status) and bool(pred(st))

    found = collector.wait_for(match, timeout)
    if found is None:
        return None
    st = parse(MessageKind.STATUS, found.payload)
    return st if isinstance(st, Status) else None


def _detect_rate(runner: Any, seconds: float = 3.0) -> float:
    """Frames the camera ran its detector on per second, over ``seconds``."""
    start = runner.processed
    time.sleep(seconds)
    return float(runner.processed - start) / seconds


def test_a_pushed_config_changes_the_zones_of_a_running_edge_and_a_bad_one_is_refused(
    vtest_clip: Path, collector: Collector, rig: EdgeRig
) -> None:
    from edge.agent import EdgeAgent

    host, port, topic_prefix = rig.host, rig.port, rig.prefix
    cam = {"id": "cam-p", "stream": str(vtest_clip), "detect_fps": 5, **watching("sky", SKY)}
    base = edge_config(rig.folder, topic_prefix, host, port, [cam])
    cfg = parse_edge_config(base | {"status_interval_s": 0.5, "detector": {"name": "motion"}})
    settings = get_settings(mqtt_host=host, mqtt_port=port, topic_prefix=topic_prefix)
    agent = EdgeAgent(cfg)
    agent.start()
    try:
        assert _status(collector, 0, lambda s: s.state == "online", 30) is not None
        time.sleep(3)
        assert _events(collector, 0) == [], "people were seen in the sky"

        pushed_at = time.time()
        push_config(settings, config_message("cam-p", "v2", watching("road", ROAD)))
        applied = _status(collector, pushed_at, lambda s: s.config_version == "v2", 15)
        assert applied is not None and applied.config_error is None
        deadline = time.monotonic() + 20
        road: list[Event] = []
        while not road and time.monotonic() < deadline:
            road = [e for e in _events(collector, pushed_at) if e.zone == "road"]
        assert road, "no event in the pushed road zone"

        bad_at = time.time()
        nowhere = {"rules": [{"type": "intrusion", "zone": "nowhere"}]}
        push_config(settings, config_message("cam-p", "v3", nowhere))
        refused = _status(collector, bad_at, lambda s: s.config_error is not None, 15)
        assert refused is not None and refused.config_version == "v2"
        assert refused.config_error is not None
        assert "rules[0].zone 'nowhere' is not one of the zones" in refused.config_error
        assert refused.state == "online"
        assert [z.name for z in agent.cameras[0].cam.zones] == ["road"]

        # The detect rate and privacy are pushed too, over the running zones.
        runner = agent.cameras[0]
        assert runner.privacy.faces
        before = _detect_rate(runner)
        assert before >= 3.0, before
        fps_at = time.time()
        slower = {"detect_fps": 1, "privacy": {"blur_faces": False, "authorised_by": "test"}}
        push_config(settings, config_message("cam-p", "v4", slower))
        applied = _status(collector, fps_at, lambda s: s.config_version == "v4", 15)
        assert applied is not None and applied.config_error is None
        after = _detect_rate(runner)
        assert after <= 1.5, (before, after)
        assert (runner.privacy.faces, [z.name for z in runner.cam.zones]) == (False, ["road"])
    finally:
        agent.stop()
        # Retained messages outlive the test's prefix otherwise.
        import paho.mqtt.publish as publish

        publish.single(
            f"{topic_prefix}/v1/dev/cam-p/config", b"", retain=True, hostname=host, port=port
        )
