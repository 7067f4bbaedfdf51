"""The mosaic: crops of several cameras share one detector call and come back in place."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest

from detectors.types import Detections
from edge.mosaic import GAP, MosaicDetector, Shelf, owner


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([(416, 312)], [(0, 0)]),
        # A full 768x576 frame at 416 scale leaves a strip below for small crops.
        ([(416, 312), (96, 96)], [(0, 0), (0, 312 + GAP)]),
        ([(200, 100), (200, 100), (200, 100)], [(0, 0), (200 + GAP, 0), (0, 100 + GAP)]),
        ([(416, 312), (90, 90), (90, 90)], [(0, 0), (0, 320), (98, 320)]),
        ([(416, 312), (100, 100)], None),  # 320 + 100 rows do not fit in 416
        ([(500, 10)], None),  # wider than the canvas
        ([(416, 312), (96, 200)], None),  # no room left below
    ],
)
def test_shelf_packing(
    sizes: list[tuple[int, int]], expected: list[tuple[int, int]] | None
) -> None:
    assert Shelf(416, 416).place(sizes) == expected


def test_a_box_belongs_to_the_tile_holding_its_centre() -> None:
    tiles = [(0, 0, 100, 100), (108, 0, 208, 100)]
    assert owner((100, 10, 130, 20), tiles) == 1
    assert owner((10, 10, 20, 20), tiles) == 0
    assert owner((300, 300, 310, 310), tiles) is None


class Blobs:
    """Finds each bright square on what it is shown; counts calls."""

    class_names: tuple[str, ...] = ("person",)

    def __init__(self) -> None:
        self.calls = 0
        self.barrier = threading.Event()

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        import cv2

        self.calls += 1
        if self.calls == 1:
            self.barrier.wait(5)  # a busy detector, while two cameras queue behind it
        mask = (frame_bgr[..., 0] >= 200).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _a in stats[1:n]]
        if not boxes:
            return Detections.empty(self.class_names)
        return Detections(
            np.asarray(boxes, np.float32),
            np.full(len(boxes), 0.9, np.float32),
            np.zeros(len(boxes), np.int32),
            self.class_names,
        )


def test_two_cameras_share_one_call_and_each_gets_its_own_box_back() -> None:
    inner = Blobs()
    mosaic = MosaicDetector(inner, canvas=416, workers=1)
    frames = []
    for x in (100, 500):
        f = np.zeros((576, 768, 3), np.uint8)
        f[200:280, x : x + 40] = 255
        frames.append(f)
    crops = [[(60, 150, 200, 330)], [(460, 150, 600, 330)]]
    out: list[Detections | None] = [None, None, None]
    frames.append(np.zeros((576, 768, 3), np.uint8))
    crops.append([(0, 0, 768, 576)])

    def run(i: int) -> None:
        out[i] = mosaic.detect_regions(frames[i], crops[i])

    busy = threading.Thread(target=run, args=(2,))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    try:
        busy.start()
        while inner.calls == 0:
            busy.join(0.01)
        for t in threads:
            t.start()
        while mosaic.queue_depth() < 2:
            busy.join(0.01)
        inner.barrier.set()
        for t in [busy, *threads]:
            t.join(10)
    finally:
        mosaic.close()
    # One call for the busy frame, then one call for both cameras' crops.
    assert inner.calls == 2
    for i, x in enumerate((100, 500)):
        got = out[i]
        assert got is not None and len(got.xyxy) == 1
        # Back in frame pixels, to within the rounding of the 416/768 scale.
        assert np.allclose(got.xyxy[0], [x, 200, x + 40, 280], atol=3)
