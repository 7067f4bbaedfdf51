"""The duty roster: who is duty commander (值班指挥长) at a moment, as configuration.

Principal officials take turns: by day or by week, handing over at a time of day in
``GRIDWATCH_TZ``. Several rosters run side by side (the town's, a street's). A swap
or a stand-in is an override (a person for a period); leave takes a person out of
the rotation for a period, and their shifts fall to the next one in the order.
Escalations above village level go to the commander on duty of the roster named by
``escalations`` (dispatch/timers.py). :func:`on_duty` is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatch.errors import DispatchError

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
ID = r"^[^\s,]{1,64}$"
DUTY_POST = "duty_commander"


class NoOneOnDuty(DispatchError):
    """Every person of a roster is on leave at that moment."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Period(_Config):
    start: datetime = Field(description="From (GRIDWATCH_TZ unless it has an offset)")
    end: datetime = Field(description="Until, exclusive")

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class Override(_Period):
    """Someone else on duty for a period: a swap, a stand-in (顶班)."""

    person: str = Field(pattern=ID, description="Person id in people.yaml")
    note: str | None = Field(None, max_length=200, description="e.g. swap with P01352")


class Leave(_Period):
    """A person out of the rotation for a period; the next in the order stands in."""

    person: str = Field(pattern=ID, description="Person id in people.yaml")


class RosterSpec(_Config):
    """One rotation of duty commanders."""

    name: str = Field(min_length=1, max_length=64, description="Chinese name, e.g. 镇总值班")
    name_en: str = Field(min_length=1, max_length=64, description="English name")
    rotation: Literal["day", "week"] = Field(description="A shift lasts a day or a week")
    handover: str = Field("08:30", description="Hand-over time HH:MM in GRIDWATCH_TZ")
    start: date = Field(
        description="First day of the first shift, taken by people[0]; for a weekly "
        "rotation also the hand-over weekday"
    )
    people: list[str] = Field(min_length=1, max_length=100, description="In rotation order")
    overrides: list[Override] = Field(default_factory=list, max_length=1000)
    leave: list[Leave] = Field(default_factory=list, max_length=1000)

    @field_validator("handover")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"handover {value!r} is not HH:MM (00:00 to 23:59)")
        return value

    @field_validator("people")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        for i, person in enumerate(value):
            if not re.match(ID, person):
                raise ValueError(f"people[{i}] {person!r} is not a person id")
            if person in value[:i]:
                raise ValueError(f"people[{i}] {person!r} is listed twice")
        return value


class DutyFile(_Config):
    """``duty.yaml``: the rosters, and which one escalations above village level reach."""

    rosters: dict[str, RosterSpec] = Field(default_factory=dict, description="By roster id")
    escalations: str | None = Field(
        None, description="Roster whose commander takes escalations above village level"
    )

    @model_validator(mode="after")
    def _known_roster(self) -> DutyFile:
        for key in self.rosters:
            if not re.match(ID, key):
                raise ValueError(f"roster id {key!r} is not an id (no spaces or commas)")
        if self.escalations is not None and self.escalations not in self.rosters:
            raise ValueError(
                f"escalations {self.escalations!r} is not a roster; expected one of "
                f"{sorted(self.rosters)}"
            )
        return self


def people_problems(duty: DutyFile, people: Mapping[str, object]) -> list[tuple[str, str, str]]:
    """(where, value, message) for every person id that is not in people.yaml or holds
    no duty_commander post. ``people``: gridwatch.town.Person by id (duck-typed, as
    dispatch reads the town only through its views)."""
    out: list[tuple[str, str, str]] = []
    for rid, spec in sorted(duty.rosters.items()):
        base = f"rosters.{rid}"
        named = [(f"{base}.people[{i}]", p) for i, p in enumerate(spec.people)]
        named += [(f"{base}.overrides[{i}].person", o.person) for i, o in enumerate(spec.overrides)]
        named += [(f"{base}.leave[{i}].person", v.person) for i, v in enumerate(spec.leave)]
        for where, pid in named:
            person = people.get(pid)
            posts = getattr(person, "posts", ())
            if person is None:
                out.append((where, pid, "unknown person; expected an id in people.yaml"))
            elif not any(getattr(p, "kind", None) == DUTY_POST for p in posts):
                out.append((where, pid, "holds no duty_commander post in people.yaml"))
    return out


@dataclass(frozen=True, slots=True)
class OnDuty:
    """Who is on duty (``person``, in ``roster``), from ``since`` to ``until``, and why:
    the rotation, an override, or standing in for ``instead_of``, who is on leave."""

    roster: str
    person: str
    since: datetime
    until: datetime
    why: Literal["rotation", "override", "leave"]
    instead_of: str | None = None


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _shift(spec: RosterSpec, at: datetime, tz: ZoneInfo) -> tuple[int, datetime, datetime]:
    """The rotation shift holding ``at``: its number from ``spec.start``, start, end."""
    h, m = (int(x) for x in spec.handover.split(":"))
    length = 7 if spec.rotation == "week" else 1
    local = at.astimezone(tz)
    # Whole local days, not 24-hour spans, so a zone with summer time keeps its hand-over.
    days = (local.date() - spec.start).days
    if local < datetime.combine(local.date(), time(h, m), tzinfo=tz):
        days -= 1
    n = days // length
    begin = datetime.combine(spec.start + timedelta(days=n * length), time(h, m), tzinfo=tz)
    end = datetime.combine(spec.start + timedelta(days=(n + 1) * length), time(h, m), tzinfo=tz)
    return n, begin, end


def on_duty(roster: str, spec: RosterSpec, at: datetime, tz: ZoneInfo) -> OnDuty:
    """The commander on duty in ``roster`` at ``at`` (aware); NoOneOnDuty when all are away,
    ValueError for a moment whose shift falls outside the calendar (year 1 or 9999).

    An override holding ``at`` wins (the latest listed, if several); otherwise the
    rotation's person, unless on leave, when the next in the order not on leave.
    """
    if at.tzinfo is None:
        raise ValueError(f"at {at!r} must be timezone-aware")
    for o in reversed(spec.overrides):
        start, end = _aware(o.start, tz), _aware(o.end, tz)
        if start <= at < end:
            return OnDuty(roster, o.person, start, end, "override")
    try:
        n, since, until = _shift(spec, at, tz)
    except OverflowError as exc:
        raise ValueError(f"at {at.isoformat()}: too far from the roster's start") from exc
    away = {lv.person for lv in spec.leave if _aware(lv.start, tz) <= at < _aware(lv.end, tz)}
    order = spec.people
    scheduled = order[n % len(order)]
    for step in range(len(order)):
        person = order[(n + step) % len(order)]
        if person not in away:
            if step == 0:
                return OnDuty(roster, person, since, until, "rotation")
            return OnDuty(roster, person, since, until, "leave", instead_of=scheduled)
    raise NoOneOnDuty(
        f"roster {roster!r}: all of {order} are on leave at {at.astimezone(tz).isoformat()}"
    )


def escalation_commander(duty: DutyFile | None, at: datetime, tz: ZoneInfo) -> OnDuty | None:
    """The commander escalations above village level reach at ``at``; None without a
    roster for them (the town leader then, as before) or when all are on leave."""
    if duty is None or duty.escalations is None:
        return None
    try:
        return on_duty(duty.escalations, duty.rosters[duty.escalations], at, tz)
    except NoOneOnDuty:
        return None
