"""What the box writes as evidence: blurred unless authorised otherwise, frame and crop."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from edge.camera import EventIds
from edge.config import CameraConfig
from edge.snapshot import EvidenceWriter, crop_box, write_crop
from edge.snapshot_queue import PendingSnapshot, SnapshotQueue

CAMERA = {"id": "cam-a", "stream": "file:///dev/null"}


def test_blurring_is_on_unless_an_authorisation_is_named() -> None:
    cam = CameraConfig.model_validate(CAMERA)
    assert cam.privacy.policy().faces and cam.privacy.policy().plates
    with pytest.raises(ValidationError, match=r"needs privacy\.authorised_by"):
        CameraConfig.model_validate({**CAMERA, "privacy": {"blur_faces": False}})
    off = CameraConfig.model_validate(
        {**CAMERA, "privacy": {"blur_plates": False, "authorised_by": "公安交管 2026-17"}}
    )
    assert off.privacy.policy().faces and not off.privacy.policy().plates


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((100.0, 100.0, 200.0, 300.0), (85, 70, 215, 330)),
        ((0.0, 0.0, 50.0, 50.0), (0, 0, 58, 58)),  # clipped at the frame's edge
        ((630.0, 470.0, 640.0, 480.0), (628, 468, 640, 480)),
        ((700.0, 500.0, 710.0, 510.0), None),  # outside the frame
    ],
)
def test_the_crop_is_the_object_with_a_margin_inside_the_frame(
    box: tuple[float, float, float, float], expected: tuple[int, int, int, int] | None
) -> None:
    assert crop_box(box, 640, 480) == expected


def test_the_crop_file_is_what_its_hash_says(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    snap = write_crop(
        tmp_path,
        "cam-a",
        image,
        (100.0, 100.0, 200.0, 300.0),
        event_id=uuid.uuid4(),
        seq=1,
        ts=datetime.now(UTC),
    )
    assert snap is not None and (snap.width, snap.height) == (130, 260)
    assert snap.ref.endswith("-crop.jpg")
    data = (tmp_path / snap.ref).read_bytes()
    assert hashlib.sha256(data).hexdigest() == snap.sha256


def test_a_line_crossings_start_and_end_share_one_pair_of_files_that_the_ack_deletes(
    tmp_path: Path,
) -> None:
    from detectors.rules.line import LineCrossing
    from detectors.tracking import Track
    from gridwatch.camera_rules import LineRule
    from gridwatch.settings import get_settings

    rule = LineRule.model_validate({"line": [[200, 0], [200, 400]]})
    crossing = LineCrossing(rule, "line0", get_settings().zone)
    image = np.random.default_rng(1).integers(0, 255, (400, 640, 3), dtype=np.uint8)
    writer, ids = EvidenceWriter(tmp_path, "cam-a"), EventIds()
    queue = SnapshotQueue(tmp_path / "queue.sqlite3", synchronous="OFF")
    t0 = datetime.now(UTC)
    shas = []
    for i, x in enumerate((150.0, 180.0, 220.0, 250.0)):
        box = (x - 20, 120.0, x + 20, 200.0)
        ts = t0 + timedelta(seconds=0.2 * i)
        for hit in crossing.step(ts, [Track(1, "person", 0.9, box, t0, ts, 0.9)]):
            ev = writer.write(image, shot=i, box=hit.box, event_id=ids.for_hit(hit), ts=hit.ts)
            assert ev.crop is not None
            for snap, role in ((ev.frame, "frame"), (ev.crop, "crop")):
                queue.add(
                    PendingSnapshot(snap.sha256, "cam-a", tmp_path / snap.ref, ts, None, role, None)
                )
                shas.append((hit.phase, ev.fresh, snap.sha256))
    assert [(p, f) for p, f, _ in shas] == [("start", True)] * 2 + [("end", False)] * 2
    assert {s for *_, s in shas[:2]} == {s for *_, s in shas[2:]}
    jpegs = sorted(p.name for p in tmp_path.rglob("*.jpg"))
    assert len(jpegs) == 2, jpegs
    # The gateway acknowledges each hash it holds: nothing is left behind.
    queue.forget("cam-a", {s for *_, s in shas})
    assert list(tmp_path.rglob("*.jpg")) == []
    queue.close()


def test_another_box_on_the_same_frame_is_its_own_evidence(tmp_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    writer = EvidenceWriter(tmp_path, "cam-a")
    now = datetime.now(UTC)
    a = writer.write(image, shot=7, box=(10.0, 10.0, 90.0, 90.0), event_id=uuid.uuid4(), ts=now)
    b = writer.write(image, shot=7, box=(200.0, 10.0, 290.0, 90.0), event_id=uuid.uuid4(), ts=now)
    assert a.fresh and b.fresh and a.frame.sha256 != b.frame.sha256
    assert len(list(tmp_path.rglob("*.jpg"))) == 4
