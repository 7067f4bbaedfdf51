"""One camera's rules: detections and frames in, ``RuleHit`` values out.

``build_camera_rules`` turns the camera's ``CameraRulesConfig`` into an object
meeting ``detectors.types.CameraRules``; each edge camera calls ``step`` once per
processed frame and ``flush`` when the stream stops, so no event stays open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from detectors.config import DEFAULT_CATEGORY
from detectors.confirm import Confirmation
from detectors.objects import ObjectScreen
from detectors.rules.base import Episodes, TrackRule
from detectors.rules.crowding import Crowding
from detectors.rules.intrusion import Intrusion
from detectors.rules.left_behind import LeftBehind
from detectors.rules.line import LineCrossing
from detectors.rules.loitering import Loitering
from detectors.rules.parking import Parking
from detectors.tamper import SUMMARIES, Tamper
from detectors.tracking import ObjectTracker, Track
from detectors.types import Detections, RuleHit
from detectors.zones import Zone
from gridwatch.camera_rules import (
    CameraRulesConfig,
    CrowdingRule,
    FireSmokeRule,
    IntrusionRule,
    LeftBehindRule,
    LineRule,
    LoiteringRule,
    ParkingRule,
    RuleConfig,
    TamperRule,
)
from gridwatch.homography import Homography

SUMMARY = {
    "intrusion": "区域入侵 intrusion into a restricted area",
    "loitering": "人员徘徊 loitering",
    "crowding": "人员聚集 crowd gathering",
    "parking": "违规停车 illegal parking",
    "left_behind": "物品遗留 object left behind",
    "fire_smoke": "烟火 fire or smoke seen",
}


def _episodes(cfg: RuleConfig, index: int, *, min_on_s: float, suffix: str = "") -> Episodes:
    return Episodes(
        prefix=f"{cfg.type}{index}{suffix}/{cfg.zone or '*'}",
        rule=cfg.type,
        category=cfg.category or DEFAULT_CATEGORY[cfg.type],
        severity=cfg.severity,
        zone=cfg.zone,
        min_on_s=min_on_s,
        min_off_s=cfg.min_off_s if not isinstance(cfg, LineRule) else 0.0,
        cooldown_s=cfg.cooldown_s,
        summary=SUMMARY.get(cfg.type, cfg.type),
    )


def _track_rule(
    cfg: RuleConfig, i: int, zone: Zone, tz: ZoneInfo, screen: ObjectScreen
) -> TrackRule:
    if isinstance(cfg, IntrusionRule | FireSmokeRule):
        return Intrusion(cfg, zone, tz, _episodes(cfg, i, min_on_s=cfg.min_on_s))
    if isinstance(cfg, LoiteringRule):
        return Loitering(cfg, zone, tz, _episodes(cfg, i, min_on_s=cfg.dwell_s))
    if isinstance(cfg, CrowdingRule):
        return Crowding(cfg, zone, tz, _episodes(cfg, i, min_on_s=cfg.min_duration_s))
    if isinstance(cfg, ParkingRule):
        # The trigger already waits stationary_s; the episode is dated to the stop.
        return Parking(cfg, zone, tz, _episodes(cfg, i, min_on_s=0.0))
    if isinstance(cfg, LeftBehindRule):
        return LeftBehind(cfg, zone, tz, _episodes(cfg, i, min_on_s=0.0))
    if isinstance(cfg, LineRule):
        admits = partial(screen.admits, zone=cfg.zone)
        return LineCrossing(cfg, f"line{i}/{cfg.zone or '*'}", tz, admits)
    raise TypeError(f"rules[{i}] of type {cfg.type!r} is not fed by tracks")


class CameraRuleEngine:
    """Tracker, track confirmation, masks and filters, and every configured rule of one
    camera; ``homography`` measures filters given in metres."""

    def __init__(
        self, cfg: CameraRulesConfig, tz: ZoneInfo, homography: Homography | None = None
    ) -> None:
        zones = {z.name: z.polygon for z in cfg.zones}
        self.screen = ObjectScreen(cfg.objects.masks, cfg.objects.filters, homography)
        self.confirmation = Confirmation(cfg.objects.confirm)
        self.track_rules: list[TrackRule] = []
        self.tamper: list[Tamper] = []
        for i, rule in enumerate(cfg.rules):
            if isinstance(rule, TamperRule):
                eps = {
                    name: Episodes(
                        prefix=f"tamper{i}/{name}",
                        rule="tamper",
                        category=rule.category or DEFAULT_CATEGORY["tamper"],
                        severity=rule.severity,
                        zone=None,
                        min_on_s=rule.min_on_s,
                        min_off_s=rule.min_off_s,
                        cooldown_s=rule.cooldown_s,
                        summary=summary,
                    )
                    for name, summary in SUMMARIES.items()
                }
                self.tamper.append(Tamper(rule, eps))
            else:
                polygon = zones[rule.zone] if rule.zone else None
                zone = Zone(rule.zone, polygon, partial(self.screen.admits, zone=rule.zone))
                self.track_rules.append(_track_rule(rule, i, zone, tz, self.screen))
        self.tracker = ObjectTracker(frame_rate=cfg.frame_rate) if self.track_rules else None
        self.last_tracks: list[Track] = []

    def step(
        self, ts: datetime, frame_bgr: npt.NDArray[np.uint8] | None, detections: Detections
    ) -> list[RuleHit]:
        hits: list[RuleHit] = []
        for t in self.tamper:
            hits += t.step(ts, frame_bgr)
        if self.tracker is not None:
            hits += self.step_tracks(ts, self.tracker.update(ts, detections))
        return hits

    def step_tracks(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        """Feed already tracked objects (tests, or a tracker of the caller's own); they are
        confirmed here, so ``last_tracks`` says which count."""
        tracks = self.last_tracks = self.confirmation.update(ts, tracks)
        hits: list[RuleHit] = []
        for rule in self.track_rules:
            hits += rule.step(ts, tracks)
        return hits

    def flush(self, ts: datetime) -> list[RuleHit]:
        """End every open episode: call when the stream stops or the agent shuts down."""
        hits: list[RuleHit] = []
        for rule in self.track_rules:
            hits += rule.flush(ts)
        for t in self.tamper:
            hits += t.flush(ts)
        return hits


def build_camera_rules(
    cfg: CameraRulesConfig, tz: ZoneInfo, homography: Homography | None = None
) -> CameraRuleEngine:
    """The camera's rules, ready for ``step(ts, frame_bgr | None, detections)``."""
    return CameraRuleEngine(cfg, tz, homography)
