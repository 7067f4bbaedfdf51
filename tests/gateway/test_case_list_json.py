"""The case list's JSON, built by PostgreSQL, is byte for byte what its rows encode to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest

from gateway.api.models.cases import CasePublic
from gateway.db.migrate import migrate
from gateway.db.queries import CaseFilter, list_cases
from gateway.db.queries.cases import list_cases_json

pytestmark = pytest.mark.services

#: Summaries a JSON writer can get wrong: quotes, backslashes, control characters,
#: Chinese, an emoji, and text that looks like one of the times.
SUMMARIES = [
    '有人闯入 "东门"',
    "back\\slash / slash",
    "tab\there\nnewline \x01 bell",
    "🚒 火情",
    "2026-12-04T11:12:04+00:00",
    None,
]
#: Whole seconds, microseconds, a single microsecond, and a time west of Greenwich.
TIMES = [
    datetime(2026, 12, 4, 11, 12, 4, tzinfo=UTC),
    datetime(2026, 12, 4, 11, 12, 4, 500000, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),
]


def _insert(conn: psycopg.Connection[Any], n: int) -> None:
    at = TIMES[n % len(TIMES)]
    conn.execute(
        "INSERT INTO cases (source, category, severity, status, summary, lon, lat, unit_id,"
        " grid_id, village_id, town_id, department_id, assignee, assignee_name, opened_at,"
        " first_event_at, last_event_at, accept_by, resolve_by, updated_at)"
        " VALUES ('event', 'intrusion', 2, 'assigned', %s, %s, %s, 'V01-G01-U01', 'V01-G01',"
        " 'V01', 'T01', %s, 'P00001', %s, %s, %s, %s, %s, %s, %s)",
        (SUMMARIES[n % len(SUMMARIES)], None if n % 3 == 0 else 118.1 + n / 7,
         None if n % 3 == 0 else 25.4 - n / 9, None if n % 2 else "urban",
         "张三" if n % 2 else None, at, at, at + timedelta(seconds=n),
         None if n % 4 == 1 else at + timedelta(hours=2), None if n % 5 == 2 else at,
         at - timedelta(microseconds=n)),
    )  # fmt: skip


def test_the_databases_json_equals_the_rows_encoded_and_pages_the_same(fresh_db: str) -> None:
    migrate(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        for n in range(24):
            _insert(conn, n)
        for f in (
            CaseFilter(limit=50),
            CaseFilter(limit=7),
            CaseFilter(limit=7, before_id=18),
            CaseFilter(department="urban", limit=5),
            CaseFilter(grid="nowhere"),
        ):
            rows = list_cases(conn, f)
            page = list_cases_json(conn, f)
            assert page.body == msgspec.json.encode(rows), f
            assert (page.count, page.last_id) == (len(rows), rows[-1].id if rows else None)
            # And the body is what the documented model would send.
            assert msgspec.json.decode(page.body) == [
                CasePublic.model_validate(c).model_dump(mode="json")
                for c in msgspec.json.decode(page.body)
            ]
