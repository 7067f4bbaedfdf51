"""The dispatcher's metrics count what each committed transaction stored: cases opened by
category, escalations by the level reached, reminders by kind, events and their lag."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from dispatch.clock import ManualClock
from dispatch.metrics import DispatchMetrics
from dispatch.store import Context
from dispatch.worker import drain
from gridwatch.domain import LEVELS
from tests.dispatch.conftest import TownFixture, insert_event, open_fire_case

pytestmark = pytest.mark.services


def sample(metrics: DispatchMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_escalations_are_counted_by_the_level_each_case_reached(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    metrics = DispatchMetrics()
    ctx = dataclasses.replace(ctx, observer=metrics)
    fire = open_fire_case(conn, ctx, zhongmen, clock, zhongmen.unit(7))
    for minutes in (6, 61, 61, 61, 600):  # rises to village, town... and no further
        clock.advance(timedelta(minutes=minutes))
        drain(conn, ctx)
    rises = conn.execute(
        "SELECT (data->>'to_level')::int, count(*) FROM case_history"
        " WHERE case_id = %s AND action = 'escalated' GROUP BY 1",
        (fire.case_id,),
    ).fetchall()
    assert len(rises) == 3
    for level, n in rises:
        assert sample(metrics, "gridwatch_dispatch_escalations_total", level=LEVELS[level]) == n
    assert sample(metrics, "gridwatch_dispatch_escalations_total", level=LEVELS[0]) == 0
    opened = conn.execute("SELECT category, count(*) FROM cases GROUP BY 1").fetchall()
    assert opened == [("fire_smoke", 1)]
    assert sample(metrics, "gridwatch_dispatch_cases_opened_total", category="fire_smoke") == 1


def test_reminders_events_and_lag_are_counted_once_each(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    metrics = DispatchMetrics()
    ctx = dataclasses.replace(ctx, observer=metrics)
    received = clock.now()
    for n in (9, 10):
        lon, lat = zhongmen.point_in(zhongmen.unit(n))
        insert_event(conn, ts=received, lon=lon, lat=lat, category="intrusion", severity=2,
                     device_id=f"cam-{n}")  # fmt: skip
    clock.advance(timedelta(seconds=3))  # the dispatcher takes them 3 s after receipt
    drain(conn, ctx)
    assert sample(metrics, "gridwatch_dispatch_events_total") == 2
    assert sample(metrics, "gridwatch_dispatch_lag_seconds_count") == 2
    assert sample(metrics, "gridwatch_dispatch_lag_seconds_sum") == pytest.approx(6.0)
    assert sample(metrics, "gridwatch_dispatch_lag_seconds_bucket", le="2.5") == 0
    assert sample(metrics, "gridwatch_dispatch_lag_seconds_bucket", le="5.0") == 2
    for _ in range(3):  # the timers run again and again: each reminder counts once
        clock.advance(timedelta(minutes=13))
        drain(conn, ctx)
    sent = conn.execute(
        "SELECT kind, count(*) FROM notifications WHERE kind LIKE 'reminder%' GROUP BY 1"
    ).fetchall()
    assert sent and sum(n for _, n in sent) >= 2
    for kind, n in sent:
        value = sample(
            metrics, "gridwatch_dispatch_reminders_total", kind=kind.removeprefix("reminder_")
        )
        assert value == n
