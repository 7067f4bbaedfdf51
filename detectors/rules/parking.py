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

from detectors.rules.base import Subject, ZoneRule, track_subject
from detectors.tracking import Track
from gridwatch.camera_rules import ParkingRule

#: A parked vehicle whose box has not drifted for this long still counts as parked.
STILL_KEEP_S = 2.0


class Parking(ZoneRule[ParkingRule]):
    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        present: dict[str, Subject] = {}
        trigger: set[str] = set()
        keep_s = min(STILL_KEEP_S, self.cfg.stationary_s)
        for t in inside:
            still = t.still_s(ts)
            sid = f"t{t.track_id}"
            if still >= keep_s:
                present[sid] = track_subject(t, since=t.still_since)
            if still >= self.cfg.stationary_s:
                trigger.add(sid)
        return present, trigger
