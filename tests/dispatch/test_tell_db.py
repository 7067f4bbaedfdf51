"""Who hears of a case (``routing.yaml`` ``tell:``, dispatch/tell.py), in the outbox."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from dispatch.actions import act
from dispatch.clock import ManualClock
from dispatch.reports import Report, intake_with
from dispatch.store import Context
from dispatch.worker import drain
from gridwatch.domain import Category
from tests.dispatch.conftest import TownFixture, insert_event

pytestmark = pytest.mark.services


def _told(conn: psycopg.Connection[Any], case_id: int) -> set[tuple[str, str]]:
    rows = conn.execute(
        "SELECT recipient, kind FROM notifications WHERE case_id = %s", (case_id,)
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def _only_case(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT id FROM cases").fetchone()
    assert row is not None
    return int(row[0])


def test_a_new_case_is_told_to_its_assignee_and_its_departments_contact(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    unit = zhongmen.unit(21)
    lon, lat = zhongmen.point_in(unit)
    insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="fire_smoke", severity=1)
    drain(conn, ctx)
    case_id = _only_case(conn)
    leader = zhongmen.town.hierarchy.areas[unit].leader
    department = zhongmen.town.department_for("fire_smoke")
    assert leader is not None and department is not None and department.contact
    assert _told(conn, case_id) == {
        (leader.person_id, "assigned"),
        (department.contact, "department_opened"),
    }


def test_a_tampered_camera_is_told_to_its_maintainer_not_the_unit_leader(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    device = next(d for d in zhongmen.town.devices.values() if d.maintainer is not None)
    insert_event(
        conn, ts=clock.now(), category="camera_tamper", unit_id=device.unit, device_id=device.id
    )
    drain(conn, ctx)
    case_id = _only_case(conn)
    leader = zhongmen.town.hierarchy.areas[device.unit].leader
    assert leader is not None and device.maintainer is not None
    row = conn.execute("SELECT assignee FROM cases").fetchone()
    assert row == (leader.person_id,)  # the case is still the unit's
    told = _told(conn, case_id)
    assert (device.maintainer, "assigned") in told
    assert all(person != leader.person_id for person, _ in told)


def test_the_person_who_raised_a_report_hears_it_is_resolved(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    unit = zhongmen.unit(23)
    raiser = next(iter(zhongmen.town.people))
    lon, lat = zhongmen.point_in(unit)
    report = Report(
        category=Category.SANITATION, description="垃圾堆放", raised_by=raiser, lon=lon, lat=lat
    )
    case_id = intake_with(conn, ctx, report)
    leader = zhongmen.town.hierarchy.areas[unit].leader
    assert leader is not None
    for step in ("accept", "start"):
        act(conn, ctx, case_id, step, leader.person_id)
    assert (raiser, "resolved_for_raiser") not in _told(conn, case_id)
    act(conn, ctx, case_id, "resolve", leader.person_id, "已清运")
    assert (raiser, "resolved_for_raiser") in _told(conn, case_id)
