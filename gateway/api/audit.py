"""The audit log: who did what to which target, when, under which request id.

Every write through the API and every snapshot view appends one row to
``audit_log`` (migration 0007), in the same transaction as the write itself: a
write that rolls back leaves no audit row, and a committed write always has one.
The API's role may only INSERT and SELECT there; UPDATE and DELETE are not
granted, so the log only grows.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import Request

from gateway.api.limits import request_id
from gateway.auth.principal import Principal
from gateway.auth.store import audit


def record(
    conn: psycopg.Connection[Any],
    who: Principal,
    action: str,
    target: str | None,
    request: Request,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one row in the request's transaction, with the request's id.

    ``action`` is dotted, resource first (``case.accept``, ``snapshot.view``);
    ``target`` names the row acted on (``case:42``). The time is the database's
    ``now()``: the audit log keeps real time even when a test drives the case clock.
    """
    audit(
        conn,
        who.subject,
        action,
        target,
        request_id=request_id(request),
        data={"role": who.role.value, **(data or {})},
    )
