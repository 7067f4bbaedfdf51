"""SQL for cases: claim queued events, open or merge cases, history, live pushes.

Every function here runs inside the caller's transaction, so a queue row, the
case it opens or joins, its history, notices and the live push commit together
or not at all: a dispatcher killed at any moment loses and duplicates nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from dispatch import deadlines, merge
from dispatch.clock import Clock
from dispatch.config import DispatchConfig
from dispatch.lifecycle import AWAITING_ACCEPT, OPEN_STATUSES, Status
from dispatch.notify import Notice, Notifier, render
from dispatch.routing import LEVELS, Problem, Route, TownView, route

log = logging.getLogger(__name__)

#: First half of every dispatcher advisory-lock key (the second is per category and area).
LOCK_NAMESPACE = 0x6477  # "dw"
LIVE_CHANNEL = "gridwatch_live"
_OPEN = tuple(s.value for s in OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class Context:
    """What the dispatcher needs besides a connection."""

    town: TownView
    config: DispatchConfig
    tz: ZoneInfo
    clock: Clock
    notifier: Notifier


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event or a report about to join or open a case."""

    category: str
    severity: int
    at: datetime  # when it happened, for the merge window
    lon: float | None
    lat: float | None
    unit_id: str | None
    summary: str | None
    source: str  # 'event' or 'report'
    event_id: UUID | None = None
    ts: datetime | None = None
    phase: str = "start"
    device_id: str | None = None
    raised_by: str | None = None
    description: str | None = None


# --------------------------------------------------------------------------- helpers


def lock_key(category: str, r: Route) -> str:
    """Cases merge only within one village, so (category, village) serialises merging."""
    return f"{category}|{r.village_id or r.unit_id or ''}"


def take_locks(conn: psycopg.Connection[Any], keys: Sequence[str]) -> None:
    # Sorted, so two dispatchers with overlapping batches never deadlock.
    for key in sorted(set(keys)):
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, key))


def history(
    conn: psycopg.Connection[Any],
    case_id: int,
    at: datetime,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO case_history (case_id, at, actor, action, from_status, to_status, note, data)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (case_id, at, actor, action, from_status, to_status, note, Jsonb(data or {})),
    )


def fetch_case(
    conn: psycopg.Connection[Any], case_id: int, *, lock: bool = False
) -> dict[str, Any] | None:
    sql = "SELECT * FROM cases WHERE id = %s" + (" FOR UPDATE" if lock else "")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, (case_id,)).fetchone()


def live_payload(case: dict[str, Any]) -> dict[str, Any]:
    awaiting_accept = case["status"] in {s.value for s in AWAITING_ACCEPT}
    deadline = case["accept_by"] if awaiting_accept else case["resolve_by"]
    return {
        "type": "case",
        "id": case["id"],
        "category": case["category"],
        "status": case["status"],
        "unit_id": case["unit_id"],
        "assignee": case["assignee"],
        "assignee_name": case["assignee_name"],
        "deadline": deadline.isoformat() if deadline else None,
        "escalation_level": case["escalation_level"],
        "lon": case["lon"],
        "lat": case["lat"],
        "recurrence": case["recurrence"],
    }


def push_live(conn: psycopg.Connection[Any], case_id: int) -> None:
    """Tell consoles about the case as it is now; delivered only if the transaction commits."""
    case = fetch_case(conn, case_id)
    if case is not None:
        conn.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, json.dumps(live_payload(case))))


def add_participant(
    conn: psycopg.Connection[Any],
    case_id: int,
    person: str,
    name: str | None,
    role: str,
    area_id: str | None,
    level: int,
    at: datetime,
) -> bool:
    cur = conn.execute(
        "INSERT INTO case_participants (case_id, person, name, role, area_id, level, added_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (case_id, person, name, role, area_id, level, at),
    )
    return cur.rowcount == 1


def schedule_reminders(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    kind: str,
    opened: datetime,
    deadline: datetime,
) -> None:
    for due in deadlines.reminder_times(opened, deadline, ctx.config.deadlines):
        conn.execute(
            "INSERT INTO case_reminders (case_id, kind, due_at, deadline) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (case_id, kind, due, deadline),
        )


# --------------------------------------------------------------------------- open or join


def _candidates(
    conn: psycopg.Connection[Any], item: Incoming, r: Route, window: timedelta
) -> list[merge.OpenCase]:
    rows = conn.execute(
        "SELECT id, category, status, unit_id, lon, lat, last_event_at FROM cases"
        " WHERE category = %s AND village_id IS NOT DISTINCT FROM %s AND status = ANY(%s)"
        " AND last_event_at >= %s",
        (item.category, r.village_id, list(_OPEN), item.at - window),
    ).fetchall()
    return [merge.OpenCase(*row) for row in rows]


def _attach_event(
    conn: psycopg.Connection[Any], case_id: int, item: Incoming, now: datetime
) -> bool:
    if item.event_id is None:
        return False
    cur = conn.execute(
        "INSERT INTO case_events (event_id, ts, case_id, phase, attached_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (item.event_id, item.ts, case_id, item.phase, now),
    )
    return cur.rowcount == 1


def open_or_join(conn: psycopg.Connection[Any], ctx: Context, item: Incoming, r: Route) -> int:
    """The case ``item`` belongs to, opening one when none is open nearby. Lock held by caller."""
    now = ctx.clock.now()
    if item.event_id is not None:
        # update/end (or a redelivered start) attach to the case already holding the event.
        row = conn.execute(
            "SELECT case_id FROM case_events WHERE event_id = %s LIMIT 1", (item.event_id,)
        ).fetchone()
        if row is not None:
            case_id = int(row[0])
            if _attach_event(conn, case_id, item, now):
                conn.execute(
                    "UPDATE cases SET last_event_at = GREATEST(last_event_at, %s), updated_at = %s"
                    " WHERE id = %s",
                    (item.at, now, case_id),
                )
                history(
                    conn,
                    case_id,
                    now,
                    "dispatcher",
                    f"event_{item.phase}",
                    None,
                    None,
                    data={"event_id": str(item.event_id)},
                )
            return case_id
    rule = ctx.config.merge.rule(item.category)
    incoming = merge.Incoming(item.category, r.unit_id, item.lon, item.lat, item.at)
    chosen = merge.choose(
        _candidates(conn, item, r, timedelta(minutes=rule.window_min)), incoming, rule
    )
    if chosen is not None:
        _attach_event(conn, chosen.id, item, now)
        conn.execute(
            "UPDATE cases SET recurrence = recurrence + 1, updated_at = %s,"
            " last_event_at = GREATEST(last_event_at, %s), severity = LEAST(severity, %s)"
            " WHERE id = %s",
            (now, item.at, item.severity, chosen.id),
        )
        what = f"event {item.event_id}" if item.event_id else f"report by {item.raised_by}"
        history(
            conn,
            chosen.id,
            now,
            "dispatcher",
            "merged",
            None,
            None,
            note=what,
            data={
                "event_id": str(item.event_id) if item.event_id else None,
                "source": item.source,
                "description": item.description,
            },
        )
        push_live(conn, chosen.id)
        return chosen.id
    return _create(conn, ctx, item, r, now)


def _create(
    conn: psycopg.Connection[Any], ctx: Context, item: Incoming, r: Route, now: datetime
) -> int:
    dl = deadlines.compute(ctx.config.deadlines, item.category, item.severity, now, ctx.tz)
    status = Status.ASSIGNED if r.assignee else Status.NEW
    row = conn.execute(
        """
        INSERT INTO cases (source, category, severity, status, summary, description, lon, lat,
            unit_id, grid_id, village_id, town_id, department_id, assignee, assignee_name,
            assignee_area, route_note, raised_by, device_id, opened_at, first_event_at,
            last_event_at, accept_by, resolve_by, next_escalation_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
            %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
        """,
        (
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
        ),
    ).fetchone()
    assert row is not None
    case_id = int(row[0])
    _attach_event(conn, case_id, item, now)
    history(
        conn,
        case_id,
        now,
        "dispatcher",
        "created",
        None,
        Status.NEW.value,
        note=r.note or None,
        data={
            "source": item.source,
            "event_id": str(item.event_id) if item.event_id else None,
            "accept_by": dl.accept_by.isoformat(),
            "resolve_by": dl.resolve_by.isoformat(),
        },
    )
    if r.assignee:
        level = r.assignee_level or 0
        history(
            conn,
            case_id,
            now,
            "dispatcher",
            "assigned",
            Status.NEW.value,
            status.value,
            note=f"{LEVELS[level]} {r.assignee_area} leader {r.assignee_name}",
            data={"assignee": r.assignee, "area": r.assignee_area, "level": level},
        )
        add_participant(
            conn, case_id, r.assignee, r.assignee_name, "leader", r.assignee_area, level, now
        )
        title, body = render("assigned", case_id, item.category)
        ctx.notifier.send(
            conn,
            Notice(
                r.assignee,
                r.assignee_name,
                "assigned",
                case_id,
                f"case:{case_id}:assigned:{r.assignee}",
                title,
                body,
                {"accept_by": dl.accept_by.isoformat(), "resolve_by": dl.resolve_by.isoformat()},
            ),
            now,
        )
        schedule_reminders(conn, ctx, case_id, "accept", now, dl.accept_by)
        schedule_reminders(conn, ctx, case_id, "resolve", now, dl.resolve_by)
    push_live(conn, case_id)
    return case_id


# --------------------------------------------------------------------------- the queue

_CLAIM = """
SELECT q.event_id, q.ts, e.received_at, e.device_id, e.category, e.severity, e.phase,
       e.lon, e.lat, e.unit_id, e.summary, e.clock_skewed, e.rule
FROM dispatch_queue q
LEFT JOIN events e ON e.event_id = q.event_id AND e.ts = q.ts
ORDER BY q.enqueued_at, q.ts
LIMIT %s
FOR UPDATE OF q SKIP LOCKED
"""


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
    """Take up to ``limit`` queued events, turn each into a case or a merge; return how many."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_CLAIM, (limit,)).fetchall()
        if not rows:
            return 0
        items: list[tuple[Incoming, Route]] = []
        for row in rows:
            if row["category"] is None:
                log.warning(
                    "queued event %s at %s has no stored event; dropped", row["event_id"], row["ts"]
                )
                continue
            item = incoming_from_row(row)
            problem = Problem(item.category, item.lon, item.lat, item.unit_id)
            items.append((item, route(ctx.town, problem)))
        take_locks(conn, [lock_key(item.category, r) for item, r in items])
        for item, r in items:
            open_or_join(conn, ctx, item, r)
        conn.execute(
            "DELETE FROM dispatch_queue WHERE (event_id, ts) IN"
            " (SELECT * FROM unnest(%s::uuid[], %s::timestamptz[]))",
            ([row["event_id"] for row in rows], [row["ts"] for row in rows]),
        )
    return len(rows)


def queue_depth(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM dispatch_queue").fetchone()
    return int(row[0]) if row else 0
