"""Crowding: at least ``min_count`` objects inside a zone for ``min_duration_s``.

One episode per zone; it ends once the count has stayed below ``min_count`` for
``min_off_s``. The end carries the peak count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from detectors.rules.base import Subject, ZoneRule
from detectors.tracking import Track
from gridwatch.camera_rules import CrowdingRule


class Crowding(ZoneRule[CrowdingRule]):
    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        if len(inside) < self.cfg.min_count:
            return {}, None
        crowd = Subject(
            self.cfg.classes[0], None, None, _hull(inside), None, {"count": len(inside)}
        )
        return {"crowd": crowd}, None


def _hull(tracks: Sequence[Track]) -> tuple[float, float, float, float]:
    return (
        min(t.box[0] for t in tracks),
        min(t.box[1] for t in tracks),
        max(t.box[2] for t in tracks),
        max(t.box[3] for t in tracks),
    )
