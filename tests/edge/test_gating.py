"""Motion gating: which crops the detector sees, and boxes mapped back to the frame."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detectors.types import Detections
from edge.gating import GateConfig, GatedDetector, grow, merge, regions
from edge.mosaic import PerCropDetector, shift

W, H = 768, 576
CFG = GateConfig()


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([], []),
        ([(0, 0, 10, 10), (20, 20, 30, 30)], [(0, 0, 10, 10), (20, 20, 30, 30)]),
        # Overlapping or touching boxes become their union, chains included.
        ([(0, 0, 10, 10), (10, 0, 20, 10)], [(0, 0, 20, 10)]),
        ([(0, 0, 10, 10), (50, 0, 60, 10), (5, 5, 55, 8)], [(0, 0, 60, 10)]),
    ],
)
def test_touching_regions_merge(
    boxes: list[tuple[int, int, int, int]], expected: list[tuple[int, int, int, int]]
) -> None:
    assert merge(boxes) == expected


def test_a_small_motion_box_grows_to_the_minimum_and_stays_in_the_frame() -> None:
    x1, y1, x2, y2 = grow((760, 570, 766, 575), W, H, CFG)
    assert (x2 - x1, y2 - y1) == (CFG.min_size, CFG.min_size)
    assert x1 >= 0 and x2 <= W and y1 >= 0 and y2 <= H
    # The grown box still holds the moving blob.
    assert x1 <= 760 and x2 >= 766 and y1 <= 570 and y2 >= 575


@pytest.mark.parametrize(
    ("motion", "full", "expected"),
    [
        ([], False, []),  # nothing moved: the detector is not called
        ([], True, [(0, 0, W, H)]),  # the periodic full pass
        ([(100, 100, 150, 200)], False, [(77, 84, 173, 216)]),  # margin 16, widened to 96
        # Crops covering most of the frame: one full-frame call instead.
        ([(0, 0, 700, 500)], False, [(0, 0, W, H)]),
    ],
)
def test_regions(
    motion: list[tuple[int, int, int, int]], full: bool, expected: list[tuple[int, int, int, int]]
) -> None:
    arr = np.asarray(motion, np.float32).reshape(-1, 4)
    assert regions(arr, W, H, CFG, full=full) == expected


def test_boxes_found_in_a_crop_are_moved_back() -> None:
    d = Detections(
        np.asarray([[1, 2, 11, 12]], np.float32),
        np.asarray([0.9], np.float32),
        np.asarray([0], np.int32),
        ("person",),
    )
    assert shift(d, 100, 50, 1.0).xyxy.tolist() == [[101, 52, 111, 62]]


class Recorder:
    """A detector that reports one box around the brightest pixel of what it is shown."""

    class_names: tuple[str, ...] = ("person",)

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        self.shapes.append(frame_bgr.shape[:2])
        gray = frame_bgr[..., 0]
        if gray.max() < 200:
            return Detections.empty(self.class_names)
        ys, xs = np.nonzero(gray >= 200)
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return Detections(
            np.asarray(box, np.float32),
            np.asarray([0.9], np.float32),
            np.asarray([0], np.int32),
            self.class_names,
        )


def test_gated_detector_sees_only_what_moved_and_finds_it_where_it_is() -> None:
    t = [0.0]
    inner = Recorder()
    gated = GatedDetector(PerCropDetector(inner), GateConfig(full_every_s=2.0), clock=lambda: t[0])
    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    found = None
    for i in range(30):
        t[0] = i * 0.2
        frame = background.copy()
        x = 100 + 10 * i
        frame[300:360, x : x + 30] = 255  # a bright square walking right
        found = gated.detect(frame)
    assert found is not None and len(found.xyxy) == 1
    assert found.xyxy[0].tolist() == [390.0, 300.0, 420.0, 360.0]
    # Full passes every 2 s (t = 0, 2, 4 s); crops in between, far smaller than the frame.
    assert gated.full_passes == 3
    crops = [s for s in inner.shapes if s != (H, W)]
    assert crops and max(h * w for h, w in crops) < 0.2 * H * W
    assert gated.pixels < 0.4 * 30 * H * W
