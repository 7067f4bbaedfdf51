"""The edge agent end to end on real footage and the real broker, plus its pure parts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest

from detectors.types import RuleHit
from edge.camera import EventIds, hit_to_event
from edge.config import EdgeConfigError, load_edge_config, parse_edge_config
from edge.seq import SeqCounter
from edge.snapshot import write_snapshot
from gateway.contract import Batch, Event, MessageKind, Status, parse, parse_topic
from gridwatch.town.models import HomographyPoint, fit_homography
from tests.edge.conftest import Collector, EdgeRig, camera, write_edge_yaml

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _hit(phase: str, key: str = "intrusion0/road/t1", **kw: Any) -> RuleHit:
    return RuleHit(key=key, rule="intrusion", category="intrusion", phase=phase, ts=T0, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- pure parts


def test_one_situation_keeps_one_event_id() -> None:
    ids = EventIds()
    a = ids.for_hit(_hit("start"))
    other = ids.for_hit(_hit("start", key="intrusion0/road/t2"))
    assert ids.for_hit(_hit("update")) == a
    assert ids.for_hit(_hit("end")) == a
    assert other != a
    # After its end the same key is a new situation.
    assert ids.for_hit(_hit("start")) != a


def test_snapshot_comes_from_a_fresh_main_stream_frame_with_the_box_scaled() -> None:
    from edge.camera import pick_snapshot
    from edge.sources import Frame

    sub = Frame(10, 10, T0, np.zeros((360, 640, 3), np.uint8))
    main = Frame(50, 50, T0 + timedelta(seconds=0.3), np.zeros((1080, 1920, 3), np.uint8))
    shot, box = pick_snapshot(sub, main, (100.0, 50.0, 200.0, 150.0))
    assert shot is main and box == (300.0, 150.0, 600.0, 450.0)
    # A main stream that stalled (or none at all): the detected frame is the evidence.
    stale = Frame(5, 5, T0 - timedelta(seconds=3), main.image)
    shot, box = pick_snapshot(sub, stale, (1.0, 2.0, 3.0, 4.0))
    assert shot is sub and box == (1.0, 2.0, 3.0, 4.0)
    shot, box = pick_snapshot(sub, None, None)
    assert shot is sub and box is None


def test_hit_becomes_a_valid_contract_event() -> None:
    hit = _hit(
        "start",
        cls="person",
        score=0.87,
        track_id=3,
        zone="road",
        box=(10.04, 20.0, 30.0, 80.0),
        start=T0,
        summary="区域入侵",
    )
    eid = UUID(int=7)
    ev = hit_to_event(hit, device_id="cam-1", seq=4, event_id=eid, point=(119.0, 25.45))
    again = parse(MessageKind.EVENT, json.dumps(ev.model_dump(mode="json")).encode())
    assert isinstance(again, Event)
    assert (again.event_id, again.seq, again.cls, again.score) == (eid, 4, "person", 0.87)
    assert again.box == (10.0, 20.0, 30.0, 80.0)
    assert again.point is not None and (again.point.lon, again.point.lat) == (119.0, 25.45)


def test_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cam-1.seq"
    first = SeqCounter(path)
    assert [first.next(), first.next(), first.next()] == [0, 1, 2]
    second = SeqCounter(path)
    assert second.last == 2 and second.next() == 3


def test_homography_maps_reference_pixels_to_their_positions() -> None:
    pts = [
        HomographyPoint(px=(0, 576), lon=119.0, lat=25.45),
        HomographyPoint(px=(768, 576), lon=119.001, lat=25.45),
        HomographyPoint(px=(768, 150), lon=119.001, lat=25.451),
        HomographyPoint(px=(0, 150), lon=119.0, lat=25.451),
    ]
    h = fit_homography(pts)
    for p in pts:
        lon, lat = h.to_map(p.px)
        assert lon == pytest.approx(p.lon, abs=1e-7) and lat == pytest.approx(p.lat, abs=1e-7)
    lon, lat = h.to_map((384, 363))
    assert 119.0 < lon < 119.001 and 25.45 < lat < 25.451


def test_snapshot_hash_is_the_hash_of_the_file(tmp_path: Path) -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    snap = write_snapshot(
        tmp_path,
        "cam-1",
        img,
        event_id=UUID(int=1),
        seq=9,
        ts=T0,
        frame_index=42,
        box=(10, 10, 50, 90),
    )
    data = (tmp_path / snap.ref).read_bytes()
    assert data[:2] == b"\xff\xd8"  # JPEG
    assert snap.sha256 == hashlib.sha256(data).hexdigest()
    assert (snap.frame, snap.width, snap.height) == (42, 160, 120)
    assert snap.ref.startswith("cam-1/20261125/")


def test_config_errors_name_the_camera_the_field_and_the_value(tmp_path: Path) -> None:
    cams: list[dict[str, Any]] = [
        {"id": "cam-a", "stream": "rtsp://x/1"},
        {"id": "cam-b", "stream": "rtsp://x/2", "detect_fps": -1, "colour": "red"},
    ]
    path = write_edge_yaml(tmp_path, "p", "127.0.0.1", 1883, cams)
    with pytest.raises(EdgeConfigError) as info:
        load_edge_config(path)
    text = str(info.value)
    assert str(path) in text
    assert "cameras[1] (camera cam-b).detect_fps = -1" in text
    assert "cameras[1] (camera cam-b).colour = 'red'" in text
    with pytest.raises(EdgeConfigError, match=r"device ids \[.cam-a.\] are used more than once"):
        parse_edge_config({"box_id": "b", "snapshot_dir": "/tmp/x", "cameras": [cams[0], cams[0]]})


# --------------------------------------------------------------------------- on video


@pytest.mark.slow
def test_edge_command_publishes_events_with_snapshots_and_retained_status(
    tmp_path: Path, vtest_clip: Path, collector: Collector, rig: EdgeRig
) -> None:
    path = rig.config([camera("cam-a", str(vtest_clip))])
    started = datetime.now(UTC)
    proc = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "edge", "--config", str(path), "--duration", "6"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["cameras"]["cam-a"]["events"] >= 1

    msgs = collector.drain(timeout=1.0)
    events = []
    for m in msgs:
        device, kind = parse_topic(rig.prefix, m.topic)
        if kind is MessageKind.EVENT:
            ev = parse(kind, m.payload, device_id=device)
            assert isinstance(ev, Event)
            events.append(ev)
        elif kind is MessageKind.BATCH:
            # Items waiting together in the outbox travel as one batch.
            batch = parse(kind, m.payload, device_id=device)
            assert isinstance(batch, Batch)
            events.extend(it for it in batch.items if isinstance(it, Event))
    starts = [e for e in events if e.phase == "start"]
    assert starts, f"no event among {len(msgs)} messages"
    ev = starts[0]
    assert ev.device_id == "cam-a" and ev.rule == "intrusion" and ev.cls == "person"
    assert ev.score is not None and 0.4 <= ev.score <= 1
    assert ev.zone == "road" and ev.box is not None
    assert started - timedelta(seconds=1) <= ev.ts <= datetime.now(UTC)
    assert ev.point is not None and 119.0 <= ev.point.lon <= 119.001
    assert ev.snapshot is not None and ev.snapshot.width == 768
    jpeg = (tmp_path / "snaps" / ev.snapshot.ref).read_bytes()
    assert hashlib.sha256(jpeg).hexdigest() == ev.snapshot.sha256
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Each end reuses its start's event id.
    ends = {e.event_id for e in events if e.phase == "end"}
    assert ends <= {e.event_id for e in starts}

    statuses = [parse(MessageKind.STATUS, m.payload) for m in msgs if m.topic.endswith("/status")]
    online = [s for s in statuses if isinstance(s, Status) and s.state == "online"]
    assert online and online[-1].fps is not None and online[-1].fps > 0
    assert online[-1].last_frame_ts is not None and online[-1].sw_version

    # A subscriber that comes later still finds the status, retained: offline after a
    # clean stop, and it names the last event's sequence number.
    late = rig.subscribe()
    try:
        kept = late.wait_for(lambda m: m.topic.endswith("cam-a/status"), timeout=5)
    finally:
        late.close()
    assert kept is not None and kept.retain
    final = parse(MessageKind.STATUS, kept.payload)
    assert isinstance(final, Status) and final.state == "offline"
    assert final.seq == max(seqs)


@pytest.mark.slow
def test_bad_camera_url_is_named_and_the_other_camera_keeps_running(
    tmp_path: Path, vtest_clip: Path, collector: Collector, rig: EdgeRig
) -> None:
    from edge.agent import EdgeAgent

    cams = [camera("cam-good", str(vtest_clip)), camera("cam-bad", "file:///no/such/cam.avi")]
    cfg = load_edge_config(rig.config(cams))
    agent = EdgeAgent(cfg)
    assert set(agent.errors) == {"cam-bad"}
    assert "camera cam-bad: stream 'file:///no/such/cam.avi'" in agent.errors["cam-bad"]
    agent.start()
    try:
        got = collector.wait_for(lambda m: m.topic.endswith("cam-good/event"), timeout=30)
        bad = collector.wait_for(lambda m: m.topic.endswith("cam-bad/status"), timeout=10)
    finally:
        agent.stop()
    assert got is not None, "the good camera published no event"
    assert bad is not None
    status = parse(MessageKind.STATUS, bad.payload)
    assert isinstance(status, Status) and status.state == "offline"
    assert status.detail is not None and "cam-bad" in status.detail and "stream" in status.detail
    assert agent.summary()["cameras"]["cam-good"]["frames_detected"] > 0


CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def test_town_cameras_become_an_edge_config() -> None:
    from edge.config import config_from_town

    cfg = config_from_town(
        CONFIG_DIR, ["cam-demo-1", "cam-demo-2"], start_offsets={"cam-demo-2": 30.0}
    )
    assert cfg.box_id == "edge-cam-demo-1"
    one, two = cfg.cameras
    assert one.stream == "asset://vtest.avi" and one.zones and one.rules
    assert one.homography is not None and len(one.homography) >= 4
    assert (one.start_offset_s, two.start_offset_s) == (0.0, 30.0)
    assert one.rules_config().frame_rate == one.detect_fps
    with pytest.raises(EdgeConfigError, match=r"device 'cam-nope' is not in devices\.yaml"):
        config_from_town(CONFIG_DIR, ["cam-nope"])


def test_edge_command_reports_a_bad_config_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("box_id: b\nsnapshot_dir: /tmp/x\ncameras:\n- {id: cam-a, strem: rtsp://x}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "edge", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cameras[0] (camera cam-a).stream" in proc.stderr
    assert "cameras[0] (camera cam-a).strem = 'rtsp://x'" in proc.stderr


@pytest.mark.slow
def test_killed_edge_leaves_its_last_will_as_retained_offline_status(
    tmp_path: Path, vtest_clip: Path, collector: Collector, rig: EdgeRig
) -> None:
    path = rig.config([camera("cam-k", str(vtest_clip))])
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridwatch.cli", "edge", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def online(m: Any) -> bool:
            s = parse(MessageKind.STATUS, m.payload) if m.topic.endswith("/status") else None
            return isinstance(s, Status) and s.state == "online"

        assert collector.wait_for(online, timeout=60) is not None
    finally:
        proc.kill()
        proc.wait(10)

    def offline(m: Any) -> bool:
        s = parse(MessageKind.STATUS, m.payload) if m.topic.endswith("/status") else None
        return isinstance(s, Status) and s.state == "offline"

    will = collector.wait_for(offline, timeout=30)
    assert will is not None, "no last will after kill -9"
    status = parse(MessageKind.STATUS, will.payload)
    assert isinstance(status, Status) and status.detail == "connection lost (last will)"
    late = rig.subscribe()
    try:
        kept = late.wait_for(lambda m: m.topic.endswith("cam-k/status"), timeout=5)
    finally:
        late.close()
    assert kept is not None and kept.retain and kept.payload == will.payload
