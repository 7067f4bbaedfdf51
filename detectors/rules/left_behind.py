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

from detectors.rules.base import Subject, ZoneRule, track_subject
from detectors.tracking import Track
from gridwatch.camera_rules import LeftBehindRule


class LeftBehind(ZoneRule[LeftBehindRule]):
    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        present: dict[str, Subject] = {}
        trigger: set[str] = set()
        people = [t.anchor for t in tracks if t.cls == "person"]
        for t in inside:
            if t.still_s(ts) < min(2.0, self.cfg.stationary_s):
                continue
            sid = f"t{t.track_id}"
            present[sid] = track_subject(t, since=t.still_since)
            x, y = t.anchor
            reach = self.cfg.owner_radius * max(1.0, t.box[3] - t.box[1])
            alone = all(abs(px - x) > reach or abs(py - y) > reach for px, py in people)
            if alone and t.still_s(ts) >= self.cfg.stationary_s:
                trigger.add(sid)
        return present, trigger
