"""Region detectors: how the motion crops of many cameras reach one fixed-size model.

YOLOX-Nano takes a 416x416 input whatever it is given, so one call costs the same
for a whole frame as for a 96-pixel crop: gating only pays if several crops share
a call. ``MosaicDetector`` packs the crops of whichever cameras are waiting, each
at the scale its full frame would have had (so objects look as big to the model
as without gating), onto one canvas, runs the model once, and hands every camera
the boxes that fell inside its tiles, in frame coordinates. A 768x576 frame at
that scale is 416x312, so a full-frame pass leaves a strip for other cameras'
crops. The pool of ``workers`` threads is the box's bound on detector calls.

``PerCropDetector`` is the plain path (one call per crop), for back-ends with no
fixed input size, such as the motion detector itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.types import Detections, Detector

Box = tuple[int, int, int, int]
GAP = 8  # grey pixels between tiles, so an object never spans two tiles
PAD = 114


class RegionDetector(Protocol):
    class_names: tuple[str, ...]

    def detect_regions(self, frame: npt.NDArray[np.uint8], crops: Sequence[Box]) -> Detections: ...


class PerCropDetector:
    def __init__(self, detector: Detector, pool: threading.Semaphore | None = None) -> None:
        self.detector = detector
        self.class_names = detector.class_names
        self.pool = pool
        self.calls = 0

    def detect_regions(self, frame: npt.NDArray[np.uint8], crops: Sequence[Box]) -> Detections:
        parts = []
        for x1, y1, x2, y2 in crops:
            with self.pool if self.pool is not None else nullcontext():
                found = self.detector.detect(np.ascontiguousarray(frame[y1:y2, x1:x2]))
            self.calls += 1
            parts.append(shift(found, x1, y1, 1.0))
        return concat(parts, self.class_names)


# --------------------------------------------------------------------------- pure parts


def shift(dets: Detections, x0: float, y0: float, scale: float) -> Detections:
    """Boxes found in a tile (at ``scale``) moved back to frame coordinates."""
    if len(dets.xyxy) == 0 or (x0 == 0 and y0 == 0 and scale == 1.0):
        return dets
    xyxy = dets.xyxy / np.float32(scale) + np.asarray([x0, y0, x0, y0], np.float32)
    return Detections(xyxy.astype(np.float32), dets.confidence, dets.class_id, dets.class_names)


def concat(parts: Sequence[Detections], class_names: tuple[str, ...]) -> Detections:
    parts = [p for p in parts if len(p.xyxy)]
    if not parts:
        return Detections.empty(class_names)
    if len(parts) == 1:
        return parts[0]
    return Detections(
        np.concatenate([p.xyxy for p in parts]).astype(np.float32),
        np.concatenate([p.confidence for p in parts]).astype(np.float32),
        np.concatenate([p.class_id for p in parts]).astype(np.int32),
        class_names,
    )


@dataclass
class Shelf:
    """Shelf packing on a ``size`` canvas: rows of tiles, left to right, top to bottom."""

    width: int
    height: int
    x: int = 0
    y: int = 0
    row_h: int = 0
    placed: list[Box] = field(default_factory=list)

    def _simulate(
        self, sizes: Sequence[tuple[int, int]]
    ) -> tuple[list[tuple[int, int]], int, int, int] | None:
        x, y, row_h = self.x, self.y, self.row_h
        out = []
        for w, h in sizes:
            if w > self.width or h > self.height:
                return None
            if x + w > self.width:
                x, y, row_h = 0, y + row_h + GAP, 0
            if y + h > self.height:
                return None
            out.append((x, y))
            x += w + GAP
            row_h = max(row_h, h)
        return out, x, y, row_h

    def fits(self, sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]] | None:
        """Positions for all ``sizes`` (w, h) on what is left, or None; places nothing."""
        sim = self._simulate(sizes)
        return None if sim is None else sim[0]

    def place(self, sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]] | None:
        """Like ``fits``, and takes the space."""
        sim = self._simulate(sizes)
        if sim is None:
            return None
        pos, self.x, self.y, self.row_h = sim
        for (x, y), (w, h) in zip(pos, sizes, strict=True):
            self.placed.append((x, y, x + w, y + h))
        return pos


def tile_sizes(crops: Sequence[Box], scale: float) -> list[tuple[int, int]]:
    return [
        (max(1, round((c[2] - c[0]) * scale)), max(1, round((c[3] - c[1]) * scale))) for c in crops
    ]


def owner(box: Sequence[float], tiles: Sequence[Box]) -> int | None:
    """Index of the tile holding a box's centre, or None (a box in the padding)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for i, (x1, y1, x2, y2) in enumerate(tiles):
        if x1 <= cx < x2 and y1 <= cy < y2:
            return i
    return None


# --------------------------------------------------------------------------- the mosaic


@dataclass(eq=False)  # identity: a request holds a frame, and arrays do not compare
class _Request:
    frame: npt.NDArray[np.uint8]
    crops: list[Box]
    scale: float
    sizes: list[tuple[int, int]]
    done: threading.Event = field(default_factory=threading.Event)
    result: Detections | None = None
    error: BaseException | None = None


class MosaicDetector:
    """Shared by every camera of a box; ``detect_regions`` blocks until its boxes are ready."""

    def __init__(
        self, detector: Detector, *, canvas: int = 416, workers: int = 2, linger_s: float = 0.04
    ) -> None:
        self.detector = detector
        #: How long a worker with room left on its canvas waits for more crops: a few
        #: ms of latency against a 200 ms detect period buys fewer model calls.
        self.linger_s = linger_s
        self.class_names = detector.class_names
        self.canvas = canvas
        self._queue: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._gathering = False
        self.calls = 0
        self.tiles = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"mosaic-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(5)

    def detect_regions(self, frame: npt.NDArray[np.uint8], crops: Sequence[Box]) -> Detections:
        if not crops:
            return Detections.empty(self.class_names)
        h, w = frame.shape[:2]
        scale = min(self.canvas / w, self.canvas / h)
        sizes = tile_sizes(crops, scale)
        if Shelf(self.canvas, self.canvas).fits(sizes) is None:
            # Too many crops for one canvas: the whole frame is cheaper.
            crops = [(0, 0, w, h)]
            sizes = tile_sizes(crops, scale)
        req = _Request(frame, list(crops), scale, sizes)
        with self._cond:
            self._queue.append(req)
            self._cond.notify()
        req.done.wait()
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def _work(self) -> None:
        while True:
            with self._cond:
                # One worker gathers at a time, so a canvas fills up instead of two
                # workers each taking half of what arrives.
                while (not self._queue or self._gathering) and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                self._gathering = True
                shelf = Shelf(self.canvas, self.canvas)
                batch: list[tuple[_Request, list[tuple[int, int]]]] = []
                deadline = time.monotonic() + self.linger_s
                while True:
                    # Oldest first; anything that fits rides along, the rest waits its turn.
                    for req in list(self._queue):
                        pos = shelf.place(req.sizes)
                        if pos is not None:
                            batch.append((req, pos))
                            self._queue.remove(req)
                    left = deadline - time.monotonic()
                    if left <= 0 or self._queue or self._stop:
                        break  # out of time, or what waits does not fit
                    self._cond.wait(left)
                self._gathering = False
                self._cond.notify_all()
            self._run(batch)

    def _run(self, batch: list[tuple[_Request, list[tuple[int, int]]]]) -> None:
        import cv2

        canvas = np.full((self.canvas, self.canvas, 3), PAD, np.uint8)
        tiles: list[tuple[int, int, Box, Box]] = []  # (request, crop) index, tile, crop
        for r, (req, pos) in enumerate(batch):
            for c, ((x, y), (tw, th), crop) in enumerate(
                zip(pos, req.sizes, req.crops, strict=True)
            ):
                x1, y1, x2, y2 = crop
                canvas[y : y + th, x : x + tw] = cv2.resize(
                    req.frame[y1:y2, x1:x2], (tw, th), interpolation=cv2.INTER_LINEAR
                )
                tiles.append((r, c, (x, y, x + tw, y + th), crop))
        try:
            found = self.detector.detect(canvas)
        except BaseException as exc:
            for req, _ in batch:
                req.error = exc
                req.done.set()
            return
        self.calls += 1
        self.tiles += len(tiles)
        picks: list[list[int]] = [[] for _ in tiles]
        for i, box in enumerate(found.xyxy):
            k = owner(box, [t[2] for t in tiles])
            if k is not None:
                picks[k].append(i)
        parts: list[list[Detections]] = [[] for _ in batch]
        for k, (r, _c, tile, crop) in enumerate(tiles):
            if not picks[k]:
                continue
            idx = np.asarray(picks[k])
            local = found.xyxy[idx] - np.asarray([tile[0], tile[1], tile[0], tile[1]], np.float32)
            tw, th = tile[2] - tile[0], tile[3] - tile[1]
            local = np.clip(local, 0, np.asarray([tw, th, tw, th], np.float32))
            sub = Detections(
                local.astype(np.float32),
                found.confidence[idx],
                found.class_id[idx],
                found.class_names,
            )
            parts[r].append(shift(sub, crop[0], crop[1], batch[r][0].scale))
        for r, (req, _) in enumerate(batch):
            req.result = concat(parts[r], self.class_names)
            req.done.set()
