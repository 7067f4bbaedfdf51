"""Intrusion (and vision fire/smoke): an object of a class inside a zone during a schedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.rules.base import Episodes, Subject, in_schedule, matching, track_subject
from detectors.tracking import Track
from detectors.types import RuleHit
from detectors.zones import Zone
from gridwatch.camera_rules import FireSmokeRule, IntrusionRule


class Intrusion:
    """``per="object"``: one episode per track; ``per="zone"``: one while the zone is occupied."""

    def __init__(
        self, cfg: IntrusionRule | FireSmokeRule, zone: Zone, tz: ZoneInfo, episodes: Episodes
    ) -> None:
        self.cfg, self.zone, self.tz, self.episodes = cfg, zone, tz, episodes

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        present: dict[str, Subject] = {}
        if in_schedule(ts, self.cfg.schedule, self.tz):
            inside = matching(tracks, self.cfg.classes, self.cfg.min_confidence, self.zone)
            if self.cfg.per == "object":
                present = {f"t{t.track_id}": track_subject(t) for t in inside}
            elif inside:
                top = max(inside, key=lambda t: t.score)
                s = track_subject(top)
                present = {
                    "zone": Subject(s.cls, s.score, s.track_id, s.box, None, {"count": len(inside)})
                }
        return self.episodes.step(ts, present)

    def flush(self, ts: datetime) -> list[RuleHit]:
        return self.episodes.flush(ts)
