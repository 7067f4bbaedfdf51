"""``/api/v1/notifications``: a grid leader lists the failed notices of their own cases only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from tests.gateway.auth_support import bearer, case_in, token_for

GRID_LEADER_A = "P00003"  # leads V01-G01


def _case_with_notices(conn: psycopg.Connection[Any], unit: str, grid: str, village: str) -> int:
    """A case in ``unit`` with one delivered and one failed notice."""
    now = datetime.now(UTC)
    case_id = case_in(conn, unit, grid, village)
    for status, error in (("delivered", None), ("failed", "webhook:sms: HTTP 503")):
        conn.execute(
            "INSERT INTO notifications (case_id, recipient, kind, title, body, dedupe_key,"
            " created_at, status, attempts, failed_at, last_error)"
            " VALUES (%s, 'P00006', 'assigned', '新案件', 'New case', %s, %s, %s, 3,"
            " CASE WHEN %s = 'failed' THEN %s END, %s)",
            (case_id, f"t:{case_id}:{status}", now, status, status, now, error),
        )
    return case_id


def test_a_grid_leader_sees_the_failed_notices_of_their_cases_and_none_of_others(
    api: Gateway, gw_settings: Settings
) -> None:
    with psycopg.connect(gw_settings.database_url) as conn:
        mine = _case_with_notices(conn, "V01-G01-U02", "V01-G01", "V01")
        theirs = _case_with_notices(conn, "V02-G03-U02", "V02-G03", "V02")
    headers = bearer(token_for(gw_settings, GRID_LEADER_A, Role.GRID_LEADER))
    with httpx.Client(base_url=api.url, timeout=10, headers=headers) as client:
        failed = client.get("/api/v1/notifications", params={"status": "failed"})
        every = client.get("/api/v1/notifications").json()
        of_theirs = client.get("/api/v1/notifications", params={"case": theirs}).json()
        paged = client.get("/api/v1/notifications", params={"limit": 1})
        bad = client.get("/api/v1/notifications", params={"status": "lost"})
    assert failed.status_code == 200, failed.text
    rows = failed.json()
    assert [(r["case_id"], r["status"]) for r in rows] == [(mine, "failed")]
    assert rows[0]["last_error"] == "webhook:sms: HTTP 503" and rows[0]["failed_at"]
    assert {r["case_id"] for r in every} == {mine} and len(every) == 2
    assert of_theirs == []
    assert paged.headers["X-Next-Cursor"] == str(paged.json()[0]["id"])
    assert bad.status_code == 422
