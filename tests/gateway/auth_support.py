"""Accounts and tokens for API tests: a real account row and a token signed as the app signs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from gateway.auth.config import token_config
from gateway.auth.store import add_account, get_account
from gateway.auth.tokens import issue_token
from gridwatch.domain import Role
from gridwatch.settings import Settings

#: The tests' token key (the default one is refused by ``gridwatch gateway``).
TEST_SECRET = "gridwatch-tests-secret-0123456789abcdef"
PASSWORD = "correct horse battery"
#: people.yaml's first duty commander: sees the whole town.
DUTY = "P01352"


def token_for(settings: Settings, person_id: str, role: Role, *, ttl_s: int | None = None) -> str:
    """A token for ``person_id``, adding an account with ``role`` when there is none."""
    with psycopg.connect(settings.database_url) as conn:
        if get_account(conn, person_id) is None:
            add_account(conn, person_id, role, PASSWORD)
    return issue_token(token_config(settings), person_id, ttl_s=ttl_s)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def case_in(conn: psycopg.Connection[Any], unit: str, grid: str, village: str) -> int:
    """A bare assigned case in ``unit`` (of ``grid`` and ``village``); its id."""
    now = datetime.now(UTC)
    row = conn.execute(
        "INSERT INTO cases (source, category, severity, status, unit_id, grid_id, village_id,"
        " town_id, opened_at, first_event_at, last_event_at, updated_at)"
        " VALUES ('event', 'intrusion', 2, 'assigned', %s, %s, %s, 'T01', %s, %s, %s, %s)"
        " RETURNING id",
        (unit, grid, village, now, now, now, now),
    ).fetchone()
    assert row is not None
    return int(row[0])
