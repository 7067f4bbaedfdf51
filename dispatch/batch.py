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
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from dispatch import deadlines, merge, pending
from dispatch.lifecycle import OPEN_STATUSES, Status
from dispatch.notify import Notice, render
from dispatch.routing import LEVELS, Problem, Route, route
from dispatch.store import Context, Incoming, lock_key, push_live, take_locks

log = logging.getLogger(__name__)

_OPEN = sorted(s.value for s in OPEN_STATUSES)
_CASE_COLS = (
    "id, source, category, severity, status, summary, description, lon, lat, unit_id, grid_id,"
    " village_id, town_id, department_id, assignee, assignee_name, assignee_area, route_note,"
    " raised_by, device_id, opened_at, first_event_at, last_event_at, accept_by, resolve_by,"
    " next_escalation_at, updated_at"
)
_CASE_TYPES = (
    "bigint[], text[], text[], smallint[], text[], text[], text[], float8[], float8[], text[],"
    " text[], text[], text[], text[], text[], text[], text[], text[], text[], text[],"
    " timestamptz[], timestamptz[], timestamptz[], timestamptz[], timestamptz[], timestamptz[],"
    " timestamptz[]"
)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


class Batch:
    """Reads once, decides per item, writes once (see the module docstring)."""

    def __init__(
        self, conn: psycopg.Connection[Any], ctx: Context, items: Sequence[tuple[Incoming, Route]]
    ) -> None:
        self.ctx = ctx
        self.open: dict[tuple[str, str], merge.OpenIndex] = {}
        self.holder: dict[UUID, int] = {}
        self.touched: set[int] = set()
        self.assign_notices: list[tuple[Any, ...]] = []
        self.cases: list[tuple[Any, ...]] = []
        self.merged: dict[int, tuple[int, datetime, int]] = {}  # id -> (count, last, severity)
        self.seen: dict[int, datetime] = {}  # update/end: id -> last event time
        self.case_events: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []
        self.participants: list[tuple[Any, ...]] = []
        self.notices: list[Notice] = []
        self.reminders: list[tuple[Any, ...]] = []
        if not items:
            return
        # Only cases that could be near some item: its unit, or a box around its point.
        boxes = []
        for item, r in items:
            rule = ctx.config.merge.rule(item.category)
            since = item.at - timedelta(minutes=rule.window_min)
            if item.lon is not None and item.lat is not None:
                reach = rule.distance_m / 111_195.0 + 1e-6
                reach_lon = reach / max(math.cos(math.radians(item.lat)), 1e-6)
                box = (
                    item.lon - reach_lon,
                    item.lon + reach_lon,
                    item.lat - reach,
                    item.lat + reach,
                )
            else:
                box = (None, None, None, None)  # type: ignore[assignment]
            boxes.append((item.category, r.village_id or "", r.unit_id, since, *box))
        rows = conn.execute(
            "SELECT DISTINCT c.id, c.category, c.status, c.unit_id, c.lon, c.lat,"
            " c.last_event_at, coalesce(c.village_id, '') FROM cases c"
            " JOIN unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::float8[],"
            " %b::float8[], %b::float8[], %b::float8[]) AS b(cat, vil, unit, since, x0, x1, y0, y1)"
            " ON c.category = b.cat AND coalesce(c.village_id, '') = b.vil"
            " AND c.last_event_at >= b.since"
            " AND (c.unit_id = b.unit"
            "      OR (c.lon BETWEEN b.x0 AND b.x1 AND c.lat BETWEEN b.y0 AND b.y1))"
            " WHERE c.status = ANY(%b)"
            " ORDER BY c.id",
            (*_columns(boxes, 8), _OPEN),
        ).fetchall()
        for row in rows:
            self.open.setdefault((row[1], row[7]), merge.OpenIndex()).put(merge.OpenCase(*row[:7]))
        ids = [item.event_id for item, _ in items if item.event_id is not None]
        if ids:
            for event_id, case_id in conn.execute(
                "SELECT event_id, case_id FROM case_events WHERE event_id = ANY(%s)", (ids,)
            ):
                self.holder[event_id] = int(case_id)

    # ------------------------------------------------------------------ decisions

    def place(self, conn: psycopg.Connection[Any], item: Incoming, r: Route) -> int:
        """The case ``item`` belongs to: the one holding its event, a nearby open one, or new."""
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
                {"event_id": str(item.event_id)},
            )
            return case_id
        rule = self.ctx.config.merge.rule(item.category)
        incoming = merge.Incoming(item.category, r.unit_id, item.lon, item.lat, item.at)
        key = (item.category, r.village_id or "")
        index = self.open.get(key)
        chosen = index.choose(incoming, rule) if index is not None else None
        if chosen is not None:
            count, last, severity = self.merged.get(chosen.id, (0, chosen.last_event_at, 4))
            self.merged[chosen.id] = (count + 1, max(last, item.at), min(severity, item.severity))
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
                },
            )
            self._remember(
                dataclasses.replace(chosen, last_event_at=max(chosen.last_event_at, item.at)), key
            )
            return chosen.id
        return self._create(conn, item, r, now, key)

    def _create(
        self,
        conn: psycopg.Connection[Any],
        item: Incoming,
        r: Route,
        now: datetime,
        key: tuple[str, str],
    ) -> int:
        ctx = self.ctx
        dl = deadlines.compute(ctx.config.deadlines, item.category, item.severity, now, ctx.tz)
        status = Status.ASSIGNED if r.assignee else Status.NEW
        # A temporary (negative) id; real ids come in one round trip at flush.
        case_id = -(len(self.cases) + 1)
        self.cases.append(
            (
                case_id,
                item.source,
                item.category,
                item.severity,
                status.value,
                item.summary,
                item.description,
                item.lon,
                item.lat,
                r.unit_id,
                r.grid_id,
                r.village_id,
                r.town_id,
                r.department_id,
                r.assignee,
                r.assignee_name,
                r.assignee_area,
                r.note or None,
                item.raised_by,
                item.device_id,
                now,
                item.at,
                item.at,
                dl.accept_by,
                dl.resolve_by,
                dl.accept_by,
                now,
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
            },
        )
        if r.assignee:
            level = r.assignee_level or 0
            self._history(
                case_id,
                now,
                "assigned",
                Status.NEW.value,
                status.value,
                f"{LEVELS[level]} {r.assignee_area} leader {r.assignee_name}",
                {"assignee": r.assignee, "area": r.assignee_area, "level": level},
            )
            self.participants.append(
                (case_id, r.assignee, r.assignee_name, "leader", r.assignee_area, level, now)
            )
            self.assign_notices.append(
                (case_id, r.assignee, r.assignee_name, item.category, dl.accept_by, dl.resolve_by)
            )
            for kind, deadline in (("accept", dl.accept_by), ("resolve", dl.resolve_by)):
                for due in deadlines.reminder_times(now, deadline, ctx.config.deadlines):
                    self.reminders.append((case_id, kind, due, deadline))
        self._remember(
            merge.OpenCase(
                case_id, item.category, status.value, r.unit_id, item.lon, item.lat, item.at
            ),
            key,
        )
        return case_id

    # ------------------------------------------------------------------ buffers

    def _attach(self, case_id: int, item: Incoming, now: datetime) -> None:
        if item.event_id is not None:
            self.case_events.append((item.event_id, item.ts, case_id, item.phase, now))
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
            (case_id, at, "dispatcher", action, from_status, to_status, note, Jsonb(data))
        )

    def _remember(self, case: merge.OpenCase, key: tuple[str, str]) -> None:
        self.open.setdefault(key, merge.OpenIndex()).put(case)
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

    def flush(self, conn: psycopg.Connection[Any]) -> dict[int, int]:
        """Write everything decided, one statement per table, then push the cases live.

        Returns the real id of each temporary id handed out by :meth:`place`.
        """
        now = self.ctx.clock.now()
        real = self._assign_ids(conn)

        def fix(rows: list[tuple[Any, ...]], col: int) -> list[tuple[Any, ...]]:
            return [(*r[:col], real.get(r[col], r[col]), *r[col + 1 :]) for r in rows]

        self.cases = fix(self.cases, 0)
        self.case_events = fix(self.case_events, 2)
        self.history = fix(self.history, 0)
        self.participants = fix(self.participants, 0)
        self.reminders = fix(self.reminders, 0)
        self.merged = {real.get(k, k): v for k, v in self.merged.items()}
        self.seen = {real.get(k, k): v for k, v in self.seen.items()}
        self.touched = {real.get(k, k) for k in self.touched}
        self.holder = {e: real.get(c, c) for e, c in self.holder.items()}
        for temp_id, person, name, category, accept_by, resolve_by in self.assign_notices:
            case_id = real.get(temp_id, temp_id)
            title, body = render("assigned", case_id, category)
            self.notices.append(
                Notice(
                    person,
                    name,
                    "assigned",
                    case_id,
                    f"case:{case_id}:assigned:{person}",
                    title,
                    body,
                    {"accept_by": accept_by.isoformat(), "resolve_by": resolve_by.isoformat()},
                )
            )
        self.assign_notices.clear()
        if self.cases:
            conn.execute(
                f"INSERT INTO cases ({_CASE_COLS}) OVERRIDING SYSTEM VALUE"
                f" SELECT * FROM unnest({', '.join(f'%b::{t}' for t in _CASE_TYPES.split(', '))})",
                _columns(self.cases, 27),
            )
        if self.merged:
            ids = list(self.merged)
            conn.execute(
                "UPDATE cases c SET recurrence = c.recurrence + m.n, updated_at = %s,"
                " last_event_at = GREATEST(c.last_event_at, m.last),"
                " severity = LEAST(c.severity, m.sev)"
                " FROM unnest(%b::bigint[], %b::int[], %b::timestamptz[], %b::smallint[])"
                " AS m(id, n, last, sev) WHERE c.id = m.id",
                (now, ids, *_columns([self.merged[i] for i in ids], 3)),
            )
        if self.seen:
            ids = list(self.seen)
            conn.execute(
                "UPDATE cases c SET last_event_at = GREATEST(c.last_event_at, m.last),"
                " updated_at = %s FROM unnest(%b::bigint[], %b::timestamptz[]) AS m(id, last)"
                " WHERE c.id = m.id",
                (now, ids, [self.seen[i] for i in ids]),
            )
        if self.case_events:
            conn.execute(
                "INSERT INTO case_events (event_id, ts, case_id, phase, attached_at)"
                " SELECT * FROM unnest(%b::uuid[], %b::timestamptz[], %b::bigint[], %b::text[],"
                " %b::timestamptz[]) ON CONFLICT DO NOTHING",
                _columns(self.case_events, 5),
            )
        if self.history:
            conn.execute(
                "INSERT INTO case_history"
                " (case_id, at, actor, action, from_status, to_status, note, data)"
                " SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::text[],"
                " %b::text[], %b::text[], %b::text[], %b::jsonb[]) ORDER BY 1, 2",
                _columns(self.history, 8),
            )
        if self.participants:
            conn.execute(
                "INSERT INTO case_participants"
                " (case_id, person, name, role, area_id, level, added_at)"
                " SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[],"
                " %b::text[], %b::smallint[], %b::timestamptz[]) ON CONFLICT DO NOTHING",
                _columns(self.participants, 7),
            )
        if self.reminders:
            conn.execute(
                "INSERT INTO case_reminders (case_id, kind, due_at, deadline)"
                " SELECT * FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[],"
                " %b::timestamptz[]) ON CONFLICT DO NOTHING",
                _columns(self.reminders, 4),
            )
        if self.notices:
            self.ctx.notifier.send_many(conn, self.notices, now)
        push_live(conn, self.touched)
        for buf in (
            self.cases,
            self.case_events,
            self.history,
            self.participants,
            self.notices,
            self.reminders,
        ):
            buf.clear()
        self.merged.clear()
        self.seen.clear()
        self.touched.clear()
        return real


def open_or_join(conn: psycopg.Connection[Any], ctx: Context, item: Incoming, r: Route) -> int:
    """One item on its own (a report): the caller holds its advisory lock."""
    batch = Batch(conn, ctx, [(item, r)])
    case_id = batch.place(conn, item, r)
    return batch.flush(conn).get(case_id, case_id)


# --------------------------------------------------------------------------- the queue


def incoming_from_row(row: dict[str, Any]) -> Incoming:
    # A box with a wrong clock: merge windows use the server's receive time.
    at = row["received_at"] if row["clock_skewed"] else row["ts"]
    return Incoming(
        category=row["category"],
        severity=int(row["severity"]),
        at=at,
        lon=row["lon"],
        lat=row["lat"],
        unit_id=row["unit_id"],
        summary=row["summary"] or row["rule"],
        source="event",
        event_id=row["event_id"],
        ts=row["ts"],
        phase=row["phase"],
        device_id=row["device_id"],
    )


def dispatch_batch(conn: psycopg.Connection[Any], ctx: Context, limit: int = 100) -> int:
    """Take up to ``limit`` queued events, turn each into a case or a merge; return how many.

    The claimed slices are marked dispatched in the same transaction that writes the
    cases (``dispatch.pending``), so a dispatcher killed at any point loses and
    duplicates nothing.
    """
    with conn.transaction():
        claims, rows = pending.claim(conn, limit)
        if not rows:
            return 0
        items: list[tuple[Incoming, Route]] = []
        for row in rows:
            if row["category"] is None:
                log.warning(
                    "queued event %s at %s has no stored event; dropped",
                    row["event_id"],
                    row["ts"],
                )
                continue
            item = incoming_from_row(row)
            problem = Problem(item.category, item.lon, item.lat, item.unit_id)
            items.append((item, route(ctx.town, problem)))
        # Sorted locks: two dispatchers with overlapping batches never deadlock.
        take_locks(conn, [lock_key(item.category, r.village_id, r.unit_id) for item, r in items])
        batch = Batch(conn, ctx, items)
        for item, r in items:
            batch.place(conn, item, r)
        batch.flush(conn)
        pending.finish(conn, claims)
    return len(rows)
