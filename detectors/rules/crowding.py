"""Crowding: at least ``min_count`` objects inside a zone for ``min_duration_s``.

One episode per zone; it ends once the count has stayed below ``min_count`` for
``min_off_s``. The end carries the peak count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.rules.base import Episodes, Subject, in_schedule, matching
from detectors.tracking import Track
from detectors.types import RuleHit
from detectors.zones import Zone
from gridwatch.camera_rules import CrowdingRule


class Crowding:
    def __init__(self, cfg: CrowdingRule, zone: Zone, tz: ZoneInfo, episodes: Episodes) -> None:
        self.cfg, self.zone, self.tz, self.episodes = cfg, zone, tz, episodes

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        present: dict[str, Subject] = {}
        if in_schedule(ts, self.cfg.schedule, self.tz):
            inside = matching(tracks, self.cfg.classes, self.cfg.min_confidence, self.zone)
            if len(inside) >= self.cfg.min_count:
                present["crowd"] = Subject(
                    self.cfg.classes[0], None, None, _hull(inside), None, {"count": len(inside)}
                )
        return self.episodes.step(ts, present)

    def flush(self, ts: datetime) -> list[RuleHit]:
        return self.episodes.flush(ts)


def _hull(tracks: Sequence[Track]) -> tuple[float, float, float, float]:
    return (
        min(t.box[0] for t in tracks),
        min(t.box[1] for t in tracks),
        max(t.box[2] for t in tracks),
        max(t.box[3] for t in tracks),
    )
