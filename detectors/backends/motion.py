"""Motion regions from OpenCV's MOG2 background subtractor, as a Detector.

Each moving blob becomes a box of class ``motion`` whose confidence is the share
of its box that moved. It is cheap (a few ms on a downscaled frame) and serves
as the gate in front of the object detector (issue 6) and as a stand-in detector
where no model is wanted. It keeps background state, so use one per camera.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from detectors.config import MotionConfig
from detectors.types import Detections


class MotionDetector:
    class_names: tuple[str, ...] = ("motion",)

    def __init__(self, cfg: MotionConfig | None = None) -> None:
        import cv2

        cfg = cfg or MotionConfig()
        self.scale_width = cfg.scale_width
        self.min_area_frac = cfg.min_area_frac
        self._mog = cv2.createBackgroundSubtractorMOG2(
            history=cfg.history, varThreshold=cfg.var_threshold, detectShadows=False
        )
        self._kernel = np.ones((3, 3), np.uint8)
        self._lock = threading.Lock()

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        import cv2

        h, w = frame_bgr.shape[:2]
        scale = min(1.0, self.scale_width / w)
        small = cv2.resize(frame_bgr, (max(1, round(w * scale)), max(1, round(h * scale))))
        with self._lock:
            mask = self._mog.apply(small)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = self.min_area_frac * mask.shape[0] * mask.shape[1]
        boxes, conf = [], []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            if bw * bh < min_area:
                continue
            moved = float(np.count_nonzero(mask[y : y + bh, x : x + bw])) / (bw * bh)
            boxes.append([x / scale, y / scale, (x + bw) / scale, (y + bh) / scale])
            conf.append(min(1.0, moved))
        if not boxes:
            return Detections.empty(self.class_names)
        return Detections(
            np.asarray(boxes, np.float32),
            np.asarray(conf, np.float32),
            np.zeros(len(boxes), np.int32),
            self.class_names,
        )
