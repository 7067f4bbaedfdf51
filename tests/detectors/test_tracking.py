"""ByteTrack through ``ObjectTracker`` and the engine, on synthetic detections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from detectors.engine import build_camera_rules
from detectors.tracking import ObjectTracker
from detectors.types import Detections
from gridwatch.camera_rules import CameraRulesConfig

NAMES = ("person", "car", "truck")
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def dets(*boxes: tuple[float, float, float, float, int, float]) -> Detections:
    if not boxes:
        return Detections.empty(NAMES)
    arr = np.array(boxes, np.float64)
    return Detections(
        arr[:, :4].astype(np.float32),
        arr[:, 5].astype(np.float32),
        arr[:, 4].astype(np.int32),
        NAMES,
    )


def at(i: int) -> datetime:
    return T0 + timedelta(seconds=i / 10)


def test_ids_stay_with_objects_and_dwell_grows() -> None:
    tr = ObjectTracker(frame_rate=10)
    ids: list[tuple[int, int]] = []
    for i in range(30):
        out = tr.update(
            at(i), dets((10 + 3 * i, 100, 50 + 3 * i, 200, 0, 0.9), (400, 300, 520, 380, 1, 0.8))
        )
        by_cls = {t.cls: t for t in out}
        ids.append((by_cls["person"].track_id, by_cls["car"].track_id))
    assert len(set(ids)) == 1 and ids[0][0] != ids[0][1]
    person, car = by_cls["person"], by_cls["car"]
    assert person.first_seen == at(0) and person.dwell_s(at(29)) == 2.9
    # The walking person keeps moving; the car has stood still all along.
    assert person.still_s(at(29)) < 1.0
    assert car.still_since == at(0)


def test_short_miss_keeps_the_id() -> None:
    tr = ObjectTracker(frame_rate=10, lost_s=2.0)
    box = (100, 100, 140, 200, 0, 0.9)
    first = [tr.update(at(i), dets(box)) for i in range(5)]
    for i in range(5, 10):
        tr.update(at(i), dets())
    again = tr.update(at(10), dets(box))
    assert again[0].track_id == first[0][0].track_id
    assert again[0].first_seen == at(0)


def test_class_is_the_majority_vote() -> None:
    tr = ObjectTracker(frame_rate=10)
    for i in range(10):
        out = tr.update(at(i), dets((300, 300, 420, 380, 1 if i % 3 else 2, 0.8)))
    assert out[0].cls == "car"


def test_engine_runs_tracker_and_rules_end_to_end() -> None:
    cfg = CameraRulesConfig.model_validate(
        {
            "zones": [{"name": "gate", "polygon": [[100, 0], [300, 0], [300, 400], [100, 400]]}],
            "rules": [{"type": "intrusion", "zone": "gate"}],
        }
    )
    engine = build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))
    hits = []
    for i in range(100):
        x = 4.0 * i
        hits += engine.step(at(i), None, dets((x, 100, x + 30, 250, 0, 0.85)))
    hits += engine.flush(at(100))
    assert [h.phase for h in hits] == ["start", "end"]
    assert hits[0].key == hits[1].key and hits[0].track_id is not None
    assert hits[1].start is not None and hits[1].end is not None
    # Inside while the bottom centre x + 15 is within 100..300.
    assert abs((hits[1].end - hits[1].start).total_seconds() - 5.0) <= 0.3


def test_low_confidence_person_is_not_an_intruder() -> None:
    cfg = CameraRulesConfig.model_validate({"rules": [{"type": "intrusion"}]})
    engine = build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))
    hits = []
    for i in range(30):
        hits += engine.step(at(i), None, dets((100, 100, 140, 200, 0, 0.3)))
    assert hits == []


def test_one_object_seen_as_two_classes_is_one_track() -> None:
    tr = ObjectTracker(frame_rate=10)
    for i in range(5):
        out = tr.update(at(i), dets((600, 40, 720, 100, 1, 0.7), (602, 41, 721, 100, 2, 0.6)))
    assert len(out) == 1 and out[0].cls == "car"


def test_two_objects_side_by_side_stay_two_tracks() -> None:
    tr = ObjectTracker(frame_rate=10)
    for i in range(5):
        out = tr.update(at(i), dets((100, 100, 140, 200, 0, 0.9), (135, 100, 175, 200, 0, 0.8)))
    assert len(out) == 2
