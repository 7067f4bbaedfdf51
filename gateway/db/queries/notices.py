"""Notices and where their delivery stands (migration 0017), for the API and the console."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from gateway.db.queries.filters import where


@dataclass(frozen=True, slots=True)
class NoticeStateRow:
    """One ``notifications`` row as people read it: to whom, about what, delivered or not."""

    id: int
    case_id: int | None
    recipient: str
    recipient_name: str | None
    kind: str
    title: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


_COLUMNS = sql.SQL(", ").join(sql.Identifier(f.name) for f in fields(NoticeStateRow))


def list_notices(
    conn: psycopg.Connection[Any],
    *,
    status: str | None = None,
    case_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[NoticeStateRow]:
    """Newest first; ``before_id`` pages on. Through the API, only notices of cases in scope."""
    clause, params = where(
        [
            (sql.SQL("status = %s"), status),
            (sql.SQL("case_id = %s"), case_id),
            (sql.SQL("id < %s"), before_id),
        ]
    )
    query = sql.SQL("SELECT {cols} FROM notifications{where} ORDER BY id DESC LIMIT %s").format(
        cols=_COLUMNS, where=clause
    )
    with conn.cursor(row_factory=class_row(NoticeStateRow)) as cur:
        return cur.execute(query, [*params, limit]).fetchall()
