"""The outbox's SQL: claim due notices, log attempts, settle, escalate what nobody heard.

Claiming takes rows ``FOR UPDATE SKIP LOCKED`` and leases them (``next_attempt_at``
moves to the lease's end) in a transaction that also writes each attempt as
``sending``; it commits before anything is sent. The answer is written after,
fenced by the attempt number, so a worker whose lease ran out (another took the
notice over) changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch.delivery.retry import Settled
from dispatch.delivery.senders import Answer
from dispatch.delivery.text import NoticeRow
from dispatch.lifecycle import AWAITING_ACCEPT, OPEN_STATUSES, Status
from dispatch.store import Context, fetch_case
from dispatch.timers import apply_escalation, escalation_for


@dataclass(frozen=True, slots=True)
class ClaimedRow(NoticeRow):
    attempts: int
    message: dict[str, Any] | None


_CLAIM = """
SELECT n.id, n.case_id, n.recipient, n.kind, n.title, n.body, n.data, n.created_at,
       c.status AS case_status, c.unit_id, c.accept_by, c.resolve_by, n.attempts, n.message
FROM notifications n LEFT JOIN cases c ON c.id = n.case_id
WHERE n.status = 'pending' AND coalesce(n.next_attempt_at, n.created_at) <= %s
ORDER BY coalesce(n.next_attempt_at, n.created_at), n.id
LIMIT %s
FOR UPDATE OF n SKIP LOCKED
"""


def claim(conn: psycopg.Connection[Any], now: datetime, limit: int) -> list[ClaimedRow]:
    """Due pending notices no other worker holds; call inside a transaction."""
    with conn.cursor(row_factory=class_row(ClaimedRow)) as cur:
        return cur.execute(_CLAIM, (now, limit)).fetchall()


def abandon_unanswered(conn: psycopg.Connection[Any], ids: Sequence[int], now: datetime) -> int:
    """Attempts still ``sending`` on notices just claimed: their worker is gone."""
    cur = conn.execute(
        "UPDATE notification_attempts SET outcome = 'abandoned', finished_at = %s,"
        " error = 'no answer recorded: the worker stopped or its lease ran out'"
        " WHERE notification_id = ANY(%s) AND outcome = 'sending'",
        (now, list(ids)),
    )
    return cur.rowcount


def channel_history(
    conn: psycopg.Connection[Any], ids: Sequence[int]
) -> dict[int, tuple[frozenset[str], frozenset[str]]]:
    """Per notice: (channels that acknowledged, channels that refused) in earlier attempts."""
    rows = conn.execute(
        "SELECT notification_id,"
        " coalesce(array_agg(DISTINCT channel) FILTER (WHERE outcome = 'acknowledged'), '{}'),"
        " coalesce(array_agg(DISTINCT channel) FILTER (WHERE outcome = 'refused'), '{}')"
        " FROM notification_attempts WHERE notification_id = ANY(%s) GROUP BY 1",
        (list(ids),),
    ).fetchall()
    return {int(r[0]): (frozenset(r[1]), frozenset(r[2])) for r in rows}


@dataclass(frozen=True, slots=True)
class AttemptStart:
    notification_id: int
    attempt: int
    channel: str
    target: str
    sent: dict[str, Any]


def lease(
    conn: psycopg.Connection[Any],
    claimed: Sequence[tuple[int, int, dict[str, Any]]],
    until: datetime,
) -> None:
    """(id, attempt number, message) per notice: count the attempt, hold it until ``until``."""
    conn.execute(
        "UPDATE notifications n SET attempts = u.attempt, next_attempt_at = %s,"
        " message = coalesce(n.message, u.message)"
        " FROM unnest(%s::bigint[], %s::int[], %s::jsonb[]) AS u(id, attempt, message)"
        " WHERE n.id = u.id",
        (
            until,
            [c[0] for c in claimed],
            [c[1] for c in claimed],
            [Jsonb(c[2]) for c in claimed],
        ),
    )


def start_attempts(
    conn: psycopg.Connection[Any], starts: Sequence[AttemptStart], worker: str, now: datetime
) -> dict[tuple[int, str], int]:
    """Log each attempt as ``sending``; their ids by (notification id, channel)."""
    if not starts:
        return {}
    rows = conn.execute(
        "INSERT INTO notification_attempts"
        " (notification_id, attempt, channel, target, worker, started_at, sent)"
        " SELECT u.nid, u.attempt, u.channel, u.target, %s, %s, u.sent"
        " FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[], %s::jsonb[])"
        " WITH ORDINALITY AS u(nid, attempt, channel, target, sent, ord)"
        " ORDER BY u.ord RETURNING id, notification_id, channel",
        (
            worker,
            now,
            [s.notification_id for s in starts],
            [s.attempt for s in starts],
            [s.channel for s in starts],
            [s.target for s in starts],
            [Jsonb(s.sent) for s in starts],
        ),
    ).fetchall()
    return {(int(r[1]), str(r[2])): int(r[0]) for r in rows}


def finish_attempt(
    conn: psycopg.Connection[Any], attempt_id: int, answer: Answer, now: datetime
) -> bool:
    """Record an answer; False when the attempt was already given up (another worker
    took its notice over), in which case the caller must not settle the notice."""
    cur = conn.execute(
        "UPDATE notification_attempts SET outcome = %s, answer = %s, error = %s,"
        " acknowledged = %s, finished_at = %s WHERE id = %s AND outcome = 'sending'",
        (
            answer.outcome.value,
            answer.answer,
            answer.error,
            answer.outcome.value == "acknowledged",
            now,
            attempt_id,
        ),
    )
    return cur.rowcount == 1


def settle_notice(
    conn: psycopg.Connection[Any],
    notification_id: int,
    attempt: int,
    settled: Settled,
    error: str | None,
    now: datetime,
) -> bool:
    """Write where the notice stands, unless another worker has attempted it since."""
    cur = conn.execute(
        "UPDATE notifications SET status = %s, next_attempt_at = %s, last_error = %s,"
        " delivered_at = CASE WHEN %s = 'delivered' THEN %s ELSE delivered_at END,"
        " failed_at = CASE WHEN %s = 'failed' THEN %s ELSE failed_at END"
        " WHERE id = %s AND attempts = %s AND status = 'pending'",
        (
            settled.state.value,
            settled.next_attempt_at,
            error,
            settled.state.value,
            now,
            settled.state.value,
            now,
            notification_id,
            attempt,
        ),
    )
    return cur.rowcount == 1


def escalate_undelivered(
    conn: psycopg.Connection[Any], ctx: Context, case_id: int, notification_id: int, who: str
) -> bool:
    """Nobody heard notice ``notification_id``: its open case rises one level, as if its
    deadline had passed (the dispatcher's escalation, with the notice named in history)."""
    case = fetch_case(conn, case_id, lock=True)
    if case is None or Status(case.status) not in OPEN_STATUSES:
        return False
    step = escalation_for(ctx, case, ctx.clock.now(), by_hand=True)
    if step is None:
        return False
    missed = "accept" if Status(case.status) in AWAITING_ACCEPT else "resolve"
    apply_escalation(
        conn,
        ctx,
        case,
        dataclasses.replace(step, missed=missed),
        actor="delivery",
        note=f"notice #{notification_id} to {who} undeliverable on every channel",
    )
    return True
