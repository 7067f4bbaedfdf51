"""Loitering: one object staying inside a zone longer than ``dwell_s``.

The episode is the stay itself: it begins when the object enters (the event is
dated back to then) and is raised once the stay passes ``dwell_s``; a step out
shorter than ``min_off_s`` does not restart the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from detectors.rules.base import Subject, ZoneRule, track_subject
from detectors.tracking import Track
from gridwatch.camera_rules import LoiteringRule


class Loitering(ZoneRule[LoiteringRule]):
    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        return {f"t{t.track_id}": track_subject(t) for t in inside}, None
