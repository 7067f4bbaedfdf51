"""One report put together: the period's facts through the formulas, as plain JSON values.

The command line writes it to a file, the API returns it, ``render`` prints it.
Keys are English; ``render`` gives them their Chinese or English names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from dispatch.cadence import formulas as fx
from dispatch.cadence import gather, ledger
from dispatch.cadence.config import CadenceConfig
from dispatch.cadence.periods import Period, PeriodKind, period_of
from dispatch.deadlines import DeadlineTable, working_minutes
from gridwatch.town import Town


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as the daily patrol lists it: its kind and the areas its unit lies in."""

    kind: str  # camera or sensor
    areas: frozenset[str]  # unit, grid, village, town


@dataclass(frozen=True, slots=True)
class ReviewSetup:
    """What a report needs besides a connection: the time zone and two config files."""

    tz: ZoneInfo
    cadence: CadenceConfig
    deadlines: DeadlineTable

    def period(self, kind: PeriodKind | str, day: date) -> Period:
        return period_of(kind, day, self.tz, self.cadence.fortnight_start)

    def span(self, f: fx.CaseFact, start: datetime, end: datetime) -> float:
        """Minutes from ``start`` to ``end``: working minutes where the case's rule counts them."""
        if f.working_time:
            return working_minutes(start, end, self.tz, self.deadlines.windows())
        return max((end - start).total_seconds() / 60, 0.0)


def build(
    conn: psycopg.Connection[Any],
    setup: ReviewSetup,
    kind: PeriodKind | str,
    day: date,
    now: datetime,
    *,
    area: str | None = None,
    record: bool = False,
    town_wide: bool = True,
    devices: Mapping[str, DeviceView] | None = None,
) -> dict[str, Any]:
    """The report of the ``kind`` period containing ``day``, as of ``now``.

    With ``record``, a complete town-wide fortnight's lowest ranked are stored
    (once: see :func:`gather.record_named`). ``town_wide`` False says the connection
    sees part of the town only (row-level security): nothing is recorded, and the
    named list keeps the people of that part. A daily report lists the devices
    offline (``devices`` gives their kinds and areas, for ``area``).
    """
    period = setup.period(kind, day)
    as_of = period.as_of(now)
    facts = gather.case_facts(conn, period.start, as_of, area, setup.deadlines)
    days = [d.isoformat() for d in period.days]
    people = fx.people(facts, as_of, setup.span)
    report: dict[str, Any] = {
        "kind": period.kind.value,
        "period": {
            "first_day": period.first_day.isoformat(),
            "last_day": period.days[-1].isoformat(),
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "as_of": as_of.astimezone(setup.tz).isoformat(),
            "complete": period.complete(now),
            "tz": str(setup.tz),
        },
        "scope": area,
        "generated_at": now.astimezone(setup.tz).isoformat(),
        "counts": _counts(facts, as_of),
        "times": {
            "accept": asdict(fx.accept_times(facts, setup.span)),
            "resolve": asdict(fx.resolve_times(facts, setup.span)),
        },
        "escalations": [
            {"level": lv, "count": n}
            for lv, n in gather.escalations(conn, period.start, as_of, area).items()
        ],
        "rates": _rates(facts),
        "mediation": _mediation(fx.mediation(facts)),
        "people": [_person(p) for p in people],
        "points": [
            asdict(s)
            for s in ledger.standings(conn, [p.person for p in people], period.start, as_of)
        ],
        "charts": {
            "per_day": fx.per_day(facts, days, lambda t: t.astimezone(setup.tz).date().isoformat()),
            "on_time_by_village": fx.on_time_by(facts, "village"),
        },
    }
    if period.kind is PeriodKind.DAILY:
        report["devices_offline"] = _offline(conn, as_of, area, devices or {})
    if period.kind is PeriodKind.FORTNIGHT:
        whole = area is None and town_wide
        report["ranking"] = _ranking(conn, setup, period, facts, as_of, now, whole, record)
    return report


def _offline(
    conn: psycopg.Connection[Any],
    as_of: datetime,
    area: str | None,
    devices: Mapping[str, DeviceView],
) -> list[dict[str, Any]]:
    out = []
    for d in gather.offline_devices(conn, as_of):
        view = devices.get(d.device)
        if area is not None and (view is None or area not in view.areas):
            continue
        out.append(
            {
                "device": d.device,
                "kind": view.kind if view else None,
                "state": d.state,
                "last_seen": d.last_seen.isoformat(),
                "hours_offline": (as_of - d.last_seen).total_seconds() / 3600,
            }
        )
    return out


def _counts(facts: list[fx.CaseFact], as_of: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {"all": asdict(fx.counts(facts, as_of, None).get("all", fx.Counts()))}
    for dim in fx.DIMENSIONS:
        out[dim] = [{"id": k, **asdict(c)} for k, c in fx.counts(facts, as_of, dim).items()]
    return out


def _rate_row(r: fx.Rates) -> dict[str, Any]:
    return {
        **asdict(r),
        "response": r.response,
        "completion": r.completion,
        "resolution": r.resolution,
        "satisfaction": r.satisfaction,
    }


def _rates(facts: list[fx.CaseFact]) -> dict[str, Any]:
    out: dict[str, Any] = {"all": _rate_row(fx.rates(facts))}
    for dim in fx.RATE_DIMENSIONS:
        out[dim] = [
            {"rank": i + 1, "id": k, **_rate_row(r)}
            for i, (k, r) in enumerate(fx.rates_by(facts, dim))
        ]
    return out


def _mediation(m: fx.Mediation) -> dict[str, Any]:
    return {**asdict(m), "rate": m.rate}


def _person(p: fx.PersonStats) -> dict[str, Any]:
    return {
        **asdict(p),
        "on_time_rate": p.on_time_rate,
        "reopen_rate": p.reopen_rate,
    }


def _ranked(r: fx.Ranked) -> dict[str, Any]:
    t = r.terms
    return {
        "position": r.position,
        **_person(r.stats),
        "terms": {
            "on_time": t.on_time,
            "overdue": t.overdue,
            "reopen": t.reopen,
            "accept": t.accept,
        },
        "score": t.score,
    }


def _ranking(
    conn: psycopg.Connection[Any],
    setup: ReviewSetup,
    period: Period,
    facts: list[fx.CaseFact],
    as_of: datetime,
    now: datetime,
    whole: bool,
    record: bool,
) -> dict[str, Any]:
    cfg = setup.cadence.ranking
    stats = fx.people(facts, as_of, setup.span)
    ranking = fx.rank(stats, cfg.weights.weights(), cfg.min_cases)
    bottom = ranking.bottom(cfg.bottom)
    wrote = False
    if record and whole and period.complete(now):
        wrote = gather.record_named(conn, period.first_day, bottom, now)
    in_scope = {p.person for p in stats}
    named = [
        n
        for n in gather.named_at_least(conn, period.first_day, cfg.named_limit)
        if whole or n.person in in_scope
    ]
    return {
        "weights": cfg.weights.model_dump(),
        "min_cases": cfg.min_cases,
        "named_limit": cfg.named_limit,
        "bottom": [_ranked(r) for r in bottom],
        "ranked": [_ranked(r) for r in ranking.ranked],
        "not_ranked": [_person(p) for p in ranking.not_ranked],
        "recorded_now": wrote,
        "record": [
            {"person": p, "position": pos} for p, pos in gather.recorded(conn, period.first_day)
        ],
        "named_twice": [
            {
                "person": n.person,
                "name": n.name,
                "fortnights": [d.isoformat() for d in n.fortnights],
            }
            for n in named
        ],
    }


def town_devices(town: Town) -> dict[str, DeviceView]:
    """Each device's kind and the areas its unit lies in, for the daily patrol's list."""
    out = {}
    for d in town.devices.values():
        try:
            areas = frozenset(a.id for a in town.hierarchy.chain(d.unit))
        except KeyError:
            areas = frozenset()
        out[d.id] = DeviceView(d.kind, areas)
    return out


def town_names(town: Town, lang: str = "zh") -> dict[str, str]:
    """Names people read for the ids a report shows: areas, departments, people."""
    names = {a.id: a.name for a in town.hierarchy.areas.values()}
    names.update({d.id: d.name if lang == "zh" else d.name_en for d in town.departments.values()})
    names.update({p.id: p.name for p in town.people.values()})
    return names
