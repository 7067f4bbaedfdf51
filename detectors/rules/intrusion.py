"""Intrusion (and vision fire/smoke): an object of a class inside a zone during a schedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from detectors.rules.base import Subject, ZoneRule, track_subject
from detectors.tracking import Track
from gridwatch.camera_rules import FireSmokeRule, IntrusionRule


class Intrusion(ZoneRule[IntrusionRule | FireSmokeRule]):
    """``per="object"``: one episode per track; ``per="zone"``: one while the zone is occupied."""

    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        if self.cfg.per == "object":
            return {f"t{t.track_id}": track_subject(t) for t in inside}, None
        if not inside:
            return {}, None
        s = track_subject(max(inside, key=lambda t: t.score))
        zone = Subject(s.cls, s.score, s.track_id, s.box, None, {**s.extra, "count": len(inside)})
        return {"zone": zone}, None
