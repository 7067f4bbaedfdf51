"""Illegal parking: a vehicle standing still inside a zone longer than ``stationary_s``.

Unlike Frigate's endless "in progress" for parked cars, the episode starts
(dated back to when the vehicle stopped) once it has stood still for
``stationary_s`` and ends when it drives off or disappears for ``min_off_s``.
While parked, small jitter of the box does not count as moving; a vehicle that
has moved within the last couple of seconds does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.rules.base import Episodes, Subject, in_schedule, matching, track_subject
from detectors.tracking import Track
from detectors.types import RuleHit
from detectors.zones import Zone
from gridwatch.camera_rules import ParkingRule

#: A parked vehicle whose box has not drifted for this long still counts as parked.
STILL_KEEP_S = 2.0


class Parking:
    def __init__(self, cfg: ParkingRule, zone: Zone, tz: ZoneInfo, episodes: Episodes) -> None:
        self.cfg, self.zone, self.tz, self.episodes = cfg, zone, tz, episodes

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        present: dict[str, Subject] = {}
        trigger: set[str] = set()
        if in_schedule(ts, self.cfg.schedule, self.tz):
            keep_s = min(STILL_KEEP_S, self.cfg.stationary_s)
            for t in matching(tracks, self.cfg.classes, self.cfg.min_confidence, self.zone):
                still = t.still_s(ts)
                sid = f"t{t.track_id}"
                if still >= keep_s:
                    present[sid] = track_subject(t, since=t.still_since)
                if still >= self.cfg.stationary_s:
                    trigger.add(sid)
        return self.episodes.step(ts, present, trigger)

    def flush(self, ts: datetime) -> list[RuleHit]:
        return self.episodes.flush(ts)
