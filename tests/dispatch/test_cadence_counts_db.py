"""Daily and weekly counts equal independent SQL, across a local midnight that is not UTC's.

Asia/Shanghai's midnight is 16:00 UTC: a case opened at 00:30 on Wednesday the 17th
(local) was opened on Tuesday the 16th in UTC. The report must count it on the 17th.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
import pytest

from dispatch.cadence.review import build
from dispatch.clock import ManualClock
from dispatch.store import Context
from tests.dispatch.cadence_support import (
    Script,
    local,
    minutes,
    setup_for,
    units_in_distinct_villages,
)
from tests.dispatch.conftest import TownFixture

pytestmark = pytest.mark.services

LOCAL_DAY = "(({col}) AT TIME ZONE 'Asia/Shanghai')::date"
OPEN = ("new", "assigned", "accepted", "in_progress", "reopened")


def _closed_by_commander(
    s: Script, case_id: int, t: datetime, accept: float, resolve: float
) -> None:
    s.act(t + minutes(accept), case_id, "accept")
    s.act(t + minutes(resolve), case_id, "resolve", note="done")
    s.act(t + minutes(resolve + 10), case_id, "verify")
    s.act(t + minutes(resolve + 20), case_id, "follow_up", rating=5)


def _script(zhongmen: TownFixture) -> Script:
    u = units_in_distinct_villages(zhongmen, 6)
    s = Script(zhongmen)
    s.open_case(local(2025, 9, 15, 8), u[5], "intrusion", 2)
    s.open_case(
        local(2025, 9, 16, 10),
        u[0],
        "other",
        2,
        lambda s, c, t: _closed_by_commander(s, c, t, 10, 120),
    )
    # 23:30 local on the 16th (15:30 UTC); closed at 01:10 local on the 17th (17:10 UTC the 16th).
    s.open_case(
        local(2025, 9, 16, 23, 30),
        u[1],
        "loitering",
        3,
        lambda s, c, t: _closed_by_commander(s, c, t, 40, 70),
    )
    # 00:30 local on the 17th, 16:30 UTC on the 16th; never accepted, so overdue and escalated.
    s.open_case(local(2025, 9, 17, 0, 30), u[2], "other", 2)
    s.open_case(
        local(2025, 9, 17, 9),
        u[0],
        "illegal_parking",
        2,
        lambda s, c, t: s.act(t + minutes(5), c, "accept"),
    )
    # Across the week's end: Sunday 23:30 and Monday 00:30 local (both Sunday in UTC).
    s.open_case(
        local(2025, 9, 21, 23, 30),
        u[3],
        "loitering",
        3,
        lambda s, c, t: _closed_by_commander(s, c, t, 20, 50),
    )
    s.open_case(local(2025, 9, 22, 0, 30), u[4], "other", 2)
    s.open_case(local(2025, 9, 22, 9), u[2], "loitering", 3)
    return s


def _sql_map(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> dict[str, int]:
    return {str(k or ""): int(n) for k, n in conn.execute(query, params) if n}


def _report_map(rows: list[dict[str, Any]], field: str) -> dict[str, int]:
    return {r["id"]: r[field] for r in rows if r[field]}


def _check_counts(
    conn: psycopg.Connection[Any], report: dict[str, Any], first: date, last: date, now: datetime
) -> None:
    end = datetime.fromisoformat(report["period"]["end"])
    as_of = min(end, now)
    p = {"first": first, "last": last, "as_of": as_of, "open": list(OPEN)}
    for dim in ("unit", "grid", "village", "category", "department"):
        col = "category" if dim == "category" else f"{dim}_id"
        opened = _sql_map(
            conn,
            f"SELECT {col}, count(*) FROM cases WHERE {LOCAL_DAY.format(col='opened_at')}"
            " BETWEEN %(first)s AND %(last)s GROUP BY 1",
            p,
        )
        closed = _sql_map(
            conn,
            f"SELECT c.{col}, count(DISTINCT h.case_id) FROM case_history h"
            " JOIN cases c ON c.id = h.case_id WHERE h.to_status = 'closed'"
            " AND h.from_status IS DISTINCT FROM 'closed'"
            f" AND {LOCAL_DAY.format(col='h.at')} BETWEEN %(first)s AND %(last)s"
            " AND h.at < %(as_of)s GROUP BY 1",
            p,
        )
        # Status and deadlines as they stood at as_of: the last history row before it.
        still_open = _sql_map(
            conn,
            f"""
            WITH st AS (SELECT DISTINCT ON (case_id) case_id, to_status FROM case_history
                        WHERE at < %(as_of)s AND to_status IS NOT NULL ORDER BY case_id, id DESC)
            SELECT c.{col}, count(*) FROM cases c JOIN st ON st.case_id = c.id
            WHERE st.to_status = ANY(%(open)s) GROUP BY 1
            """,
            p,
        )
        assert _report_map(report["counts"][dim], "opened") == opened, dim
        assert _report_map(report["counts"][dim], "closed") == closed, dim
        assert _report_map(report["counts"][dim], "open") == still_open, dim
    overdue = conn.execute(
        """
        WITH st AS (SELECT DISTINCT ON (case_id) case_id, to_status FROM case_history
                    WHERE at < %(as_of)s AND to_status IS NOT NULL ORDER BY case_id, id DESC),
             ab AS (SELECT DISTINCT ON (case_id) case_id, (data->>'accept_by')::timestamptz t
                    FROM case_history WHERE at < %(as_of)s AND data ? 'accept_by'
                    ORDER BY case_id, id DESC),
             rb AS (SELECT DISTINCT ON (case_id) case_id, (data->>'resolve_by')::timestamptz t
                    FROM case_history WHERE at < %(as_of)s AND data ? 'resolve_by'
                    ORDER BY case_id, id DESC)
        SELECT count(*) FROM st JOIN ab USING (case_id) JOIN rb USING (case_id)
        WHERE st.to_status = ANY(%(open)s)
          AND CASE WHEN st.to_status IN ('new', 'assigned', 'reopened') THEN ab.t ELSE rb.t END
              < %(as_of)s
        """,
        p,
    ).fetchone()
    assert overdue is not None
    assert report["counts"]["all"]["overdue"] == overdue[0]
    times = conn.execute(
        f"""
        WITH a AS (SELECT c.id, extract(epoch FROM min(h.at) - c.opened_at) / 60 AS m
                   FROM cases c JOIN case_history h ON h.case_id = c.id AND h.action = 'accept'
                   WHERE {LOCAL_DAY.format(col="c.opened_at")} BETWEEN %(first)s AND %(last)s
                     AND h.at < %(as_of)s GROUP BY c.id)
        SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY m),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY m) FROM a
        """,
        p,
    ).fetchone()
    assert times is not None
    got = report["times"]["accept"]
    assert got["n"] == times[0]
    if times[0]:
        assert got["median_min"] == pytest.approx(float(times[1]))
        assert got["p90_min"] == pytest.approx(float(times[2]))
    escalations = _sql_map(
        conn,
        "SELECT data->>'to_level', count(*) FROM case_history"
        " WHERE action IN ('escalated', 'escalate')"
        f" AND {LOCAL_DAY.format(col='at')} BETWEEN %(first)s AND %(last)s AND at < %(as_of)s"
        " GROUP BY 1",
        p,
    )
    assert {str(e["level"]): e["count"] for e in report["escalations"]} == escalations


def test_daily_and_weekly_counts_equal_independent_sql_across_local_midnight(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    _script(zhongmen).run(conn, ctx, clock)
    now = local(2025, 9, 22, 12)
    clock.set(now)
    setup = setup_for(ctx)
    for day in (date(2025, 9, 16), date(2025, 9, 17), date(2025, 9, 22)):
        report = build(conn, setup, "daily", day, now)
        assert report["period"]["first_day"] == day.isoformat()
        _check_counts(conn, report, day, day, now)
    for monday in (date(2025, 9, 15), date(2025, 9, 22)):
        report = build(conn, setup, "weekly", monday, now)
        sunday = date.fromordinal(monday.toordinal() + 6)
        assert report["period"]["last_day"] == sunday.isoformat()
        _check_counts(conn, report, monday, sunday, now)

    # The boundary is exercised: by UTC day the 16th would hold a case more, and the
    # week of the 15th one more too (Monday 00:30 local is Sunday in UTC).
    def utc_count(first: date, last: date) -> int:
        row = conn.execute(
            "SELECT count(*) FROM cases WHERE (opened_at AT TIME ZONE 'UTC')::date"
            " BETWEEN %s AND %s",
            (first, last),
        ).fetchone()
        assert row is not None
        return int(row[0])

    daily = build(conn, setup, "daily", date(2025, 9, 16), now)["counts"]["all"]
    assert daily["opened"] != utc_count(date(2025, 9, 16), date(2025, 9, 16))
    weekly = build(conn, setup, "weekly", date(2025, 9, 18), now)["counts"]["all"]
    assert weekly["opened"] != utc_count(date(2025, 9, 15), date(2025, 9, 21))
    # The closing at 01:10 local on the 17th counts on the 17th, not the 16th.
    d16 = build(conn, setup, "daily", date(2025, 9, 16), now)["counts"]["all"]
    d17 = build(conn, setup, "daily", date(2025, 9, 17), now)["counts"]["all"]
    assert (d16["closed"], d17["closed"]) == (1, 1)
    # The case never accepted is still open and overdue when the day ends, and rose.
    assert d17["overdue"] >= 1
    assert build(conn, setup, "daily", date(2025, 9, 17), now)["escalations"]


def test_the_daily_patrol_lists_devices_offline_with_their_hours(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture
) -> None:
    from dispatch.cadence.review import town_devices

    devices = sorted(zhongmen.town.devices.values(), key=lambda d: d.id)
    camera = next(d for d in devices if d.kind == "camera")
    sensor = next(d for d in devices if d.kind == "sensor")
    fine = next(d for d in devices if d.id not in (camera.id, sensor.id))
    end = local(2025, 9, 17)  # the end of the 16th
    for dev, state, seen in (
        (camera, "offline", end - minutes(3 * 60)),  # said so, three hours before
        (sensor, "online", end - minutes(90)),  # went silent 90 minutes before
        (fine, "online", end - minutes(1)),
    ):
        conn.execute(
            "INSERT INTO device_status (device_id, state, seq, ts, last_seen, payload)"
            " VALUES (%s, %s, 1, %s, %s, '{}')",
            (dev.id, state, seen, seen),
        )
    views = town_devices(zhongmen.town)
    report = build(
        conn, setup_for(ctx), "daily", date(2025, 9, 16), end + minutes(600), devices=views
    )
    got = {
        (r["device"], r["kind"], round(r["hours_offline"], 2)) for r in report["devices_offline"]
    }
    assert got == {(camera.id, "camera", 3.0), (sensor.id, "sensor", 1.5)}
    # Narrowed to the camera's village, the sensor elsewhere drops out (if it is elsewhere).
    village = zhongmen.town.hierarchy.chain(camera.unit)[2].id
    scoped = build(
        conn, setup_for(ctx), "daily", date(2025, 9, 16), end, area=village, devices=views
    )
    expected = {d.id for d in (camera, sensor) if village in views[d.id].areas}
    assert {r["device"] for r in scoped["devices_offline"]} == expected
    # Weekly and other reports carry no patrol list.
    assert "devices_offline" not in build(conn, setup_for(ctx), "weekly", date(2025, 9, 16), end)
