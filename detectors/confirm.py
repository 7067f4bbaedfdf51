"""Track confirmation: a track counts for the rules only once its scores say it is real.

Frigate's answer to a still object read as a person frame after frame: the
median of a track's recent scores must reach a per-class threshold (one high
score is not enough, one low score does not undo it), and for classes that
still things are mistaken for, the track must also have moved. Once confirmed, a
track stays confirmed. Pure: per-track state keyed by track id, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from detectors.tracking import Track
from detectors.zones import Point
from gridwatch.camera_objects import ClassConfirm, ConfirmConfig

#: A track unseen this long is forgotten (ByteTrack has dropped it long before).
FORGET_S = 30.0
#: Scores kept per track: the most any class's ``frames`` may ask for.
KEEP = 300


@dataclass
class _Seen:
    origin: Point
    last: datetime
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))
    moved: bool = False
    confirmed: bool = False
    top: float = 0.0


def median_of(scores: Sequence[float], frames: int) -> float | None:
    """Median of the last ``frames`` scores; None while there are fewer."""
    if len(scores) < frames:
        return None
    return float(statistics.median(list(scores)[-frames:]))


def confirms(rule: ClassConfirm, median: float | None, moved: bool) -> bool:
    """Whether a track with this ``median`` (None: too few scores) that has or has not
    ``moved`` is confirmed under its class's ``rule``."""
    if median is None or median < rule.threshold:
        return False
    if rule.still_threshold is not None and median >= rule.still_threshold:
        return True
    return rule.min_move is None or moved


class Confirmation:
    """Marks each frame's tracks ``confirmed`` (sticky) and sets their median score."""

    def __init__(self, cfg: ConfirmConfig) -> None:
        self.cfg = cfg
        self._seen: dict[int, _Seen] = {}

    def update(self, ts: datetime, tracks: Sequence[Track]) -> list[Track]:
        out: list[Track] = []
        for t in tracks:
            s = self._seen.get(t.track_id)
            if s is None:
                s = self._seen[t.track_id] = _Seen(t.anchor, ts)
            s.last = ts
            s.scores.append(t.score)
            s.top = max(s.top, t.score, t.peak_score)
            rule = self.cfg.for_class(t.cls)
            if rule.min_move is not None and not s.moved:
                height = max(1.0, t.box[3] - t.box[1])
                s.moved = math.dist(s.origin, t.anchor) >= rule.min_move * height
            median = median_of(s.scores, rule.frames)
            if not s.confirmed:
                s.confirmed = not self.cfg.enabled or confirms(rule, median, s.moved)
            shown = median if median is not None else float(statistics.median(s.scores))
            out.append(replace(t, median_score=round(shown, 3), confirmed=s.confirmed))
        self._seen = {
            k: v for k, v in self._seen.items() if (ts - v.last).total_seconds() < FORGET_S
        }
        return out

    def reset(self) -> None:
        self._seen.clear()
