"""A scripted history for the report tests: cases opened by events and driven through
``dispatch.actions.act`` on a controlled clock, every step in time order."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from dispatch.actions import act
from dispatch.cadence.config import CadenceConfig
from dispatch.cadence.review import ReviewSetup
from dispatch.clock import ManualClock
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.conftest import TZ, TownFixture, insert_event


def units_in_distinct_villages(zhongmen: TownFixture, n: int) -> list[str]:
    """``n`` staffed units, each in its own village (cases never merge across villages)."""
    hier = zhongmen.town.hierarchy
    seen: dict[str, str] = {}
    for unit in hier.unit_ids:
        chain = hier.chain(unit)
        if chain[0].leader is None or chain[1].leader is None:
            continue
        seen.setdefault(chain[2].id, unit)
    units = list(seen.values())
    assert len(units) >= n
    return units[:n]


Step = Callable[[psycopg.Connection[Any], Context], None]


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    step: Step = field(compare=False)


@dataclass
class Script:
    """Steps at given times; :meth:`run` plays them in time order on the clock."""

    zhongmen: TownFixture
    queue: list[_Due] = field(default_factory=list)
    opened: list[tuple[datetime, str, str]] = field(default_factory=list)
    _seq: int = 0

    def at(self, when: datetime, step: Step) -> None:
        self._seq += 1
        heapq.heappush(self.queue, _Due(when, self._seq, step))

    def open_case(
        self,
        when: datetime,
        unit: str,
        category: str,
        severity: int,
        then: Callable[[Script, int, datetime], None] | None = None,
    ) -> None:
        """Open a case from an event in ``unit`` at ``when``; ``then(script, id, when)``
        schedules what happens to it."""
        lon, lat = self.zhongmen.point_in(unit)
        self.opened.append((when, unit, category))

        def step(conn: psycopg.Connection[Any], ctx: Context) -> None:
            before = _max_id(conn)
            insert_event(conn, ts=when, category=category, severity=severity, lon=lon, lat=lat)
            drain(conn, ctx)
            case_id = _max_id(conn)
            assert case_id > before, f"the {category} event in {unit} at {when} opened no case"
            if then is not None:
                then(self, case_id, when)

        self.at(when, step)

    def act(self, when: datetime, case_id: int, action: str, **kw: Any) -> None:
        actor = kw.pop("actor", "test-script")
        note = kw.pop("note", None)
        self.at(when, lambda conn, ctx: _act(conn, ctx, case_id, action, actor, note, kw))

    def run(self, conn: psycopg.Connection[Any], ctx: Context, clock: ManualClock) -> None:
        while self.queue:
            due = heapq.heappop(self.queue)
            clock.set(due.at)
            due.step(conn, ctx)


def _act(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    action: str,
    actor: str,
    note: str | None,
    kw: dict[str, Any],
) -> None:
    act(conn, ctx, case_id, action, actor, note, **kw)


def _max_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM cases").fetchone()
    assert row is not None
    return int(row[0])


def setup_for(ctx: Context, cadence: CadenceConfig | None = None) -> ReviewSetup:
    return ReviewSetup(tz=TZ, cadence=cadence or CadenceConfig(), deadlines=ctx.config.deadlines)


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def accepted_cases(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
    categories: tuple[str, ...],
) -> list[str]:
    """One case per category, each in its own village, opened from 09:00 on Tuesday 16
    September 2025 ten minutes apart and accepted five minutes later; their units."""
    units = units_in_distinct_villages(zhongmen, len(categories))
    s = Script(zhongmen)
    for i, (unit, category) in enumerate(zip(units, categories, strict=True)):
        s.open_case(
            local(2025, 9, 16, 9, 10 * i),
            unit,
            category,
            2,
            lambda s, c, t: s.act(t + minutes(5), c, "accept"),
        )
    s.run(conn, ctx, clock)
    return units
