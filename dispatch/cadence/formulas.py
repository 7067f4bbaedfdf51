"""The report's formulas, pure: counts, durations, the four rates, mediation, the ranking.

Every function takes :class:`CaseFact` rows (one case as it stood at the report's
as-of moment, built by ``gather``) and returns plain values; docs/reports.md says
the same in words, and tests check both against independent SQL.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatch.lifecycle import AWAITING_ACCEPT, OPEN_STATUSES, Status

#: Work done (the case was resolved and not sent back since).
DONE: frozenset[str] = frozenset({Status.RESOLVED, Status.VERIFIED, Status.CLOSED})
#: Not the unit's work to count: merged into another case, or refused as not ours.
EXCLUDED: frozenset[str] = frozenset({Status.DUPLICATE, Status.REJECTED})
#: The dimensions counts and rates are grouped by.
DIMENSIONS = ("unit", "grid", "village", "category", "department")
RATE_DIMENSIONS = ("unit", "grid", "village", "department")
MEDIATED = "mediated"
#: Scores are compared at this many decimals, so float noise never breaks a tie.
SCORE_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class CaseFact:
    """One case as it stood at the as-of moment ``T`` (history up to ``T`` only)."""

    id: int
    category: str
    unit_id: str | None
    grid_id: str | None
    village_id: str | None
    department_id: str | None
    assignee: str | None  # at T
    assignee_name: str | None
    opened_at: datetime
    opened_in: bool  # opened within the period
    closed_in: bool  # a history row took it to closed within the period
    status: str  # at T
    accept_by: datetime | None  # the deadlines in force at T
    resolve_by: datetime | None
    first_accept_by: datetime | None  # the accept deadline it was opened with
    first_accept_at: datetime | None  # before T
    last_resolve_at: datetime | None  # before T
    reworked: bool  # returned for rework, rated unsatisfied or reopened before T
    satisfied: bool | None  # the last follow-up before T; None when never followed up
    mediation_outcome: str | None  # of the last resolve before T
    working_time: bool  # its deadline rule counts working time only

    def key(self, dimension: str) -> str | None:
        if dimension == "category":
            return self.category
        value: str | None = getattr(self, f"{dimension}_id")
        return value


#: Minutes from ``start`` to ``end`` for a case: working minutes where its rule says so.
Span = Callable[[CaseFact, datetime, datetime], float]


def overdue(f: CaseFact, as_of: datetime) -> bool:
    """Open at ``as_of`` with the deadline in force passed: the accept deadline while it
    waits to be accepted, else the resolve deadline."""
    if f.status not in OPEN_STATUSES:
        return False
    deadline = f.accept_by if f.status in AWAITING_ACCEPT else f.resolve_by
    return deadline is not None and deadline < as_of


def late(f: CaseFact, as_of: datetime) -> bool:
    """Overdue now, or resolved after the resolve deadline in force (a person's overdue count)."""
    if overdue(f, as_of):
        return True
    return (
        f.status in DONE
        and f.last_resolve_at is not None
        and f.resolve_by is not None
        and f.last_resolve_at > f.resolve_by
    )


def in_base(f: CaseFact) -> bool:
    """The cases rates are computed over: opened in the period, not duplicate or rejected."""
    return f.opened_in and f.status not in EXCLUDED


def ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's ``percentile_cont``)."""
    if not values:
        return None
    xs = sorted(values)
    pos = p * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Counts:
    opened: int = 0
    open: int = 0
    overdue: int = 0
    closed: int = 0


def counts(facts: Iterable[CaseFact], as_of: datetime, dimension: str | None) -> dict[str, Counts]:
    """Opened and closed within the period; open and overdue at ``as_of``; by ``dimension``
    (``None``: one row, key ``"all"``). Cases without a value for it are under ``""``."""
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for f in facts:
        k = "all" if dimension is None else f.key(dimension) or ""
        row = acc[k]
        row[0] += f.opened_in
        row[1] += f.status in OPEN_STATUSES
        row[2] += overdue(f, as_of)
        row[3] += f.closed_in
    return {k: Counts(*v) for k, v in sorted(acc.items())}


@dataclass(frozen=True, slots=True)
class Durations:
    n: int
    median_min: float | None
    p90_min: float | None


def durations(values: Sequence[float]) -> Durations:
    return Durations(len(values), percentile(values, 0.5), percentile(values, 0.9))


def accept_times(facts: Iterable[CaseFact], span: Span) -> Durations:
    """Opening to first acceptance, for cases opened in the period and accepted by T."""
    return durations(
        [
            span(f, f.opened_at, f.first_accept_at)
            for f in facts
            if f.opened_in and f.first_accept_at
        ]
    )


def resolve_times(facts: Iterable[CaseFact], span: Span) -> Durations:
    """Opening to the last resolution, for cases opened in the period and resolved at T."""
    return durations(
        [
            span(f, f.opened_at, f.last_resolve_at)
            for f in facts
            if f.opened_in and f.status in DONE and f.last_resolve_at is not None
        ]
    )


@dataclass(frozen=True, slots=True)
class Rates:
    """The four rates of the 12345 hotline (接诉即办), with what each is computed over."""

    cases: int  # the base: opened in the period, not duplicate or rejected
    responded: int  # first accepted by the accept deadline it was opened with
    completed: int  # closed at T
    resolved: int  # resolved, verified or closed at T and never sent back before T
    rated: int  # followed up at least once before T
    satisfied: int  # the last follow-up was satisfied (rating >= 3)

    @property
    def response(self) -> float | None:
        return ratio(self.responded, self.cases)

    @property
    def completion(self) -> float | None:
        return ratio(self.completed, self.cases)

    @property
    def resolution(self) -> float | None:
        return ratio(self.resolved, self.cases)

    @property
    def satisfaction(self) -> float | None:
        return ratio(self.satisfied, self.rated)


def responded(f: CaseFact) -> bool:
    return (
        f.first_accept_at is not None
        and f.first_accept_by is not None
        and f.first_accept_at <= f.first_accept_by
    )


def rates(facts: Iterable[CaseFact]) -> Rates:
    base = [f for f in facts if in_base(f)]
    return Rates(
        cases=len(base),
        responded=sum(responded(f) for f in base),
        completed=sum(f.status == Status.CLOSED for f in base),
        resolved=sum(f.status in DONE and not f.reworked for f in base),
        rated=sum(f.satisfied is not None for f in base),
        satisfied=sum(f.satisfied is True for f in base),
    )


def rates_by(facts: Sequence[CaseFact], dimension: str) -> list[tuple[str, Rates]]:
    """Rates per value of ``dimension``, ranked: completion, then response, resolution and
    satisfaction, each higher first (no value counts as lowest), then the id."""
    groups: dict[str, list[CaseFact]] = defaultdict(list)
    for f in facts:
        k = f.key(dimension)
        if k is not None and in_base(f):
            groups[k].append(f)
    out = [(k, rates(v)) for k, v in groups.items()]

    def order(item: tuple[str, Rates]) -> tuple[float, float, float, float, str]:
        r = item[1]
        return (
            -_or_low(r.completion),
            -_or_low(r.response),
            -_or_low(r.resolution),
            -_or_low(r.satisfaction),
            item[0],
        )

    return sorted(out, key=order)


def _or_low(x: float | None) -> float:
    return -1.0 if x is None else x


@dataclass(frozen=True, slots=True)
class Mediation:
    disputes: int  # dispute cases in the base
    with_outcome: int  # of them, resolved with an outcome recorded
    mediated: int  # the outcome was 'mediated' (调解成功)

    @property
    def rate(self) -> float | None:
        return ratio(self.mediated, self.with_outcome)


def mediation(facts: Iterable[CaseFact]) -> Mediation:
    disputes = [f for f in facts if in_base(f) and f.category == "dispute"]
    return Mediation(
        disputes=len(disputes),
        with_outcome=sum(f.mediation_outcome is not None for f in disputes),
        mediated=sum(f.mediation_outcome == MEDIATED for f in disputes),
    )


def on_time(f: CaseFact) -> bool:
    """Closed at T, its last resolution by the resolve deadline in force."""
    return (
        f.status == Status.CLOSED
        and f.last_resolve_at is not None
        and f.resolve_by is not None
        and f.last_resolve_at <= f.resolve_by
    )


@dataclass(frozen=True, slots=True)
class PersonStats:
    person: str
    name: str | None
    cases: int  # handled: base cases whose assignee at T is this person
    on_time: int
    overdue: int  # late(): overdue at T, or resolved after the deadline
    reworked: int
    accept_hours: float  # mean hours from opening to first acceptance (or to T if none)

    @property
    def on_time_rate(self) -> float:
        return self.on_time / self.cases

    @property
    def reopen_rate(self) -> float:
        return self.reworked / self.cases


def people(facts: Iterable[CaseFact], as_of: datetime, span: Span) -> list[PersonStats]:
    """Per assignee at T, over the base cases; ordered by person id."""
    groups: dict[str, list[CaseFact]] = defaultdict(list)
    for f in facts:
        if f.assignee is not None and in_base(f):
            groups[f.assignee].append(f)
    out = []
    for person, cases in sorted(groups.items()):
        waits = [span(f, f.opened_at, f.first_accept_at or as_of) / 60 for f in cases]
        out.append(
            PersonStats(
                person=person,
                name=cases[0].assignee_name,
                cases=len(cases),
                on_time=sum(on_time(f) for f in cases),
                overdue=sum(late(f, as_of) for f in cases),
                reworked=sum(f.reworked for f in cases),
                accept_hours=sum(waits) / len(waits),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Weights:
    on_time_rate: float
    overdue: float
    reopen_rate: float
    accept_hours: float


@dataclass(frozen=True, slots=True)
class Terms:
    """A score, term by term: ``score = on_time - overdue - reopen - accept``."""

    on_time: float  # + w_on_time x on-time closure rate
    overdue: float  # - w_overdue x overdue count
    reopen: float  # - w_reopen x reopen rate
    accept: float  # - w_accept x mean hours to accept

    @property
    def score(self) -> float:
        return round(self.on_time - self.overdue - self.reopen - self.accept, SCORE_DECIMALS)


def terms(p: PersonStats, w: Weights) -> Terms:
    return Terms(
        on_time=w.on_time_rate * p.on_time_rate,
        overdue=w.overdue * p.overdue,
        reopen=w.reopen_rate * p.reopen_rate,
        accept=w.accept_hours * p.accept_hours,
    )


@dataclass(frozen=True, slots=True)
class Ranked:
    stats: PersonStats
    terms: Terms
    position: int  # 1 is the lowest


@dataclass(frozen=True, slots=True)
class Ranking:
    ranked: list[Ranked]  # lowest first
    not_ranked: list[PersonStats]  # fewer cases than the minimum

    def bottom(self, n: int) -> list[Ranked]:
        return self.ranked[:n]


def bottom_key(r: tuple[PersonStats, Terms]) -> tuple[float, int, float, str]:
    """Lowest first: the score; on equal scores more overdue cases, then a lower on-time
    rate, then the person id in ascending order."""
    p, t = r
    return (t.score, -p.overdue, p.on_time_rate, p.person)


def rank(stats: Iterable[PersonStats], w: Weights, min_cases: int) -> Ranking:
    scored = [(p, terms(p, w)) for p in stats if p.cases >= min_cases]
    order = sorted(scored, key=bottom_key)
    return Ranking(
        ranked=[Ranked(p, t, i + 1) for i, (p, t) in enumerate(order)],
        not_ranked=[p for p in stats if p.cases < min_cases],
    )


def per_day(
    facts: Iterable[CaseFact], days: Sequence[str], local_day: Callable[[datetime], str]
) -> dict[str, dict[str, int]]:
    """Cases opened per local day, by category: ``{category: {day: n}}``."""
    out: dict[str, dict[str, int]] = {}
    for f in facts:
        if f.opened_in:
            row = out.setdefault(f.category, dict.fromkeys(days, 0))
            d = local_day(f.opened_at)
            if d in row:
                row[d] += 1
    return dict(sorted(out.items()))


def on_time_by(facts: Iterable[CaseFact], dimension: str) -> dict[str, float | None]:
    """Share of base cases closed on time, by ``dimension`` (the chart's on-time rate)."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in facts:
        k = f.key(dimension)
        if k is not None and in_base(f):
            groups[k][0] += on_time(f)
            groups[k][1] += 1
    return {k: ratio(a, b) for k, (a, b) in sorted(groups.items())}
