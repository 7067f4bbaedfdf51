"""What the box writes as evidence: blurred unless authorised otherwise, frame and crop."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import CameraConfig
from edge.snapshot import crop_box, write_crop

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
