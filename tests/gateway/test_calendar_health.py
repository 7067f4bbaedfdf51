"""/health tells operators, weeks ahead, that the working calendar runs out."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.gateway.case_api_support import Day

pytestmark = pytest.mark.services
SH = ZoneInfo("Asia/Shanghai")


def test_health_warns_within_sixty_days_of_the_calendars_end_without_degrading(
    day: Day,
) -> None:
    body = day.client.get("/health").json()  # 16 September 2025
    assert body["calendar"] == {
        "year": 2025,
        "last_year": 2026,
        "days_left": 472,
        "warning": None,
        "weekdays_only": False,
    }

    day.clock.set(datetime(2026, 11, 15, 9, tzinfo=SH).astimezone(UTC))
    res = day.client.get("/health")
    assert res.status_code == 200 and res.json()["status"] == "ok"
    cal = res.json()["calendar"]
    assert (cal["last_year"], cal["days_left"]) == (2026, 47)
    assert "add 2027 to calendar.yaml" in cal["warning"]
    assert res.json()["dispatch_parked"] == 0

    day.clock.set(datetime(2027, 1, 2, 9, tzinfo=SH).astimezone(UTC))
    cal = day.client.get("/health").json()["calendar"]
    assert cal["last_year"] is None and "does not cover 2027" in cal["warning"]
    # The sample town's calendar.yaml counts the missing year Monday to Friday, and says so.
    assert cal["weekdays_only"] and "deadlines count Monday to Friday" in cal["warning"]
