"""Loitering: one object staying inside a zone longer than ``dwell_s``.

The episode is the stay itself: it begins when the object enters (the event is
dated back to then) and is raised once the stay passes ``dwell_s``; a step out
shorter than ``min_off_s`` does not restart the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.rules.base import Episodes, in_schedule, matching, track_subject
from detectors.tracking import Track
from detectors.types import RuleHit
from detectors.zones import Zone
from gridwatch.camera_rules import LoiteringRule


class Loitering:
    def __init__(self, cfg: LoiteringRule, zone: Zone, tz: ZoneInfo, episodes: Episodes) -> None:
        self.cfg, self.zone, self.tz, self.episodes = cfg, zone, tz, episodes

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        present = {}
        if in_schedule(ts, self.cfg.schedule, self.tz):
            inside = matching(tracks, self.cfg.classes, self.cfg.min_confidence, self.zone)
            present = {f"t{t.track_id}": track_subject(t) for t in inside}
        return self.episodes.step(ts, present)

    def flush(self, ts: datetime) -> list[RuleHit]:
        return self.episodes.flush(ts)
