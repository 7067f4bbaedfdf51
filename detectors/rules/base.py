"""What every rule shares: schedules, episodes with hysteresis and cooldown, the zone rules' step.

An *episode* is one situation (one object in a zone, one crowd, one parked car).
It starts once its condition has held for ``min_on_s``, survives gaps shorter
than ``min_off_s`` (a box flickering across the zone border, a missed detection),
and ends after a gap that long; the same subject then stays quiet for
``cooldown_s``. Its key is stable for the whole episode and never reused.

The rules about objects that stopped moving (parking, left behind) share one step too:
:class:`StillRule`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from detectors.tracking import Track
from detectors.types import Phase, RuleHit
from detectors.zones import Box, Zone
from gridwatch.camera_rules import Schedule


def _hhmm(text: str) -> time | None:
    if text == "24:00":
        return None
    h, m = text.split(":")
    return time(int(h), int(m))


def in_schedule(ts: datetime, schedule: Schedule | None, tz: ZoneInfo) -> bool:
    """Whether ``ts`` falls in the active hours, read on the wall clock of ``tz``."""
    if schedule is None:
        return True
    now = ts.astimezone(tz).time().replace(tzinfo=None)
    start, end = _hhmm(schedule.start) or time(0, 0), _hhmm(schedule.end)
    if end is None:
        return now >= start
    if start <= end:
        return start <= now < end
    return now >= start or now < end


@dataclass(frozen=True)
class Subject:
    """What a rule reports about the thing an episode is about, in the current frame."""

    cls: str | None = None
    score: float | None = None
    track_id: int | None = None
    box: Box | None = None
    since: datetime | None = None
    extra: Mapping[str, float | int | str] = field(default_factory=dict)


@dataclass
class _Open:
    key: str
    since: datetime
    last_true: datetime
    started: bool
    subject: Subject
    peak: float = 0.0


class Episodes:
    """Hysteresis, cooldown and stable keys for one rule; pure apart from its own state."""

    def __init__(
        self,
        *,
        prefix: str,
        rule: str,
        category: str,
        severity: int,
        zone: str | None,
        min_on_s: float,
        min_off_s: float,
        cooldown_s: float,
        summary: str,
    ) -> None:
        self.prefix, self.rule, self.category = prefix, rule, category
        self.severity, self.zone, self.summary = severity, zone, summary
        self.min_on_s, self.min_off_s, self.cooldown_s = min_on_s, min_off_s, cooldown_s
        self._open: dict[str, _Open] = {}
        self._quiet_until: dict[str, datetime] = {}

    @property
    def active(self) -> list[str]:
        """Subjects whose episode has started and not ended."""
        return [s for s, o in self._open.items() if o.started]

    def step(
        self,
        ts: datetime,
        present: Mapping[str, Subject],
        trigger: set[str] | None = None,
    ) -> list[RuleHit]:
        """``present``: subjects whose condition holds now; only those in ``trigger``
        (default: all present) may begin a new episode."""
        hits: list[RuleHit] = []
        for sid, subj in present.items():
            ep = self._open.get(sid)
            if ep is None:
                if trigger is not None and sid not in trigger:
                    continue
                quiet = self._quiet_until.get(sid)
                if quiet is not None and ts < quiet:
                    continue
                since = subj.since or ts
                key = f"{self.prefix}/{sid}/{int(since.timestamp() * 1000)}"
                ep = self._open[sid] = _Open(key, since, ts, False, subj)
            ep.last_true, ep.subject = ts, subj
            ep.peak = max(ep.peak, float(subj.extra.get("count", 0)))
            if not ep.started and (ts - ep.since).total_seconds() >= self.min_on_s:
                ep.started = True
                hits.append(self._hit(ep, "start", ts))
        for sid in [s for s in self._open if s not in present]:
            ep = self._open[sid]
            if (ts - ep.last_true).total_seconds() >= self.min_off_s:
                del self._open[sid]
                if ep.started:
                    hits.append(self._hit(ep, "end", ts))
                    self._quiet_until[sid] = ts + timedelta(seconds=self.cooldown_s)
        self._quiet_until = {s: t for s, t in self._quiet_until.items() if t > ts}
        return hits

    def update(self, ts: datetime, subject_id: str) -> RuleHit | None:
        """An ``update`` of the subject's started episode (its latest subject), else None."""
        ep = self._open.get(subject_id)
        return self._hit(ep, "update", ts) if ep is not None and ep.started else None

    def flush(self, ts: datetime) -> list[RuleHit]:
        """End every started episode (the stream stops)."""
        hits = [self._hit(ep, "end", ts) for ep in self._open.values() if ep.started]
        self._open.clear()
        return hits

    def _hit(self, ep: _Open, phase: Phase, ts: datetime) -> RuleHit:
        s = ep.subject
        extra = dict(s.extra)
        if ep.peak:
            extra["peak_count"] = int(ep.peak)
        return RuleHit(
            key=ep.key,
            rule=self.rule,
            category=self.category,
            phase=phase,
            ts=ts,
            severity=self.severity,
            cls=s.cls,
            score=s.score,
            track_id=s.track_id,
            zone=self.zone,
            box=s.box,
            start=ep.since,
            end=ep.last_true if phase == "end" else None,
            summary=self.summary,
            extra=extra,
        )


class TrackRule(Protocol):
    """A rule fed with the tracks of each frame."""

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]: ...

    def flush(self, ts: datetime) -> list[RuleHit]: ...


def matching(
    tracks: Sequence[Track], classes: Sequence[str], min_confidence: float, zone: Zone
) -> list[Track]:
    """Confirmed tracks of one of ``classes``, confident enough at some point, standing
    in ``zone`` and admitted there (the camera's masks and filters)."""
    return [
        t
        for t in tracks
        if t.cls in classes
        and t.confirmed
        and max(t.peak_score, t.score) >= min_confidence
        and zone.contains(t.box)
        and zone.admits(t.cls, t.box)
    ]


def track_scores(t: Track) -> dict[str, float | int | str]:
    """What an event says of a track's scores: its median (when confirmation ran) and top."""
    out: dict[str, float | int | str] = {"top_score": round(max(t.peak_score, t.score), 3)}
    if t.median_score is not None:
        out["median_score"] = t.median_score
    return out


def track_subject(t: Track, since: datetime | None = None) -> Subject:
    return Subject(
        t.cls, round(t.peak_score or t.score, 3), t.track_id, t.box, since, track_scores(t)
    )


class ZoneRuleConfig(Protocol):
    """What a zone rule reads of its config to pick the tracks it looks at."""

    @property
    def classes(self) -> list[str]: ...
    @property
    def min_confidence(self) -> float: ...
    @property
    def schedule(self) -> Schedule | None: ...


C = TypeVar("C", bound=ZoneRuleConfig)


class ZoneRule(ABC, Generic[C]):
    """A rule over the tracks of its classes inside one zone during its schedule.

    A subclass says only which subjects are present among those tracks and which of
    them may begin an episode; outside the schedule nothing is present.
    """

    def __init__(self, cfg: C, zone: Zone, tz: ZoneInfo, episodes: Episodes) -> None:
        self.cfg, self.zone, self.tz, self.episodes = cfg, zone, tz, episodes

    @abstractmethod
    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        """``present`` and ``trigger`` for :meth:`Episodes.step`, from the tracks ``inside``
        (and all ``tracks`` of the frame)."""

    def step(self, ts: datetime, tracks: Sequence[Track]) -> list[RuleHit]:
        if not in_schedule(ts, self.cfg.schedule, self.tz):
            return self.episodes.step(ts, {})
        inside = matching(tracks, self.cfg.classes, self.cfg.min_confidence, self.zone)
        present, trigger = self.observe(ts, inside, tracks)
        return self.episodes.step(ts, present, trigger)

    def flush(self, ts: datetime) -> list[RuleHit]:
        return self.episodes.flush(ts)


class StillRuleConfig(ZoneRuleConfig, Protocol):
    """What a rule about objects that stopped moving reads of its config besides."""

    @property
    def stationary_s(self) -> float: ...


S = TypeVar("S", bound=StillRuleConfig)

#: An object still for this long (or ``stationary_s``, if shorter) is present: a box
#: that has not drifted for a couple of seconds keeps its episode going.
STILL_KEEP_S = 2.0


class StillRule(ZoneRule[S]):
    """Objects standing still in the zone, dated back to when they stopped.

    One is present once still for :data:`STILL_KEEP_S`, and may begin an episode once
    still for ``stationary_s`` if :meth:`fires` agrees.
    """

    def observe(
        self, ts: datetime, inside: list[Track], tracks: Sequence[Track]
    ) -> tuple[dict[str, Subject], set[str] | None]:
        present: dict[str, Subject] = {}
        trigger: set[str] = set()
        keep_s = min(STILL_KEEP_S, self.cfg.stationary_s)
        for t in inside:
            still = t.still_s(ts)
            if still < keep_s:
                continue
            sid = f"t{t.track_id}"
            present[sid] = track_subject(t, since=t.still_since)
            if still >= self.cfg.stationary_s and self.fires(t, tracks):
                trigger.add(sid)
        return present, trigger

    def fires(self, still: Track, tracks: Sequence[Track]) -> bool:
        """Whether ``still``, long enough still, may begin an episode, given the frame's
        ``tracks``; any may."""
        return True
