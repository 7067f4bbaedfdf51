"""Back-end options: a union discriminated on ``type``, checked before any model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detectors.backends import create_detector
from detectors.config import MotionConfig, YoloxOnnxConfig
from detectors.types import DetectorError
from edge.config import EdgeConfigError, parse_edge_config


def _edge(detector: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {
        "box_id": "edge-1",
        "snapshot_dir": str(tmp_path),
        "detector": detector,
        "cameras": [{"id": "cam-1", "stream": "asset://vtest.avi"}],
    }


def test_the_older_name_and_options_spelling_means_the_same_backend(tmp_path: Path) -> None:
    old = parse_edge_config(
        _edge({"name": "motion", "options": {"scale_width": 160}, "workers": 1}, tmp_path)
    )
    new = parse_edge_config(
        _edge({"backend": {"type": "motion", "scale_width": 160}, "workers": 1}, tmp_path)
    )
    assert old.detector == new.detector
    assert new.detector.backend == MotionConfig(scale_width=160)
    assert parse_edge_config(_edge({}, tmp_path)).detector.backend == YoloxOnnxConfig()


@pytest.mark.parametrize(
    ("detector", "needles"),
    [
        ({"backend": {"type": "motion", "conf": 0.3}}, ["detector.backend.motion.conf", "0.3"]),
        ({"options": {"conf": 2}}, ["detector.backend.yolox_onnx.conf", "= 2"]),
        ({"name": "yolov99"}, ["detector.backend", "yolov99"]),
        ({"name": "motion", "backend": {"type": "motion"}}, ["not both"]),
    ],
)
def test_a_bad_backend_option_fails_the_edge_config(
    tmp_path: Path, detector: dict[str, Any], needles: list[str]
) -> None:
    with pytest.raises(EdgeConfigError) as info:
        parse_edge_config(_edge(detector, tmp_path))
    for needle in needles:
        assert needle in str(info.value)


def test_create_detector_names_the_bad_option_and_its_value() -> None:
    with pytest.raises(DetectorError, match=r"scale_width: .*greater than or equal to 32.*10"):
        create_detector("motion", scale_width=10)
    with pytest.raises(DetectorError, match="not both"):
        create_detector("yolox_onnx", class_names=["a"], names_file="names.txt")


def test_create_detector_builds_the_configured_backend() -> None:
    det = create_detector("motion", scale_width=160)
    assert getattr(det, "scale_width", None) == 160
