"""Object masks and filters: a masked class is never counted in its polygon, and only there;
filters bound box area and shape per camera or zone, in pixels or metres."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detectors.engine import build_camera_rules
from detectors.objects import ObjectScreen, metres_per_pixel
from detectors.types import Detections, RuleHit
from gridwatch.camera_objects import ObjectFilter
from gridwatch.camera_rules import CameraRulesConfig
from gridwatch.homography import Homography
from tests.test_config_check import _check_in

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
FPS = 10
NAMES = ("person", "car")
FRAME = {"name": "all", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]]}
STREET = {"name": "street", "polygon": [[0, 400], [768, 400], [768, 576], [0, 576]]}
# The sign post's corner: x 250..400, y 150..350.
MASK = {"classes": ["person"], "polygon": [[250, 150], [400, 150], [400, 350], [250, 350]]}

Obj = tuple[str, tuple[float, float, float, float]]


def _play(objs: list[Obj], seconds: float = 5, **cfg: Any) -> list[RuleHit]:
    """The same objects, standing still, for ``seconds``; one intrusion rule per object.
    Confirmation is off (still persons would wait to move): this is about masks and filters."""
    objects = {"confirm": {"enabled": False}, **cfg.pop("objects", {})}
    config = CameraRulesConfig.model_validate(
        {
            "zones": [FRAME, STREET],
            "rules": [{"type": "intrusion", "zone": "all", "classes": ["person", "car"]}],
            "frame_rate": FPS,
            "objects": objects,
            **cfg,
        }
    )
    engine = build_camera_rules(config, TZ)
    dets = Detections(
        np.asarray([b for _, b in objs], np.float32),
        np.full(len(objs), 0.9, np.float32),
        np.asarray([NAMES.index(c) for c, _ in objs], np.int32),
        NAMES,
    )
    hits: list[RuleHit] = []
    n = int(seconds * FPS)
    for i in range(n):
        hits += engine.step(T0 + timedelta(seconds=i / FPS), None, dets)
    return [h for h in hits + engine.flush(T0 + timedelta(seconds=n / FPS)) if h.phase == "start"]


def _boxes(hits: list[RuleHit]) -> set[tuple[str | None, int]]:
    return {(h.cls, round(h.box[0])) for h in hits if h.box is not None}


IN_MASK = (300.0, 200.0, 340.0, 300.0)  # bottom centre (320, 300): inside
BESIDE = (500.0, 200.0, 540.0, 300.0)  # bottom centre (520, 300): outside
CAR_IN_MASK = (260.0, 240.0, 390.0, 320.0)  # bottom centre (325, 320): inside


def test_a_mask_drops_its_class_inside_its_polygon_and_nowhere_else() -> None:
    objs: list[Obj] = [("person", IN_MASK), ("person", BESIDE), ("car", CAR_IN_MASK)]
    unmasked = _boxes(_play(objs))
    assert unmasked == {("person", 300), ("person", 500), ("car", 260)}
    masked = _boxes(_play(objs, objects={"masks": [MASK]}))
    # The person inside is gone; the person beside it and the car inside stay.
    assert masked == {("person", 500), ("car", 260)}


def test_a_mask_counts_the_bottom_centre_not_the_box() -> None:
    # Head inside the mask, feet below it: counted.
    assert _boxes(_play([("person", (300.0, 300.0, 340.0, 400.0))], objects={"masks": [MASK]}))


def test_a_pixel_area_filter_drops_small_boxes() -> None:
    small, big = (100.0, 100.0, 110.0, 120.0), (600.0, 100.0, 640.0, 200.0)
    hits = _play(
        [("person", small), ("person", big)],
        objects={"filters": [{"classes": ["person"], "min_area": 1000}]},
    )
    assert _boxes(hits) == {("person", 600)}


def test_a_zone_filter_applies_to_that_zones_rules_only() -> None:
    wide = (100.0, 450.0, 300.0, 500.0)  # 200 x 50: ratio 4, in the street
    cfg: dict[str, Any] = {
        "rules": [
            {"type": "intrusion", "zone": "all"},
            {"type": "intrusion", "zone": "street"},
        ],
        "objects": {"filters": [{"classes": ["person"], "zone": "street", "max_ratio": 1.5}]},
    }
    hits = _play([("person", wide)], **cfg)
    assert [h.zone for h in hits] == ["all"]


def _homography() -> Homography:
    # A top-down view: 10 px per metre east and south of a point near Putian.
    lon0, lat0 = 119.0, 25.4
    m_lon = 1 / (111_320 * np.cos(np.radians(lat0)))
    m_lat = 1 / 110_540
    px = [(0, 0), (1000, 0), (1000, 1000), (0, 1000)]
    ll = [(lon0 + x / 10 * m_lon, lat0 - y / 10 * m_lat) for x, y in px]
    return Homography.from_points(px, ll)


def test_filters_in_metres_use_the_homography() -> None:
    h = _homography()
    assert metres_per_pixel(h, (100, 100, 140, 200)) == pytest.approx(0.1, rel=0.01)
    filt = ObjectFilter.model_validate({"classes": ["person"], "unit": "m", "min_area": 0.3})
    screen = ObjectScreen(filters=[filt], homography=h)
    assert screen.admits("person", (100, 100, 140, 200))  # 4 m x 10 m
    assert not screen.admits("person", (100, 100, 103, 108))  # 0.3 m x 0.8 m = 0.24 m2
    assert screen.admits("car", (100, 100, 103, 108))  # another class


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ({"masks": [{"classes": ["person"], "polygon": [[0, 0], [5, 5], [9, 9]]}]}, "no area"),
        ({"masks": [{"classes": [], "polygon": [[0, 0], [5, 0], [5, 5]]}]}, "at least 1"),
        ({"masks": [{"classes": ["person"], "polygon": [[-1, 0], [5, 0], [5, 5]]}]}, "negative"),
        ({"filters": [{"classes": ["person"]}]}, "at least one of"),
        ({"filters": [{"classes": ["person"], "min_area": 9, "max_area": 3}]}, "above max_area"),
        ({"filters": [{"classes": ["person"], "zone": "yard", "min_area": 9}]}, "'yard'"),
        ({"filters": [{"classes": ["person"], "unit": "m", "min_area": 1}]}, "no homography"),
        ({"filters": [{"classes": ["person"], "unit": "ft", "min_area": 1}]}, "'px' or 'm'"),
        ({"mask": []}, "mask"),
    ],
)
def test_bad_masks_and_filters_are_refused(objects: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CameraRulesConfig.model_validate({"zones": [FRAME], "objects": objects})


def test_metres_are_fine_with_a_homography() -> None:
    filt = {"classes": ["person"], "unit": "m", "min_area": 1}
    CameraRulesConfig.model_validate({"objects": {"filters": [filt]}, "has_homography": True})


CONFIG = Path(__file__).resolve().parents[2] / "config"
CAMERA_1 = "  detect_fps: 5.0\n  maintainer: P01349\n"


def _check_with(tmp_path: Path, objects_yaml: str) -> subprocess.CompletedProcess[str]:
    shutil.copytree(CONFIG, tmp_path / "config")
    devices = tmp_path / "config" / "devices.yaml"
    text = devices.read_text(encoding="utf-8")
    assert CAMERA_1 in text
    devices.write_text(text.replace(CAMERA_1, CAMERA_1 + objects_yaml, 1), encoding="utf-8")
    return _check_in(tmp_path)


def test_config_check_takes_a_cameras_mask_and_metric_filter(tmp_path: Path) -> None:
    proc = _check_with(
        tmp_path,
        "  objects:\n"
        "    masks: [{classes: [person], polygon: [[250, 150], [400, 150], [400, 350]]}]\n"
        "    filters: [{classes: [person], unit: m, min_area: 0.2, max_ratio: 1.5}]\n",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_config_check_names_a_mask_drawn_on_a_line(tmp_path: Path) -> None:
    proc = _check_with(
        tmp_path,
        "  objects:\n    masks: [{classes: [person], polygon: [[0, 0], [5, 5], [9, 9]]}]\n",
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if "encloses no area" in ln]
    assert len(lines) == 1, proc.stdout
    assert lines[0].startswith("config/devices.yaml: ") and "objects.masks" in lines[0]
