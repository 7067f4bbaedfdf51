"""Object left behind, kept simple on purpose.

A tracked object of one of ``classes`` (bags by default) that has stood still
for ``stationary_s`` while no person stands within ``owner_radius`` of its own
height is taken as left behind. Who brought it is not tracked: a bag set down
next to a seated owner does not fire, and one whose owner walked away does. The
episode ends when the object is taken away (disappears) or moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.rules.base import Episodes, Subject, in_schedule, matching, track_subject
from detectors.tracking import Track
from detectors.types import RuleHit
from detectors.zones import Zone
from gridwatch.camera_rules import LeftBehindRule


class LeftBehind:
    def __init__(self, cfg: LeftBehindRule, zone: Zone, tz: ZoneInfo, episodes: Episodes) -> None:
        self.cfg, self.zone, self.tz, self.episodes = cfg, zone, tz, episodes

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        present: dict[str, Subject] = {}
        trigger: set[str] = set()
        if in_schedule(ts, self.cfg.schedule, self.tz):
            people = [t.anchor for t in tracks if t.cls == "person"]
            objs = matching(tracks, self.cfg.classes, self.cfg.min_confidence, self.zone)
            for t in objs:
                if t.still_s(ts) < min(2.0, self.cfg.stationary_s):
                    continue
                sid = f"t{t.track_id}"
                present[sid] = track_subject(t, since=t.still_since)
                x, y = t.anchor
                reach = self.cfg.owner_radius * max(1.0, t.box[3] - t.box[1])
                alone = all(abs(px - x) > reach or abs(py - y) > reach for px, py in people)
                if alone and t.still_s(ts) >= self.cfg.stationary_s:
                    trigger.add(sid)
        return self.episodes.step(ts, present, trigger)

    def flush(self, ts: datetime) -> list[RuleHit]:
        return self.episodes.flush(ts)
