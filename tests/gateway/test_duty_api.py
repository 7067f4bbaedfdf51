"""GET /api/v1/duty and `gridwatch duty now` answer alike: who is duty commander when."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridwatch.domain import Role
from gridwatch.town import Town
from tests.gateway.auth_support import bearer, token_for
from tests.gateway.case_api_support import Day

pytestmark = pytest.mark.services
SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]
POLICE = "P01337"  # department staff: may see who is on duty, not their phone


def cli_person(when: str) -> str:
    """The person id `gridwatch duty now --at` prints for the shipped roster."""
    proc = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "duty", "now", "--at", when, "--roster", "town"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("镇总值班 / Town duty (town): "), proc.stdout
    return proc.stdout.split(": ", 1)[1].split(",")[0].split()[-1]


def test_the_api_and_the_cli_name_the_same_commander_across_a_hand_over(
    day: Day, town: Town
) -> None:
    seen = []
    for local in ("2026-12-05T08:29", "2026-12-05T08:30"):
        day.clock.set(datetime.fromisoformat(local).replace(tzinfo=SH).astimezone(UTC))
        res = day.client.get("/api/v1/duty", headers=day.headers["unit"])
        assert res.status_code == 200, res.text
        [entry] = res.json()
        assert entry["person"] == cli_person(local)
        person = town.people[entry["person"]]
        assert (entry["name"], entry["phone"]) == (person.name, person.phone)
        assert entry["escalations"] is True and entry["why"] == "rotation"
        seen.append(entry["person"])
    assert seen[0] != seen[1]  # 08:30 is the hand-over
    # ?at= asks about another time without moving the clock.
    later = day.client.get(
        "/api/v1/duty",
        params={"at": "2026-12-06T09:00:00+08:00", "roster": "town"},
        headers=day.headers["unit"],
    ).json()
    assert later[0]["person"] == seen[0]


def test_the_phone_only_for_roles_that_call_people(day: Day) -> None:
    staff = bearer(token_for(day.settings, POLICE, Role.DEPARTMENT_STAFF))
    [entry] = day.client.get("/api/v1/duty", headers=staff).json()
    assert entry["name"] and entry["phone"] is None
    assert day.client.get("/api/v1/duty").status_code == 401
    missing = day.client.get("/api/v1/duty", params={"roster": "street"}, headers=staff)
    assert missing.status_code == 404


def test_a_moment_out_of_range_is_refused_naming_at(day: Day) -> None:
    res = day.client.get(
        "/api/v1/duty", params={"at": "9999-12-31T23:59:59+00:00"}, headers=day.headers["unit"]
    )
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["loc"] == ["query", "at"]
