"""An escalation above village level reaches the commander on duty at that moment."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dispatch.clock import ManualClock
from dispatch.config import load_config
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.conftest import TownFixture, open_fire_case
from tests.dispatch.test_escalation_db import level_and_leader

pytestmark = pytest.mark.services
SH = ZoneInfo("Asia/Shanghai")


def commanders(zhongmen: TownFixture) -> list[str]:
    found = sorted(
        p.id
        for p in zhongmen.town.people.values()
        if any(post.kind == "duty_commander" for post in p.posts)
    )
    assert len(found) == 2
    return found


#: Day shifts from Monday 15 September 2025: FIRST, then SECOND on Tuesday 16th (the
#: clock's day, 09:00); FIRST stands in from 11:00 to 12:00 that day.
ROSTER = """
escalations: town
rosters:
  town:
    name: 镇总值班
    name_en: Town duty
    rotation: day
    handover: '08:30'
    start: 2025-09-15
    people: [FIRST, SECOND]
    overrides:
      - {start: 2025-09-16T11:00, end: 2025-09-16T12:00, person: FIRST}
"""


@pytest.fixture
def duty_ctx(ctx: Context, zhongmen: TownFixture, tmp_path: Path) -> Context:
    """The dispatcher's context with ROSTER as duty.yaml, the town's commanders in it."""
    first, second = commanders(zhongmen)
    for name in ("deadlines.yaml", "routing.yaml"):
        (tmp_path / name).write_bytes((zhongmen.config_dir / name).read_bytes())
    text = ROSTER.replace("FIRST", first).replace("SECOND", second)
    (tmp_path / "duty.yaml").write_text(text, encoding="utf-8")
    return dataclasses.replace(ctx, config=load_config(tmp_path, zhongmen.town.people))


def test_a_rise_to_the_town_goes_to_the_commander_on_duty_then(
    conn: psycopg.Connection[Any], duty_ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    ctx = duty_ctx
    first, second = commanders(zhongmen)
    fire = open_fire_case(conn, ctx, zhongmen, clock, zhongmen.unit(7))
    town_leader = fire.leaders[3]
    assert town_leader not in (first, second)

    # Grid and village leaders as before: the roster is for rises above village level.
    for minutes, level in ((6, 1), (61, 2)):
        clock.advance(timedelta(minutes=minutes))
        drain(conn, ctx)
        assert level_and_leader(conn, fire.case_id) == (level, fire.leaders[level])

    clock.advance(timedelta(minutes=61))  # 11:08: the override holds
    drain(conn, ctx)
    assert level_and_leader(conn, fire.case_id) == (3, first)
    notified = conn.execute(
        "SELECT recipient FROM notifications WHERE kind = 'escalated' AND case_id = %s ORDER BY id",
        (fire.case_id,),
    ).fetchall()
    assert [r[0] for r in notified] == [fire.leaders[1], fire.leaders[2], first]
    assert conn.execute(
        "SELECT role, level FROM case_participants WHERE case_id = %s AND person = %s",
        (fire.case_id, first),
    ).fetchone() == ("leader", 3)
    assert conn.execute(
        "SELECT data->>'leader' FROM case_history WHERE case_id = %s AND action = 'escalated'"
        " ORDER BY id DESC LIMIT 1",
        (fire.case_id,),
    ).fetchone() == (first,)


def test_without_a_roster_for_escalations_the_town_leader_is_reached(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
) -> None:
    fire = open_fire_case(conn, ctx, zhongmen, clock, zhongmen.unit(11))
    for minutes in (6, 61, 61):
        clock.advance(timedelta(minutes=minutes))
        drain(conn, ctx)
    assert level_and_leader(conn, fire.case_id) == (3, fire.leaders[3])


def summaries(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT recipient, data->>'open', data->>'overdue', data->'at_town', title, body"
        " FROM notifications WHERE kind = 'handover' ORDER BY id"
    ).fetchall()


def test_each_hand_over_sends_the_incoming_commander_one_summary(
    conn: psycopg.Connection[Any], duty_ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    first, second = commanders(zhongmen)
    fire = open_fire_case(conn, duty_ctx, zhongmen, clock, zhongmen.unit(5))  # Tuesday 09:00
    drain(conn, duty_ctx)
    [(who, n_open, overdue, at_town, title, body)] = summaries(conn)
    assert (who, n_open, overdue, at_town) == (second, "1", "0", [])
    assert "交接班" in title and "Town duty hand-over, 2025-09-16 08:30 - 2025-09-17 08:30" in body

    # The override from 11:00 is a hand-over too; its end gives the shift back, told once.
    for hour in (10, 11, 12, 20):
        clock.set(datetime(2025, 9, 16, hour, 0, tzinfo=SH))
        drain(conn, duty_ctx)
    assert [s[0] for s in summaries(conn)] == [second, first]
    # Overnight the fire rose to the town; Wednesday's 08:30 hand-over tells the first.
    clock.set(datetime(2025, 9, 17, 8, 31, tzinfo=SH))
    drain(conn, duty_ctx)
    drain(conn, duty_ctx)
    assert [s[:4] for s in summaries(conn)][2:] == [(first, "1", "1", [fire.case_id])]
    assert f"#{fire.case_id}" in summaries(conn)[2][5]
