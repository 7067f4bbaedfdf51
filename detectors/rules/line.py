"""Line crossing with direction and running in/out counts (Frigate lacks it, issue #93).

A crossing is instantaneous, so each one is a complete situation: a ``start``
and an ``end`` hit with the same key in the same frame. The end is stamped one
microsecond later: the gateway keys events on (event id, ts), and an end at the
start's instant would be dropped there as a duplicate of the start. A track that crossed
stays quiet for ``cooldown_s`` in the same direction, so someone standing on the
line while their box jitters is counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from detectors.config import DEFAULT_CATEGORY
from detectors.rules.base import in_schedule, track_scores
from detectors.tracking import Track
from detectors.types import RuleHit
from detectors.zones import Box, Point, crosses_segment, side
from gridwatch.camera_rules import LineRule

FORGET_S = 10.0
#: The end of an instantaneous crossing: after its start, and still within its frame.
END_AFTER = timedelta(microseconds=1)


class LineCrossing:
    def __init__(
        self,
        cfg: LineRule,
        prefix: str,
        tz: ZoneInfo,
        admits: Callable[[str, Box], bool] | None = None,
    ) -> None:
        self.cfg, self.prefix, self.tz = cfg, prefix, tz
        #: The camera's masks and filters; a track crosses unseen where they drop it.
        self.admits = admits
        self.counts = {"in": 0, "out": 0}
        self._last: dict[int, tuple[Point, datetime]] = {}
        self._quiet: dict[tuple[int, str], datetime] = {}

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        a, b = self.cfg.line
        hits: list[RuleHit] = []
        active = in_schedule(ts, self.cfg.schedule, self.tz)
        for t in tracks:
            if t.cls not in self.cfg.classes:
                continue
            p = t.anchor
            if side(p, a, b) == 0:
                # Exactly on the line: wait for the side it steps off to.
                continue
            prev = self._last.get(t.track_id)
            self._last[t.track_id] = (p, ts)
            if prev is None or not crosses_segment(prev[0], p, a, b):
                continue
            direction = "in" if side(p, a, b) > 0 else "out"
            if max(t.peak_score, t.score) < self.cfg.min_confidence or not active:
                continue
            if not t.confirmed or (self.admits is not None and not self.admits(t.cls, t.box)):
                continue
            if self._quiet.get((t.track_id, direction), ts) > ts:
                continue
            self._quiet[(t.track_id, direction)] = ts + timedelta(seconds=self.cfg.cooldown_s)
            self.counts[direction] += 1
            if self.cfg.direction not in ("both", direction):
                continue
            start = RuleHit(
                key=f"{self.prefix}/t{t.track_id}/{direction}/{int(ts.timestamp() * 1000)}",
                rule="line",
                category=self.cfg.category or DEFAULT_CATEGORY["line"],
                phase="start",
                ts=ts,
                severity=self.cfg.severity,
                cls=t.cls,
                score=round(t.peak_score or t.score, 3),
                track_id=t.track_id,
                zone=self.cfg.zone,
                box=t.box,
                start=ts,
                summary=f"越线 line crossed ({direction})",
                extra={"direction": direction, **self.counts, **track_scores(t)},
            )
            hits += [start, replace(start, phase="end", ts=ts + END_AFTER, end=ts)]
        # A track missing for a few frames keeps its last point, so a crossing during
        # missed detections still counts.
        self._last = {k: v for k, v in self._last.items() if (ts - v[1]).total_seconds() < FORGET_S}
        self._quiet = {k: v for k, v in self._quiet.items() if v > ts}
        return hits

    def flush(self, ts: datetime) -> list[RuleHit]:
        self._last.clear()
        return []
