"""The audit log: who did what to which target, when, under which request id.

Every write through the API and every snapshot view appends one row to
``audit_log`` (migration 0007), in the same transaction as the write itself: a
write that rolls back leaves no audit row, and a committed write always has one.
The API's role may only INSERT and SELECT there; UPDATE and DELETE are not
granted, so the log only grows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request
from psycopg.types.json import Jsonb

from gateway.api.limits import request_id
from gateway.auth.principal import Principal


def record(
    conn: psycopg.Connection[Any],
    who: Principal,
    action: str,
    target: str | None,
    request: Request,
    data: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    """Append one row in the request's transaction.

    ``action`` is dotted, resource first (``case.accept``, ``snapshot.view``);
    ``target`` names the row acted on (``case:42``). ``at`` is the app's clock, so
    a test on a controlled clock reads its own times back; the database's ``now()``
    otherwise.
    """
    conn.execute(
        "INSERT INTO audit_log (at, subject, action, target, request_id, data)"
        " VALUES (coalesce(%s, now()), %s, %s, %s, %s, %s)",
        (
            at,
            who.subject,
            action,
            target,
            request_id(request),
            Jsonb({"role": who.role.value, **(data or {})}),
        ),
    )
