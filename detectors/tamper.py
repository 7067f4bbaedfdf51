"""Camera tamper / video diagnosis (视频诊断) on whole frames.

Three conditions, each its own episode with hysteresis:

- ``covered``: the view is dark or flat (lens covered, lights out, signal black):
  mean grey below ``dark_mean``, or grey standard deviation below ``flat_std``;
- ``defocused``: sharpness (variance of the Laplacian) below ``blur_ratio`` of the
  baseline learned over the first ``learn_frames`` normal frames;
- ``moved``: the view shifted against the reference frame by more than
  ``shift_px`` (phase correlation, which ignores people walking through).

Work is done on a grey copy at most 320 pixels wide, so a frame costs about a
millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.rules.base import Episodes, Subject
from detectors.types import RuleHit
from gridwatch.camera_rules import TamperRule

WORK_WIDTH = 320


@dataclass(frozen=True)
class FrameStats:
    mean: float
    std: float
    sharpness: float


class FrameDiagnosis:
    """Baseline and reference frame; ``check`` returns the conditions present in a frame."""

    def __init__(self, cfg: TamperRule) -> None:
        import cv2

        self._cv2: Any = cv2
        self.cfg = cfg
        self._sharp: list[float] = []
        self._ref: npt.NDArray[np.float32] | None = None
        self._window: npt.NDArray[np.float64] | None = None
        self._scale = 1.0

    @property
    def baseline(self) -> float | None:
        """Median sharpness of the learned frames, once there are enough of them."""
        if len(self._sharp) < self.cfg.learn_frames:
            return None
        return float(np.median(self._sharp))

    def _grey(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        cv2 = self._cv2
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        h, w = grey.shape[:2]
        if w > WORK_WIDTH:
            self._scale = w / WORK_WIDTH
            grey = cv2.resize(
                grey, (WORK_WIDTH, round(h / self._scale)), interpolation=cv2.INTER_AREA
            )
        return np.asarray(grey, np.float32)

    def stats(self, grey: npt.NDArray[np.float32]) -> FrameStats:
        lap = self._cv2.Laplacian(grey, self._cv2.CV_32F)
        return FrameStats(float(grey.mean()), float(grey.std()), float(lap.var()))

    def shift_px(self, grey: npt.NDArray[np.float32]) -> float:
        """How far the view moved against the reference, in full-frame pixels."""
        if self._ref is None or self._ref.shape != grey.shape:
            return 0.0
        if self._window is None or self._window.shape != grey.shape:
            self._window = self._cv2.createHanningWindow(grey.shape[::-1], self._cv2.CV_32F)
        (dx, dy), response = self._cv2.phaseCorrelate(self._ref, grey, self._window)
        if response < 0.05:
            # No clear peak: the scene changed too much to tell; treat as moved far.
            return float("inf")
        return float(np.hypot(dx, dy)) * self._scale

    def check(self, frame: npt.NDArray[np.uint8]) -> tuple[set[str], FrameStats, float]:
        grey = self._grey(frame)
        st = self.stats(grey)
        if st.mean < self.cfg.dark_mean or st.std < self.cfg.flat_std:
            return {"covered"}, st, 0.0
        base = self.baseline
        if base is None:
            self._sharp.append(st.sharpness)
            self._ref = grey
            return set(), st, 0.0
        found: set[str] = set()
        if st.sharpness < self.cfg.blur_ratio * base:
            found.add("defocused")
            return found, st, 0.0
        shift = self.shift_px(grey)
        if shift > self.cfg.shift_px:
            found.add("moved")
        return found, st, shift


SUMMARIES = {
    "covered": "画面遮挡或黑屏 camera covered or black",
    "defocused": "画面模糊 camera defocused",
    "moved": "摄像机被移动 camera moved",
}


class Tamper:
    """Frame rule; fed with every frame the camera rules see (``None`` frames are skipped)."""

    def __init__(self, cfg: TamperRule, episodes: dict[str, Episodes]) -> None:
        self.cfg = cfg
        self.diag = FrameDiagnosis(cfg)
        self.episodes = episodes

    def step(self, ts: datetime, frame: npt.NDArray[np.uint8] | None) -> list[RuleHit]:
        if frame is None:
            return []
        found, st, shift = self.diag.check(frame)
        extra = {"mean": round(st.mean, 1), "std": round(st.std, 1), "shift_px": round(shift, 1)}
        hits: list[RuleHit] = []
        for name, eps in self.episodes.items():
            present = {name: Subject(extra=extra)} if name in found else {}
            hits += eps.step(ts, present)
        return hits

    def flush(self, ts: datetime) -> list[RuleHit]:
        return [h for eps in self.episodes.values() for h in eps.flush(ts)]
