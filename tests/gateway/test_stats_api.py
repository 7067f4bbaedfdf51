"""``GET /api/v1/stats/cases``: counts per day, category and unit, on-time rates, in scope."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from tests.gateway.auth_support import DUTY, bearer, token_for
from tests.gateway.seed_support import two_grids

pytestmark = pytest.mark.services
GRID_LEADER_A = "P00003"  # leads V01-G01


def test_case_stats_count_on_time_cases_and_keep_to_the_callers_scope(
    api: Gateway, gw_settings: Settings
) -> None:
    a, b = two_grids(gw_settings.database_url, gw_settings.topic_prefix)
    with psycopg.connect(gw_settings.database_url) as conn:
        # Case a: accepted in time, resolved late; its report: accepted late (overdue now).
        conn.execute(
            "UPDATE cases SET status = 'resolved', accepted_at = accept_by - interval '1 minute',"
            " resolved_at = resolve_by + interval '1 hour' WHERE id = %s",
            (a.case_id,),
        )
        conn.execute(
            "UPDATE cases SET status = 'accepted', accepted_at = accept_by + interval '5 minutes'"
            " WHERE id = %s",
            (a.report_id,),
        )
    duty = bearer(token_for(gw_settings, DUTY, Role.DUTY_COMMANDER))
    leader = bearer(token_for(gw_settings, GRID_LEADER_A, Role.GRID_LEADER))
    with httpx.Client(base_url=api.url, timeout=10) as client:
        town = client.get("/api/v1/stats/cases?days=7", headers=duty).json()
        mine = client.get("/api/v1/stats/cases?days=7", headers=leader).json()
        assert client.get("/api/v1/stats/cases?days=0", headers=duty).status_code == 422
    assert town["days"] == 7 and town["tz"] == gw_settings.tz
    assert sum(d["n"] for d in town["per_day"]) == 4
    assert {d["category"] for d in town["per_day"]} == {"intrusion"}
    units = {u["unit_id"]: u for u in town["per_unit"]}
    assert set(units) == {a.unit, b.unit} and units[b.unit]["n"] == 2
    ua = units[a.unit]
    assert (ua["n"], ua["accepted"], ua["accepted_on_time"]) == (2, 2, 1)
    assert (ua["resolved"], ua["resolved_on_time"]) == (1, 0)
    [cat] = town["per_category"]
    assert (cat["category"], cat["n"], cat["accepted_on_time"]) == ("intrusion", 4, 1)
    # The grid leader counts only their grid's cases.
    assert [u["unit_id"] for u in mine["per_unit"]] == [a.unit]
    assert sum(d["n"] for d in mine["per_day"]) == 2
