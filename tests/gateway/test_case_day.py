"""A scripted day over HTTP on a controlled clock: a case from a camera's event to close.

The same day as tests/dispatch/test_case_day_db.py, now through the case API with
bearer tokens: opened by a sanitation event (severity 3: 240 working minutes to
accept, 1,440 to resolve), accepted, started and resolved by its unit leader,
verified by the grid leader, followed up (回访) unsatisfied, so back for rework
with a fresh resolve deadline, resolved again, verified and closed. Every step is
in the history with its actor and in the audit log with its request id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from gridwatch.town import Town
from tests.gateway.case_api_support import (
    PHOTO,
    Day,
    act,
    at,
    local,
    open_case,
)

pytestmark = pytest.mark.services


def deadlines(case: dict[str, Any]) -> tuple[datetime | None, ...]:
    return (at(case["accept_by"]), at(case["resolve_by"]), at(case["next_escalation_at"]))


def test_a_day_from_event_to_close_over_http(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    case = day.client.get(f"/api/v1/cases/{case_id}", headers=day.headers["unit"]).json()
    assert (case["status"], case["assignee"]) == ("assigned", day.people["unit"])
    # 240 working minutes: 09:00-12:00 and 14:00-15:00; 1,440 (7 h a day): to Friday noon.
    assert deadlines(case) == (local(16, 15), local(19, 12), local(16, 15))

    # Another unit's leader does not see the case at all.
    res = act(day, "other_unit", case_id, {"action": "accept"})
    assert res.status_code == 404

    # 09:30 the unit leader accepts: the case now escalates at its resolve deadline.
    # The app on a flaky line sends it twice with one Idempotency-Key: one acceptance.
    day.clock.set(local(16, 9, 30))
    first = act(day, "unit", case_id, {"action": "accept", "note": "收到"}, key="accept-1")
    assert first.status_code == 200, first.text
    again = act(day, "unit", case_id, {"action": "accept", "note": "收到"}, key="accept-1")
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = act(day, "unit", case_id, {"action": "start"}, key="accept-1")
    assert reused.status_code == 422 and "Idempotency-Key" in reused.text
    case = first.json()
    assert case["status"] == "accepted"
    assert deadlines(case) == (local(16, 15), local(19, 12), local(19, 12))

    # Someone else's case: the grid leader may not accept it, in any state.
    res = act(day, "grid", case_id, {"action": "accept"})
    assert res.status_code == 403
    detail = res.json()["detail"]
    assert (detail["role"], detail["action"]) == ("grid_leader", "accept")

    day.clock.set(local(16, 10))
    assert act(day, "unit", case_id, {"action": "start"}).status_code == 200
    day.clock.set(local(16, 11))
    res = act(day, "unit", case_id, {"action": "resolve", "note": "已清运", "photos": [PHOTO]})
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], at(case["resolved_at"]), case["next_escalation_at"]) == (
        "resolved",
        local(16, 11),
        None,
    )
    res = act(day, "unit", case_id, {"action": "verify"})
    assert res.status_code == 403 and res.json()["detail"]["role"] == "unit_leader"

    # 14:30 the grid leader checks the work on the spot.
    day.clock.set(local(16, 14, 30))
    case = act(day, "grid", case_id, {"action": "verify", "note": "现场已核查"}).json()
    assert case["status"] == "verified"

    # 16:00 the follow-up call: not satisfied (2). Back for rework, with 1,440 fresh
    # working minutes to resolve: Tuesday 16:00-17:30 ... Monday 22nd 08:30-10:00.
    day.clock.set(local(16, 16))
    res = act(day, "grid", case_id, {"action": "follow_up", "rating": 2, "note": "角落仍有垃圾"})
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], case["returns"], case["rating"], case["satisfied"]) == (
        "in_progress",
        1,
        2,
        False,
    )
    assert deadlines(case) == (local(16, 15), local(22, 10), local(22, 10))
    # In rework there is nothing to return or close: 409 naming the status and action.
    res = act(day, "grid", case_id, {"action": "close"})
    assert res.status_code == 409
    detail = res.json()["detail"]
    assert (detail["status"], detail["action"]) == ("in_progress", "close")
    assert "resolve" in detail["allowed"]

    # Wednesday: resolved again, verified, closed.
    day.clock.set(local(17, 9))
    case = act(day, "unit", case_id, {"action": "resolve", "note": "二次清运"}).json()
    assert (case["status"], case["next_escalation_at"]) == ("resolved", None)
    day.clock.set(local(17, 10))
    assert act(day, "grid", case_id, {"action": "verify"}).json()["status"] == "verified"
    day.clock.set(local(17, 11))
    res = act(day, "grid", case_id, {"action": "close", "note": "结案"})
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], at(case["closed_at"]), case["returns"]) == (
        "closed",
        local(17, 11),
        1,
    )

    unit, grid = day.people["unit"], day.people["grid"]
    steps = [
        (at(h["at"]), h["actor"], h["action"], h["from_status"], h["to_status"])
        for h in case["history"]
    ]
    assert steps == [
        (local(16, 9), "dispatcher", "created", None, "new"),
        (local(16, 9), "dispatcher", "assigned", "new", "assigned"),
        (local(16, 9, 30), unit, "accept", "assigned", "accepted"),
        (local(16, 10), unit, "start", "accepted", "in_progress"),
        (local(16, 11), unit, "resolve", "in_progress", "resolved"),
        (local(16, 14, 30), grid, "verify", "resolved", "verified"),
        (local(16, 16), grid, "rate_unsatisfied", "verified", "in_progress"),
        (local(17, 9), unit, "resolve", "in_progress", "resolved"),
        (local(17, 10), grid, "verify", "resolved", "verified"),
        (local(17, 11), grid, "close", "verified", "closed"),
    ]
    assert case["history"][4]["data"]["photos"] == [PHOTO]
    assert at(case["history"][6]["data"]["resolve_by"]) == local(22, 10)

    # The audit log has each write once (the replay is not a write), with who, what,
    # target, request id, and the real time it happened.
    with psycopg.connect(day.settings.database_url) as conn:
        audit = conn.execute(
            "SELECT at, subject, action, target, request_id FROM audit_log ORDER BY id"
        ).fetchall()
    target = f"case:{case_id}"
    assert [(s, a, t) for _, s, a, t, _ in audit] == [
        (unit, "case.accept", target),
        (unit, "case.start", target),
        (unit, "case.resolve", target),
        (grid, "case.verify", target),
        (grid, "case.follow_up", target),
        (unit, "case.resolve", target),
        (grid, "case.verify", target),
        (grid, "case.close", target),
    ]
    assert audit[-1][4] == res.headers["X-Request-ID"]
    assert all(abs(datetime.now(UTC) - when) < timedelta(minutes=5) for when, *_ in audit)
