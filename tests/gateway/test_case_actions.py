"""The case actions' edges over HTTP: bad bodies name the field, merge, reassign and
escalate, replays act once, size and rate limits, and an audit log nobody rewrites."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from gateway.api.limits import MAX_BODY, MAX_QUERY_VALUE
from gateway.api.throttle import TokenBucket
from gridwatch.town import Town
from tests.gateway.case_api_support import (
    OTHER_UNIT,
    UNIT,
    Day,
    act,
    open_case,
)

pytestmark = pytest.mark.services


def history_count(day: Day, case_id: int) -> int:
    with psycopg.connect(day.settings.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM case_history WHERE case_id = %s", (case_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "reject"}, "note"),
        ({"action": "reject", "note": ""}, "note"),
        ({"action": "follow_up", "rating": 7}, "rating"),
        ({"action": "follow_up", "rating": "5"}, "rating"),
        ({"action": "fly"}, "action"),
        ({"action": "resolve", "photos": [{"sha256": "xyz", "ref": "a.jpg"}]}, "sha256"),
        ({"action": "accept", "colour": "red"}, "colour"),
        ({"action": "merge", "into": 999_999}, "into"),
        ({"action": "reassign", "area_id": "V99-G99"}, "area_id"),
        ({"action": "comment", "note": "x" * 2001}, "note"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(
    day: Day, town: Town, body: dict[str, Any], field: str
) -> None:
    case_id = open_case(day, town)
    res = act(day, "duty", case_id, body)
    assert res.status_code == 422, res.text
    # The field is in the error's location, or (an unknown action) named in its message.
    named = [field in map(str, e["loc"]) or f"'{field}'" in e["msg"] for e in res.json()["detail"]]
    assert any(named), res.text
    assert history_count(day, case_id) == 2  # created, assigned: nothing more


def test_merge_reassign_and_escalate_by_hand(day: Day, town: Town) -> None:
    first = open_case(day, town, "sanitation")
    second = open_case(day, town, "illegal_parking")
    assert first != second

    # The duty commander merges the second into the first: its recurrence moves there.
    res = act(day, "duty", second, {"action": "merge", "into": first, "note": "同一处"})
    assert res.status_code == 200, res.text
    assert (res.json()["status"], res.json()["duplicate_of"]) == ("duplicate", first)
    target = day.client.get(f"/api/v1/cases/{first}", headers=day.headers["duty"]).json()
    assert target["recurrence"] == 2
    assert target["history"][-1]["action"] == "merged_case"

    # The unit leader may not reassign; the commander sends it to the next unit's leader.
    other_leader = town.hierarchy.chain(OTHER_UNIT)[0].leader
    assert other_leader is not None
    res = act(day, "unit", first, {"action": "reassign", "area_id": OTHER_UNIT})
    assert res.status_code == 403 and res.json()["detail"]["action"] == "assign"
    res = act(day, "duty", first, {"action": "reassign", "area_id": OTHER_UNIT, "note": "错派"})
    assert res.status_code == 200, res.text
    assert (res.json()["status"], res.json()["assignee"]) == ("assigned", other_leader.person_id)

    # The commander raises it to the grid by hand.
    res = act(day, "duty", first, {"action": "escalate", "note": "需要网格协调"})
    assert res.status_code == 200, res.text
    assert res.json()["escalation_level"] == 1
    assert res.json()["history"][-1]["actor"] == day.people["duty"]


def test_the_new_assignee_of_a_reassigned_case_may_act_on_it(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    res = act(day, "duty", case_id, {"action": "reassign", "area_id": OTHER_UNIT, "note": "错派"})
    assert res.status_code == 200, res.text
    mine = day.client.get("/api/v1/cases?assignee=mine", headers=day.headers["other_unit"])
    assert mine.status_code == 200 and case_id in [c["id"] for c in mine.json()]
    assert act(day, "other_unit", case_id, {"action": "accept"}).status_code == 200


def test_a_replayed_action_is_taken_once(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    body = {"action": "comment", "note": "已联系物业"}
    answers = [act(day, "grid", case_id, body, key="c-1") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[1].json() == answers[0].json() == answers[2].json()
    assert history_count(day, case_id) == 3
    # The key is the grid leader's: the commander's own c-1 is a request of its own.
    assert act(day, "duty", case_id, body, key="c-1").headers.get("Idempotent-Replayed") is None
    assert history_count(day, case_id) == 4
    # A refused request rolls back with its key, which stays free for the corrected one.
    assert act(day, "grid", case_id, {"action": "close"}, key="r-1").status_code == 409
    res = act(day, "grid", case_id, {"action": "comment", "note": "改为备注"}, key="r-1")
    assert res.status_code == 200 and "Idempotent-Replayed" not in res.headers
    assert history_count(day, case_id) == 5
    bad = day.client.post(
        f"/api/v1/cases/{case_id}/actions",
        json=body,
        headers={**day.headers["grid"], "Idempotency-Key": "two words"},
    )
    assert bad.status_code == 422 and "Idempotency-Key" in bad.text


def test_size_and_rate_limits(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    url = f"/api/v1/cases/{case_id}/actions"
    big = day.client.post(
        url,
        content=b'{"action": "comment", "note": "' + b"x" * MAX_BODY + b'"}',
        headers={**day.headers["grid"], "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.headers["X-Request-ID"]
    long = day.client.get(
        "/api/v1/cases",
        params={"category": "x" * (MAX_QUERY_VALUE + 1)},
        headers=day.headers["grid"],
    )
    assert long.status_code == 422 and "category" in long.text

    day.app.state.gridwatch.writes = TokenBucket(per_minute=1, burst=2)
    codes = [act(day, "grid", case_id, {"action": "comment", "note": "n"}) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1
    # Another subject has its own bucket.
    assert act(day, "duty", case_id, {"action": "comment", "note": "n"}).status_code == 200


def test_audit_log_only_grows(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    res = act(day, "grid", case_id, {"action": "comment", "note": "巡查"})
    assert res.status_code == 200
    with psycopg.connect(day.settings.database_url) as conn:
        row = conn.execute(
            "SELECT subject, action, target, request_id, data->>'role' FROM audit_log"
        ).fetchone()
        assert row == (
            day.people["grid"],
            "case.comment",
            f"case:{case_id}",
            res.headers["X-Request-ID"],
            "grid_leader",
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE audit_log SET subject = 'someone'")
    with psycopg.connect(day.settings.database_url) as conn:
        conn.execute("SET ROLE gridwatch_api")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")


def test_every_snapshot_view_is_audited_with_its_request_id(day: Day, town: Town) -> None:
    open_case(day, town)
    with psycopg.connect(day.settings.database_url) as conn:
        row = conn.execute(
            # The camera's unit, as ingest records it from the device registry.
            "UPDATE events SET snapshot_sha256 = %s, snapshot_ref = 'snap/1.jpg', unit_id = %s"
            " RETURNING event_id",
            ("ef" * 32, UNIT),
        ).fetchone()
    assert row is not None
    url = f"/api/v1/events/{row[0]}/snapshot"
    views = [
        day.client.get(url, headers={**day.headers["grid"], "X-Request-ID": f"view-{n}"})
        for n in (1, 2)
    ]
    assert [v.status_code for v in views] == [200, 200]
    assert [v.headers["X-Request-ID"] for v in views] == ["view-1", "view-2"]
    with psycopg.connect(day.settings.database_url) as conn:
        audit = conn.execute(
            "SELECT subject, action, target, request_id FROM audit_log ORDER BY id"
        ).fetchall()
    target = f"event:{row[0]}"
    assert audit == [
        (day.people["grid"], "snapshot.view", target, "view-1"),
        (day.people["grid"], "snapshot.view", target, "view-2"),
    ]


def test_two_replays_at_once_act_once(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    body = {"action": "comment", "note": "同时提交"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: act(day, "grid", case_id, body, key="race"), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    # The same answer (jsonb keeps the object, not its key order).
    assert all(a.json() == answers[0].json() for a in answers)
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
    assert history_count(day, case_id) == 3


def test_the_case_detail_lists_the_actions_its_caller_may_take(day: Day, town: Town) -> None:
    case_id = open_case(day, town)

    def offered(who: str) -> list[str]:
        res = day.client.get(f"/api/v1/cases/{case_id}", headers=day.headers[who])
        assert res.status_code == 200, res.text
        return list(res.json()["allowed_actions"])

    assert offered("unit") == ["accept", "reject", "comment", "escalate"]
    assert "accept" not in offered("grid") and "reassign" in offered("grid")
    assert {"accept", "reassign", "merge"} <= set(offered("duty"))
    after = act(day, "unit", case_id, {"action": "accept"})
    assert after.status_code == 200, after.text
    assert "accept" not in after.json()["allowed_actions"]
    assert {"start", "resolve"} <= set(after.json()["allowed_actions"])
    # Each one offered is taken: the grid leader's comment, not refused.
    assert act(day, "grid", case_id, {"action": "comment", "note": "已核实"}).status_code == 200
