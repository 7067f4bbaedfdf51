"""Tracking: ByteTrack ids plus what rules need from a track (dwell, standing still).

supervision's ``ByteTrack`` is used from the 0.30 line, the last that has it and
does not pull in a second OpenCV distribution (0.31 moved it to ``trackers``,
which requires ``opencv-python``). Rules never see the tracker: they get
``Track`` values, so tests feed synthetic tracks directly.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.types import Detections
from detectors.zones import Box, Point, anchor


@dataclass(frozen=True)
class Track:
    """One tracked object as seen in the current frame."""

    track_id: int
    cls: str
    score: float
    box: Box
    first_seen: datetime
    still_since: datetime
    peak_score: float = 0.0
    #: Median of its recent scores and whether it counts for rules yet
    #: (``detectors.confirm``; a tracker's own tracks start unconfirmed there).
    median_score: float | None = None
    confirmed: bool = True

    @property
    def anchor(self) -> Point:
        return anchor(self.box)

    def dwell_s(self, ts: datetime) -> float:
        return (ts - self.first_seen).total_seconds()

    def still_s(self, ts: datetime) -> float:
        return (ts - self.still_since).total_seconds()


@dataclass
class _History:
    first_seen: datetime
    ref: Point
    still_since: datetime
    classes: Counter[str] = field(default_factory=Counter)
    peak: float = 0.0


#: Boxes of different classes overlapping this much are one object seen twice.
DUPLICATE_IOU = 0.7


def _not_duplicate(d: Detections) -> npt.NDArray[np.bool_]:
    """Mask dropping boxes that overlap a higher-scoring box of another class.

    Back-ends run NMS per class, so a van comes out as both car and truck; tracked
    as two objects it would give two parking events.
    """
    n = len(d)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    order = np.argsort(-d.confidence)
    b = d.xyxy.astype(np.float64)
    area = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    for rank, i in enumerate(order):
        if not keep[i]:
            continue
        rest = order[rank + 1 :]
        rest = rest[keep[rest]]
        if len(rest) == 0:
            break
        w = (np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0])).clip(0)
        h = (np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1])).clip(0)
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        keep[rest[iou >= DUPLICATE_IOU]] = False
    return keep


#: At this rate and above, ByteTrack's own matching threshold (0.8: a track takes a box
#: when IoU times score is at least 0.2).
MATCH_REF_FPS = 10.0
MATCH_GAIN_AT_REF = 0.2


def match_cost_at(frame_rate: float) -> float:
    """ByteTrack's ``minimum_matching_threshold`` for tracks fed at ``frame_rate``.

    A walker moves twice as far between two frames at 5 fps as at 10, so his boxes in
    consecutive frames overlap less: vtest's distant walker on the north lawn, 15 px
    wide and 2.5 px a tenth of a second, broke into three tracks in 2 s at 5 fps with
    the 10 fps gain. The gain asked for falls with the rate, to 0.15 at 5 fps (0.1 at
    the slowest): 0.1 at 5 fps let tracks swap within crowds (docs/detectors.md)."""
    share = min(1.0, frame_rate / MATCH_REF_FPS)
    return 1.0 - MATCH_GAIN_AT_REF * (0.5 + 0.5 * share)


def is_still(ref: Point, now: Point, box: Box, tolerance: float) -> bool:
    """Whether the anchor stayed within ``tolerance`` box widths (at least 4 px) of ``ref``."""
    limit = max(4.0, tolerance * (box[2] - box[0]))
    return abs(now[0] - ref[0]) <= limit and abs(now[1] - ref[1]) <= limit


class ObjectTracker:
    """Detections in, ``Track`` values out; keeps first-seen and standing-still times."""

    def __init__(
        self,
        frame_rate: float = 10.0,
        lost_s: float = 2.0,
        min_confidence: float = 0.1,
        still_tolerance: float = 0.15,
        match_cost: float | None = None,
    ) -> None:
        """``match_cost``: ByteTrack's matching threshold; None: :func:`match_cost_at`."""
        import supervision as sv

        with warnings.catch_warnings():
            # Deprecated upstream in favour of a package that drags in opencv-python.
            warnings.simplefilter("ignore")
            self._bt: Any = sv.ByteTrack(
                track_activation_threshold=0.25,
                lost_track_buffer=max(1, round(lost_s * 30.0)),
                minimum_matching_threshold=match_cost or match_cost_at(frame_rate),
                frame_rate=frame_rate,
                minimum_consecutive_frames=1,
            )
        self._sv: Any = sv
        self._min_conf = min_confidence
        self._tol = still_tolerance
        self._hist: dict[int, _History] = {}
        self._lost_s = lost_s

    def update(self, ts: datetime, detections: Detections) -> list[Track]:
        keep = (detections.confidence >= self._min_conf) & _not_duplicate(detections)
        sv_det = self._sv.Detections(
            xyxy=detections.xyxy[keep].astype("float32"),
            confidence=detections.confidence[keep].astype("float32"),
            class_id=detections.class_id[keep].astype("int64"),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._bt.update_with_detections(sv_det)
        tracks: list[Track] = []
        seen: set[int] = set()
        for xyxy, conf, cid, tid in zip(
            out.xyxy, out.confidence, out.class_id, out.tracker_id, strict=True
        ):
            tid = int(tid)
            box: Box = (float(xyxy[0]), float(xyxy[1]), float(xyxy[2]), float(xyxy[3]))
            cls = detections.class_names[int(cid)]
            h = self._hist.get(tid)
            if h is None:
                h = self._hist[tid] = _History(ts, anchor(box), ts)
            elif not is_still(h.ref, anchor(box), box, self._tol):
                h.ref, h.still_since = anchor(box), ts
            h.classes[cls] += 1
            h.peak = max(h.peak, float(conf))
            seen.add(tid)
            # The class seen most often: a van flickers between car and truck.
            tracks.append(
                Track(
                    tid,
                    h.classes.most_common(1)[0][0],
                    float(conf),
                    box,
                    h.first_seen,
                    h.still_since,
                    h.peak,
                )
            )
        self._forget(ts, seen)
        return tracks

    def _forget(self, ts: datetime, seen: set[int]) -> None:
        live = {int(t.external_track_id) for t in self._bt.tracked_tracks + self._bt.lost_tracks}
        for tid in list(self._hist):
            if tid not in seen and tid not in live:
                del self._hist[tid]
