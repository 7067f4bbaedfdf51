"""The reports over HTTP: a village leader sees the village's report, the commander the town's.

Cases are opened in two villages by camera events through the dispatcher; the
same report route answers each caller from their own part of the town, because
it reads on the request's scoped connection (row-level security).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gridwatch.domain import Role
from gridwatch.town import Town
from tests.gateway.auth_support import bearer, token_for
from tests.gateway.case_api_support import Day, local

pytestmark = pytest.mark.services

UNITS = ("V01-G01-U02", "V01-G02-U01", "V02-G01-U01")


def _open(day: Day, town: Town, unit: str, category: str) -> None:
    from dispatch.worker import drain
    from tests.dispatch.conftest import insert_event

    p = town.hierarchy.geometries[unit].representative_point()
    with psycopg.connect(day.settings.database_url, autocommit=True) as conn:
        insert_event(conn, ts=day.clock.now(), category=category, severity=2, lon=p.x, lat=p.y)
        drain(conn, day.ctx)


def _village_leader(day: Day, town: Town, village: str) -> dict[str, str]:
    leader = town.hierarchy.areas[village].leader
    assert leader is not None
    return bearer(token_for(day.settings, leader.person_id, Role.VILLAGE_LEADER))


def _opened_by_village(body: dict[str, Any]) -> dict[str, int]:
    return {r["id"]: r["opened"] for r in body["counts"]["village"]}


def test_a_village_leader_sees_the_village_report_and_the_commander_the_town(
    day: Day, town: Town
) -> None:
    for i, unit in enumerate(UNITS):
        day.clock.set(local(16, 9, 10 * i))
        _open(day, town, unit, "other")
    day.clock.set(local(16, 12))
    duty = day.client.get(
        "/api/v1/reviews/daily", params={"date": "2025-09-16"}, headers=day.headers["duty"]
    )
    assert duty.status_code == 200, duty.text
    assert _opened_by_village(duty.json()) == {"V01": 2, "V02": 1}

    v01 = _village_leader(day, town, "V01")
    mine = day.client.get("/api/v1/reviews/daily", params={"date": "2025-09-16"}, headers=v01)
    assert mine.status_code == 200, mine.text
    assert _opened_by_village(mine.json()) == {"V01": 2}
    assert mine.json()["counts"]["all"]["open"] == 2

    # The printable page: Chinese by default, English on request, charts inline.
    page = day.client.get("/api/v1/reviews/weekly/html", params={"date": "2025-09-16"}, headers=v01)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "周报 2025-09-15 – 2025-09-21" in page.text and "<svg" in page.text
    assert "前塘村" in page.text  # the village by name
    english = day.client.get(
        "/api/v1/reviews/weekly/html", params={"date": "2025-09-16", "lang": "en"}, headers=v01
    )
    assert "Weekly report 2025-09-15" in english.text

    # A fortnight before the configured first one, and a role that reads no reports.
    early = day.client.get(
        "/api/v1/reviews/fortnight", params={"date": "2024-01-01"}, headers=day.headers["duty"]
    )
    assert early.status_code == 422 and "fortnight_start" in early.text
    admin = bearer(token_for(day.settings, "P-device-admin", Role.DEVICE_ADMIN))
    assert day.client.get("/api/v1/reviews/daily", headers=admin).status_code == 403
    assert day.client.get("/api/v1/reviews/hourly", headers=v01).status_code == 422
