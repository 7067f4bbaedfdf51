"""Open or join cases for a batch of events in one transaction, with few round trips.

The batch reads the open cases and event holders it needs once, decides every
item in Python (pure merge logic), buffers its writes, and sends them as one
multi-row statement per table. Valid because the caller holds the advisory
locks of every (category, village) in the batch, which case actions take too:
nobody else opens, merges into or changes the status of those cases until commit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch import deadlines, merge, parked, pending
from dispatch.errors import CalendarNotCovered
from dispatch.lifecycle import OPEN_STATUSES, Status
from dispatch.notify import Notice, render
from dispatch.observe import lags
from dispatch.routing import Problem, Route, route_many
from dispatch.rows import (
    CaseEventRow,
    HistoryRow,
    Incoming,
    NewCase,
    OpenCase,
    ParticipantRow,
    QueuedEvent,
    ReminderRow,
    as_columns,
    insert_sql,
)
from dispatch.store import Context, lock_key, push_live, take_locks
from dispatch.tell import Told, told_on_open
from gridwatch.domain import Level

log = logging.getLogger(__name__)

_OPEN = sorted(s.value for s in OPEN_STATUSES)

# Only cases that could be near some item: its unit, or a box around its point.
_NEAR = """
SELECT DISTINCT c.id, c.category, c.status, c.unit_id, c.lon, c.lat, c.last_event_at,
       c.village_id
FROM cases c
JOIN unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::float8[],
            %b::float8[], %b::float8[], %b::float8[]) AS b(cat, vil, unit, since, x0, x1, y0, y1)
  ON c.category = b.cat AND coalesce(c.village_id, '') = b.vil
 AND c.last_event_at >= b.since
 AND (c.unit_id = b.unit OR (c.lon BETWEEN b.x0 AND b.x1 AND c.lat BETWEEN b.y0 AND b.y1))
WHERE c.status = ANY(%b)
ORDER BY c.id
"""

_INSERT_CASES = insert_sql("cases", NewCase)
_INSERT_EVENTS = insert_sql("case_events", CaseEventRow, "ON CONFLICT DO NOTHING")
_INSERT_HISTORY = insert_sql("case_history", HistoryRow, "ORDER BY 1, 2")
_INSERT_PARTICIPANTS = insert_sql("case_participants", ParticipantRow, "ON CONFLICT DO NOTHING")
_INSERT_REMINDERS = insert_sql("case_reminders", ReminderRow, "ON CONFLICT DO NOTHING")


@dataclass(frozen=True, slots=True)
class _Box:
    """Where an item's open cases can be: its category, village, unit and map box."""

    category: str
    village: str
    unit: str | None
    since: datetime
    x0: float | None
    x1: float | None
    y0: float | None
    y1: float | None


@dataclass(frozen=True, slots=True)
class _Recurrence:
    """Events merged into an existing case within this batch."""

    count: int
    last: datetime
    severity: int


def _box(ctx: Context, item: Incoming, r: Route) -> _Box:
    rule = ctx.config.merge.rule(item.category)
    since = item.at - timedelta(minutes=rule.window_min)
    village = r.village_id or ""
    if item.lon is None or item.lat is None:
        return _Box(item.category, village, r.unit_id, since, None, None, None, None)
    reach = rule.distance_m / 111_195.0 + 1e-6
    reach_lon = reach / max(math.cos(math.radians(item.lat)), 1e-6)
    return _Box(
        item.category,
        village,
        r.unit_id,
        since,
        item.lon - reach_lon,
        item.lon + reach_lon,
        item.lat - reach,
        item.lat + reach,
    )


def _key(case: OpenCase) -> tuple[str, str]:
    return (case.category, case.village_id or "")


class Batch:
    """Decides per item, buffers, writes once (see the module docstring).

    Built from what :meth:`read` fetched: the open cases near the items and the
    cases already holding their events.
    """

    def __init__(
        self, ctx: Context, open_cases: Iterable[OpenCase], holders: Mapping[UUID, int]
    ) -> None:
        self.ctx = ctx
        self.open: dict[tuple[str, str], merge.OpenIndex] = {}
        for case in open_cases:
            self.open.setdefault(_key(case), merge.OpenIndex()).put(case)
        self.holder: dict[UUID, int] = dict(holders)
        self.touched: set[int] = set()
        self.cases: list[NewCase] = []
        self.merged: dict[int, _Recurrence] = {}
        self.seen: dict[int, datetime] = {}  # update/end: id -> last event time
        self.case_events: list[CaseEventRow] = []
        self.history: list[HistoryRow] = []
        self.participants: list[ParticipantRow] = []
        self.reminders: list[ReminderRow] = []

    @classmethod
    def read(
        cls, conn: psycopg.Connection[Any], ctx: Context, items: Sequence[tuple[Incoming, Route]]
    ) -> Batch:
        """One round trip for the open cases near ``items``, one for their events' holders."""
        if not items:
            return cls(ctx, (), {})
        boxes = [_box(ctx, item, r) for item, r in items]
        with conn.cursor(row_factory=class_row(OpenCase)) as cur:
            near = cur.execute(_NEAR, (*as_columns(boxes, _Box), _OPEN)).fetchall()
        holders: dict[UUID, int] = {}
        ids = [item.event_id for item, _ in items if item.event_id is not None]
        if ids:
            for event_id, case_id in conn.execute(
                "SELECT event_id, case_id FROM case_events WHERE event_id = ANY(%s)", (ids,)
            ):
                holders[event_id] = int(case_id)
        return cls(ctx, near, holders)

    # ------------------------------------------------------------------ decisions

    def place(self, item: Incoming, r: Route) -> int:
        """The case ``item`` belongs to: the one holding its event, a nearby open one, or new.

        ``item.unit_id`` is the routed unit (``r.unit_id``).
        """
        now = self.ctx.clock.now()
        if item.event_id is not None and item.event_id in self.holder:
            # update/end (or a start after its update) join the case holding the event.
            case_id = self.holder[item.event_id]
            self._attach(case_id, item, now)
            self.seen[case_id] = max(self.seen.get(case_id, item.at), item.at)
            self._history(
                case_id,
                now,
                f"event_{item.phase}",
                None,
                None,
                None,
                {"event_id": str(item.event_id), "snapshots": list(item.snapshots)},
            )
            return case_id
        rule = self.ctx.config.merge.rule(item.category)
        index = self.open.get((item.category, r.village_id or ""))
        chosen = index.choose(item, rule) if index is not None else None
        if chosen is not None:
            before = self.merged.get(chosen.id, _Recurrence(0, chosen.last_event_at, 4))
            self.merged[chosen.id] = _Recurrence(
                before.count + 1, max(before.last, item.at), min(before.severity, item.severity)
            )
            self._attach(chosen.id, item, now)
            what = f"event {item.event_id}" if item.event_id else f"report by {item.raised_by}"
            self._history(
                chosen.id,
                now,
                "merged",
                None,
                None,
                what,
                {
                    "event_id": str(item.event_id) if item.event_id else None,
                    "source": item.source,
                    "description": item.description,
                    "snapshots": list(item.snapshots),
                },
            )
            self._remember(
                dataclasses.replace(chosen, last_event_at=max(chosen.last_event_at, item.at))
            )
            return chosen.id
        return self._create(item, r, now)

    def _create(self, item: Incoming, r: Route, now: datetime) -> int:
        ctx = self.ctx
        dl = deadlines.compute(
            ctx.config.deadlines, item.category, item.severity, now, ctx.tz, ctx.config.calendar
        )
        status = Status.ASSIGNED if r.assignee else Status.NEW
        # A temporary (negative) id; real ids come in one round trip at flush.
        case_id = -(len(self.cases) + 1)
        self.cases.append(
            NewCase(
                id=case_id,
                source=item.source,
                category=item.category,
                severity=item.severity,
                status=status.value,
                summary=item.summary,
                description=item.description,
                lon=item.lon,
                lat=item.lat,
                unit_id=r.unit_id,
                grid_id=r.grid_id,
                village_id=r.village_id,
                town_id=r.town_id,
                department_id=r.department_id,
                assignee=r.assignee,
                assignee_name=r.assignee_name,
                assignee_area=r.assignee_area,
                route_note=r.note or None,
                raised_by=item.raised_by,
                device_id=item.device_id,
                opened_at=now,
                first_event_at=item.at,
                last_event_at=item.at,
                accept_by=dl.accept_by,
                resolve_by=dl.resolve_by,
                next_escalation_at=dl.accept_by,
                updated_at=now,
            )
        )
        self._attach(case_id, item, now)
        self._history(
            case_id,
            now,
            "created",
            None,
            Status.NEW.value,
            r.note or None,
            {
                "source": item.source,
                "event_id": str(item.event_id) if item.event_id else None,
                "accept_by": dl.accept_by.isoformat(),
                "resolve_by": dl.resolve_by.isoformat(),
                "snapshots": list(item.snapshots),
            },
        )
        if r.assignee:
            level = r.assignee_level or Level.UNIT
            self._history(
                case_id,
                now,
                "assigned",
                Status.NEW.value,
                status.value,
                f"{level.id} {r.assignee_area} leader {r.assignee_name}",
                {"assignee": r.assignee, "area": r.assignee_area, "level": int(level)},
            )
            self.participants.append(
                ParticipantRow(
                    case_id, r.assignee, r.assignee_name, "leader", r.assignee_area, int(level), now
                )
            )
            for kind, deadline in (("accept", dl.accept_by), ("resolve", dl.resolve_by)):
                for due in deadlines.reminder_times(now, deadline, ctx.config.deadlines):
                    self.reminders.append(ReminderRow(case_id, kind, due, deadline))
        self._remember(
            OpenCase(
                case_id,
                item.category,
                status.value,
                r.unit_id,
                item.lon,
                item.lat,
                item.at,
                r.village_id,
            )
        )
        return case_id

    # ------------------------------------------------------------------ buffers

    def _attach(self, case_id: int, item: Incoming, now: datetime) -> None:
        if item.event_id is not None:
            self.case_events.append(CaseEventRow(item.event_id, item.ts, case_id, item.phase, now))
            self.holder[item.event_id] = case_id

    def _history(
        self,
        case_id: int,
        at: datetime,
        action: str,
        from_status: str | None,
        to_status: str | None,
        note: str | None,
        data: dict[str, Any],
    ) -> None:
        self.history.append(
            HistoryRow(case_id, at, "dispatcher", action, from_status, to_status, note, Jsonb(data))
        )

    def _remember(self, case: OpenCase) -> None:
        self.open.setdefault(_key(case), merge.OpenIndex()).put(case)
        self.touched.add(case.id)

    def _assign_ids(self, conn: psycopg.Connection[Any]) -> dict[int, int]:
        """Real ids for the cases opened in this batch, in opening order, one round trip."""
        if not self.cases:
            return {}
        rows = conn.execute(
            "SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, %s)",
            (len(self.cases),),
        ).fetchall()
        ids = sorted(int(r[0]) for r in rows)
        return {-(k + 1): ids[k] for k in range(len(self.cases))}

    # ------------------------------------------------------------------ write

    def _opening_notices(self, case: NewCase) -> list[Notice]:
        """The notices that announce a new case (``dispatch.tell``)."""
        town = self.ctx.town
        told = told_on_open(
            self.ctx.config.tell,
            category=case.category,
            assignee=case.assignee,
            assignee_name=case.assignee_name,
            department_id=case.department_id,
            device_id=case.device_id,
            departments=town.departments,
            devices=town.devices,
            people=town.people,
        )
        return [_opening_notice(case, t) for t in told]

    def flush(self, conn: psycopg.Connection[Any]) -> dict[int, int]:
        """Write everything decided, one statement per table, then push the cases live.

        Returns the real id of each temporary id handed out by :meth:`place`.
        """
        now = self.ctx.clock.now()
        real = self._assign_ids(conn)
        cases: list[NewCase] = [dataclasses.replace(c, id=real[c.id]) for c in self.cases]
        merged = {real.get(k, k): v for k, v in self.merged.items()}
        seen = {real.get(k, k): v for k, v in self.seen.items()}
        self.holder = {e: real.get(c, c) for e, c in self.holder.items()}
        notices = [n for case in cases for n in self._opening_notices(case)]
        if cases:
            conn.execute(_INSERT_CASES, as_columns(cases, NewCase))
        if merged:
            ids = list(merged)
            conn.execute(
                "UPDATE cases c SET recurrence = c.recurrence + m.n, updated_at = %s,"
                " last_event_at = GREATEST(c.last_event_at, m.last),"
                " severity = LEAST(c.severity, m.sev)"
                " FROM unnest(%b::bigint[], %b::int[], %b::timestamptz[], %b::smallint[])"
                " AS m(id, n, last, sev) WHERE c.id = m.id",
                (now, ids, *as_columns([merged[i] for i in ids], _Recurrence)),
            )
        if seen:
            ids = list(seen)
            conn.execute(
                "UPDATE cases c SET last_event_at = GREATEST(c.last_event_at, m.last),"
                " updated_at = %s FROM unnest(%b::bigint[], %b::timestamptz[]) AS m(id, last)"
                " WHERE c.id = m.id",
                (now, ids, [seen[i] for i in ids]),
            )
        by_case = ("case_id", real)
        for statement, rows, row_type in (
            (_INSERT_EVENTS, self.case_events, CaseEventRow),
            (_INSERT_HISTORY, self.history, HistoryRow),
            (_INSERT_PARTICIPANTS, self.participants, ParticipantRow),
            (_INSERT_REMINDERS, self.reminders, ReminderRow),
        ):
            if rows:
                conn.execute(statement, as_columns(rows, row_type, by_case))
        if notices:
            self.ctx.notifier.send_many(conn, notices, now)
        push_live(conn, {real.get(k, k) for k in self.touched})
        for buf in (
            self.cases,
            self.case_events,
            self.history,
            self.participants,
            self.reminders,
        ):
            buf.clear()
        self.merged.clear()
        self.seen.clear()
        self.touched.clear()
        return real


def _opening_notice(case: NewCase, told: Told) -> Notice:
    # A new case has both deadlines; the type is the stored row's, whose columns allow None.
    assert case.accept_by and case.resolve_by
    title, body = render(told.kind, case.id, case.category)
    return Notice(
        told.person,
        told.name,
        told.kind,
        case.id,
        f"case:{case.id}:{told.kind}:{told.person}",
        title,
        body,
        {"accept_by": case.accept_by.isoformat(), "resolve_by": case.resolve_by.isoformat()},
    )


def open_or_join(conn: psycopg.Connection[Any], ctx: Context, item: Incoming, r: Route) -> int:
    """One item on its own (a report): the caller holds its advisory lock."""
    item = dataclasses.replace(item, unit_id=r.unit_id)
    batch = Batch.read(conn, ctx, [(item, r)])
    case_id = batch.place(item, r)
    return batch.flush(conn).get(case_id, case_id)


# --------------------------------------------------------------------------- the queue


def incoming_from_row(row: QueuedEvent) -> Incoming | None:
    """The queued event as an item to place; None when its stored event is gone."""
    if row.category is None or row.severity is None or row.phase is None:
        return None
    # A box with a wrong clock: merge windows use the server's receive time.
    at = row.received_at if row.clock_skewed and row.received_at is not None else row.ts
    return Incoming(
        category=row.category,
        severity=row.severity,
        at=at,
        lon=row.lon,
        lat=row.lat,
        unit_id=row.unit_id,
        summary=row.summary or row.rule,
        source="event",
        event_id=row.event_id,
        ts=row.ts,
        phase=row.phase,
        device_id=row.device_id,
        snapshots=tuple(h for h in (row.snapshot_sha256, row.crop_sha256) if h),
    )


def dispatch_batch(conn: psycopg.Connection[Any], ctx: Context, limit: int = 100) -> int:
    """Take up to ``limit`` queued events, turn each into a case or a merge; return how many.

    The claimed slices are marked dispatched in the same transaction that writes the
    cases (``dispatch.pending``), so a dispatcher killed at any point loses and
    duplicates nothing. An event whose new case would need a deadline past the working
    calendar is parked instead (``dispatch.parked``).
    """
    with conn.transaction():
        claims, rows = pending.claim(conn, limit)
        if not rows:
            return 0
        found: list[Incoming] = []
        for row in rows:
            item = incoming_from_row(row)
            if item is None:
                log.warning(
                    "queued event %s at %s has no stored event; dropped",
                    row.event_id,
                    row.ts,
                    extra={"event_id": row.event_id},
                )
                continue
            found.append(item)
        routes = route_many(ctx.town, [Problem(i.category, i.lon, i.lat, i.unit_id) for i in found])
        items = [
            (dataclasses.replace(item, unit_id=r.unit_id), r)
            for item, r in zip(found, routes, strict=True)
        ]
        # Sorted locks: two dispatchers with overlapping batches never deadlock.
        take_locks(conn, [lock_key(item.category, r.village_id, r.unit_id) for item, r in items])
        batch = Batch.read(conn, ctx, items)
        set_aside: list[tuple[UUID, datetime, CalendarNotCovered]] = []
        for item, r in items:
            try:
                batch.place(item, r)
            except CalendarNotCovered as exc:
                # Raised before place() buffers anything: the batch stays whole.
                assert item.event_id is not None and item.ts is not None
                set_aside.append((item.event_id, item.ts, exc))
        opened = [case.category for case in batch.cases]
        batch.flush(conn)
        if set_aside:
            parked.park(conn, set_aside, ctx.clock.now())
        pending.finish(conn, claims)
    ctx.observer.dispatched(lags(rows, ctx.clock.now()))
    ctx.observer.opened(opened)
    return len(rows)
