"""Motion gating: run the object detector only where something moved, as Frigate does.

Per camera, MOG2 on a downscaled frame finds moving blobs; their boxes and the
boxes of objects found in the previous frame (moving or not), grown by a margin
and merged where they touch, are the crops the detector sees. Boxes
found in a crop are moved back to frame coordinates. Every ``full_every_s`` the
whole frame goes through the detector anyway, so an object that stopped moving
(a parked van, someone standing in a zone) is not forgotten by the rules. When
the crops would cover most of the frame, one full-frame call is cheaper.

The region arithmetic is pure; ``GatedDetector`` only holds the per-camera state
(MOG2 background, time of the last full pass) and counts pixels for the bench.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.types import Detections
from edge.mosaic import RegionDetector

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class GateConfig:
    enabled: bool = True
    motion_width: int = 320
    margin_frac: float = 0.15
    min_margin: int = 16
    min_size: int = 96
    full_every_s: float = 2.0
    max_crop_frac: float = 0.6
    #: Objects found at this confidence or more are looked at again in the next frame.
    keep_conf: float = 0.3


def grow(box: Sequence[float], width: int, height: int, cfg: GateConfig) -> Box:
    """A motion box grown by its margin and to ``min_size``, clipped to the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx = max(cfg.min_margin, cfg.margin_frac * (x2 - x1))
    my = max(cfg.min_margin, cfg.margin_frac * (y2 - y1))
    x1, y1, x2, y2 = x1 - mx, y1 - my, x2 + mx, y2 + my
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w = min(width, max(x2 - x1, cfg.min_size))
    h = min(height, max(y2 - y1, cfg.min_size))
    x1 = min(max(0.0, cx - w / 2), width - w)
    y1 = min(max(0.0, cy - h / 2), height - h)
    return (int(x1), int(y1), round(x1 + w), round(y1 + h))


def _touch(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def merge(boxes: Sequence[Box]) -> list[Box]:
    """Union boxes that overlap or touch until none do (order-independent result)."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        merged: list[Box] = []
        for b in out:
            for i, m in enumerate(merged):
                if _touch(b, m):
                    merged[i] = (min(b[0], m[0]), min(b[1], m[1]), max(b[2], m[2]), max(b[3], m[3]))
                    changed = True
                    break
            else:
                merged.append(b)
        out = merged
    return sorted(out)


def regions(
    motion: npt.NDArray[np.float32], width: int, height: int, cfg: GateConfig, *, full: bool
) -> list[Box]:
    """The crops to run the detector on: none without motion, the frame for a full pass
    or when the crops would cover more than ``max_crop_frac`` of it."""
    frame = (0, 0, width, height)
    if full or not cfg.enabled:
        return [frame]
    if len(motion) == 0:
        return []
    crops = merge([grow(b, width, height, cfg) for b in motion])
    area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in crops)
    return [frame] if area > cfg.max_crop_frac * width * height else crops


class GatedDetector:
    """One camera's gate in front of the box's shared region detector (a Detector itself);
    ``calls`` counts crops handed on, ``pixels`` their area in frame pixels."""

    def __init__(
        self,
        detector: RegionDetector,
        cfg: GateConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from detectors.backends.motion import MotionDetector
        from detectors.config import MotionConfig

        self.detector = detector
        self.cfg = cfg or GateConfig()
        self.class_names = detector.class_names
        self.clock = clock
        self.motion = MotionDetector(MotionConfig(scale_width=self.cfg.motion_width))
        self._last_full: float | None = None
        self._keep = np.empty((0, 4), np.float32)
        self.frames = 0
        self.pixels = 0
        self.calls = 0
        self.full_passes = 0

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        h, w = frame_bgr.shape[:2]
        self.frames += 1
        # MOG2 sees every detect frame, full pass or not, so its background stays current.
        moving = self.motion.detect(frame_bgr).xyxy if self.cfg.enabled else np.empty((0, 4))
        if len(self._keep):
            # Where objects were found last time is looked at again, moving or not, so
            # a parked van or a person standing still stays tracked between full passes.
            moving = np.concatenate([moving.reshape(-1, 4), self._keep])
        now = self.clock()
        full = self._last_full is None or now - self._last_full >= self.cfg.full_every_s
        crops = regions(moving.astype(np.float32), w, h, self.cfg, full=full)
        if crops == [(0, 0, w, h)]:
            self._last_full = now
            self.full_passes += 1
        self.calls += len(crops)
        self.pixels += sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in crops)
        found = self.detector.detect_regions(frame_bgr, crops)
        self._keep = found.xyxy[found.confidence >= self.cfg.keep_conf].astype(np.float32)
        return found
