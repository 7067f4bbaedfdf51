"""Track confirmation: a track counts for the rules only once its scores say it is real.

Frigate's answer to a still object read as a person frame after frame: the
median of a track's scores over its last ``window_s`` seconds must reach a
per-class threshold (one high score is not enough, one low score does not undo
it), and for classes that still things are mistaken for, the track must also have
moved. Once confirmed, a track stays confirmed, unless it must move and is back,
scoring low, where it was first seen (an id swap with a passer-by). The window is
in seconds, by the frames' own times, so a camera detecting at 5 fps confirms as
soon as one at 10 fps. Pure: per-track state keyed by track id, no I/O.
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
#: Tolerance on a window's edges: frame times are rounded to microseconds.
EPS_S = 1e-3


@dataclass
class _Seen:
    origin: Point
    first: datetime
    last: datetime
    #: (seconds since ``first``, score), the newest last; only the window's are kept.
    scores: deque[tuple[float, float]] = field(default_factory=deque)
    moved: bool = False
    confirmed: bool = False
    top: float = 0.0


def median_of(scores: Sequence[tuple[float, float]], window_s: float) -> float | None:
    """Median of the scores of the last ``window_s`` seconds, ``scores`` being (seconds,
    score) pairs in time order; None while they span less than the window (the track is
    too young to say)."""
    if not scores or scores[-1][0] - scores[0][0] < window_s - EPS_S:
        return None
    now = scores[-1][0]
    return float(statistics.median(s for t, s in scores if t >= now - window_s - EPS_S))


def confirms(rule: ClassConfirm, median: float | None, moved: bool) -> bool:
    """Whether a track with this ``median`` (None: too few scores) that has or has not
    ``moved`` is confirmed under its class's ``rule``."""
    if median is None or median < rule.threshold:
        return False
    if rule.still_threshold is not None and median >= rule.still_threshold:
        return True
    return rule.min_move is None or moved


def lapses(rule: ClassConfirm, median: float | None, away: bool) -> bool:
    """Whether a confirmed track of a class that must move is back to what confirmation
    refuses: at the spot where it was first seen (not ``away``) with its median below the
    threshold. A still sign's track that took a passing walker's boxes for a moment (an id
    swap) got his scores and movement; once back on the sign it counts no more, and must
    move again to count."""
    return median is not None and median < rule.threshold and not away


class Confirmation:
    """Marks each frame's tracks ``confirmed`` (sticky but for :func:`lapses`) and sets
    their median score."""

    def __init__(self, cfg: ConfirmConfig) -> None:
        self.cfg = cfg
        self._seen: dict[int, _Seen] = {}

    def update(self, ts: datetime, tracks: Sequence[Track]) -> list[Track]:
        out: list[Track] = []
        for t in tracks:
            s = self._seen.get(t.track_id)
            if s is None:
                s = self._seen[t.track_id] = _Seen(t.anchor, ts, ts)
            s.last = ts
            rule = self.cfg.for_class(t.cls)
            at = (ts - s.first).total_seconds()
            s.scores.append((at, t.score))
            # Keep the window and one score before it (the span says whether it is full).
            while len(s.scores) > 2 and s.scores[1][0] < at - rule.window_s - EPS_S:
                s.scores.popleft()
            s.top = max(s.top, t.score, t.peak_score)
            median = median_of(s.scores, rule.window_s)
            if rule.min_move is not None:
                height = max(1.0, t.box[3] - t.box[1])
                away = math.dist(s.origin, t.anchor) >= rule.min_move * height
                s.moved = s.moved or away
                if s.confirmed and lapses(rule, median, away):
                    s.confirmed = s.moved = False
            if not s.confirmed:
                s.confirmed = not self.cfg.enabled or confirms(rule, median, s.moved)
            shown = (
                median if median is not None else float(statistics.median(v for _, v in s.scores))
            )
            out.append(replace(t, median_score=round(shown, 3), confirmed=s.confirmed))
        self._seen = {
            k: v for k, v in self._seen.items() if (ts - v.last).total_seconds() < FORGET_S
        }
        return out

    def reset(self) -> None:
        self._seen.clear()
