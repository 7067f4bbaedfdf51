"""Camera tamper on synthetic frames: normal → black → normal, normal → blurred, normal → moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from detectors.engine import build_camera_rules
from detectors.types import Detections, RuleHit
from gridwatch.camera_rules import CameraRulesConfig

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
Frame = npt.NDArray[np.uint8]


def scene(seed: int = 1, w: int = 800, h: int = 600) -> Frame:
    """A textured street-like scene larger than the frames cut from it."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 110, np.uint8)
    for _ in range(120):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(
            img, (x, y), (x + int(rng.integers(8, 80)), y + int(rng.integers(8, 80))), colour, -1
        )
    return img


BIG = scene()


def view(dx: int = 0, dy: int = 0) -> Frame:
    """The camera's 640x480 view; a move shifts the window over the scene."""
    return np.ascontiguousarray(BIG[60 + dy : 540 + dy, 80 + dx : 720 + dx])


def walker(frame: Frame, i: int) -> Frame:
    """A person-sized blob walking across, so normal frames are not all identical."""
    out = frame.copy()
    x = 20 + 12 * i % 560
    cv2.rectangle(out, (x, 250), (x + 40, 370), (40, 40, 200), -1)
    return out


NORMAL = view()
BLACK = np.full_like(NORMAL, 3)
COVERED = np.full_like(NORMAL, 140)  # a hand or a bag: bright but flat
BLURRED = cv2.GaussianBlur(NORMAL, (0, 0), 6)
MOVED = view(dx=60, dy=25)


def run(frames: list[Frame]) -> list[tuple[int, RuleHit]]:
    cfg = CameraRulesConfig.model_validate({"rules": [{"type": "tamper", "cooldown_s": 0}]})
    engine = build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))
    out: list[tuple[int, RuleHit]] = []
    for i, f in enumerate(frames):
        ts = T0 + timedelta(seconds=i)
        out += [(i, h) for h in engine.step(ts, walker(f, i), Detections.empty())]
    return out


def kinds(hits: list[tuple[int, RuleHit]]) -> list[tuple[int, str, str]]:
    return [(i, h.key.split("/")[1], h.phase) for i, h in hits]


# One frame a second; learning takes the first 10 normal frames; min_on and min_off 2 s.
@pytest.mark.parametrize(
    ("name", "frames", "expected"),
    [
        ("all normal", [NORMAL] * 30, []),
        (
            "black then normal",
            [NORMAL] * 12 + [BLACK] * 6 + [NORMAL] * 6,
            [(14, "covered", "start"), (19, "covered", "end")],
        ),
        (
            "covered flat",
            [NORMAL] * 12 + [COVERED] * 6 + [NORMAL] * 6,
            [(14, "covered", "start"), (19, "covered", "end")],
        ),
        ("one black frame is a glitch", [NORMAL] * 12 + [BLACK] + [NORMAL] * 10, []),
        (
            "blurred",
            [NORMAL] * 12 + [BLURRED] * 8 + [NORMAL] * 6,
            [(14, "defocused", "start"), (21, "defocused", "end")],
        ),
        ("moved and stays", [NORMAL] * 12 + [MOVED] * 8, [(14, "moved", "start")]),
        (
            "moved back",
            [NORMAL] * 12 + [MOVED] * 6 + [NORMAL] * 6,
            [(14, "moved", "start"), (19, "moved", "end")],
        ),
        # Black from the first frame: learning waits, and covered still fires.
        (
            "black at start",
            [BLACK] * 5 + [NORMAL] * 15,
            [(2, "covered", "start"), (6, "covered", "end")],
        ),
    ],
)
def test_tamper_sequences(
    name: str, frames: list[Frame], expected: list[tuple[int, str, str]]
) -> None:
    hits = run(frames)
    assert kinds(hits) == expected, name
    for _, h in hits:
        assert h.category == "camera_tamper" and h.rule == "tamper" and h.severity == 1


def test_no_frames_no_tamper() -> None:
    cfg = CameraRulesConfig.model_validate({"rules": [{"type": "tamper"}]})
    engine = build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))
    assert engine.step(T0, None, Detections.empty()) == []
