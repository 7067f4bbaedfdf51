"""Joint cases over HTTP on a controlled clock: make_joint, department tasks, consultation.

A sanitation case in V01-G01-U02 (urban management's category) is made joint by the
duty commander with the police, urban management and emergency departments. Each
department's staff then see the case, work their own task and no other, and write
in its consultation, which reaches a live subscriber of another department.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dispatch.config import load_config
from dispatch.duty import escalation_commander
from gridwatch.domain import Role
from gridwatch.town import Town
from tests.gateway.auth_support import bearer, token_for
from tests.gateway.case_api_support import CONFIG, TZ, Day, act, at, local, open_case
from tests.gateway.conftest import wait_for

pytestmark = pytest.mark.services

DEPARTMENTS = ["police", "urban", "emergency"]


def staff_headers(day: Day, town: Town) -> dict[str, dict[str, str]]:
    """A token for the first member of staff of each department (its contact)."""
    return {
        d.id: bearer(token_for(day.settings, d.contact, Role.DEPARTMENT_STAFF))
        for d in town.departments.values()
    }


def task(day: Day, headers: dict[str, str], case_id: int, dept: str, action: str) -> Any:
    return day.client.post(
        f"/api/v1/cases/{case_id}/tasks/{dept}", json={"action": action}, headers=headers
    )


def make_joint(day: Day, case_id: int) -> Any:
    body = {"action": "make_joint", "departments": DEPARTMENTS, "note": "三部门联合整治"}
    return act(day, "duty", case_id, body)


def test_a_joint_case_with_three_departments_over_http(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    staff = staff_headers(day, town)
    # Before it is joint, the police do not see an urban management case at all.
    assert day.client.get(f"/api/v1/cases/{case_id}", headers=staff["police"]).status_code == 404

    day.clock.set(local(16, 10))
    res = act(day, "grid", case_id, {"action": "make_joint", "departments": DEPARTMENTS})
    assert res.status_code == 403
    assert res.json()["detail"]["action"] == "make_joint"
    res = make_joint(day, case_id)
    assert res.status_code == 200, res.text
    case = res.json()
    # It goes to the commander on duty by the roster, whoever made it joint.
    on = escalation_commander(load_config(CONFIG).duty, day.clock.now(), TZ)
    assert on is not None
    assert (case["status"], case["assignee"]) == ("in_progress", on.person)
    assert [(t["department_id"], t["status"]) for t in case["tasks"]] == [
        (d, "open") for d in sorted(DEPARTMENTS)
    ]
    # 1,440 working minutes from Tuesday 10:00: Friday 15:00.
    assert {at(t["due_at"]) for t in case["tasks"]} == {local(19, 15)}
    assert "close" in case["allowed_actions"] and "make_joint" not in case["allowed_actions"]

    # Now each task's department sees the case and works its own task, no other's.
    seen = day.client.get(f"/api/v1/cases/{case_id}", headers=staff["police"])
    assert seen.status_code == 200 and len(seen.json()["tasks"]) == 3
    assert day.client.get(f"/api/v1/cases/{case_id}", headers=staff["ops"]).status_code == 404
    assert task(day, staff["police"], case_id, "police", "accept").status_code == 200
    wrong = task(day, staff["police"], case_id, "urban", "accept")
    assert wrong.status_code == 403 and wrong.json()["detail"]["role"] == "department_staff"
    twice = task(day, staff["police"], case_id, "police", "accept")
    assert twice.status_code == 409 and twice.json()["detail"]["status"] == "accepted"
    assert task(day, staff["police"], case_id, "police", "done").status_code == 200
    assert task(day, staff["urban"], case_id, "urban", "accept").status_code == 200
    assert task(day, staff["urban"], case_id, "urban", "done").status_code == 200

    # Two of three done: closing without a reason is refused, naming the open task.
    res = act(day, "duty", case_id, {"action": "close"})
    assert res.status_code == 409
    assert res.json()["detail"]["open_tasks"] == ["emergency"]

    day.clock.set(local(16, 16))
    assert task(day, staff["emergency"], case_id, "emergency", "accept").status_code == 200
    res = task(day, staff["emergency"], case_id, "emergency", "done")
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], at(case["closed_at"])) == ("closed", local(16, 16))
    assert [t["status"] for t in case["tasks"]] == ["done"] * 3
    steps = [(h["action"], (h["data"] or {}).get("department")) for h in case["history"]]
    assert ("task_done", "emergency") in steps and steps[-1] == ("close", None)


def test_the_commander_closes_with_a_reason_while_tasks_are_open(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    assert make_joint(day, case_id).status_code == 200
    assert act(day, "grid", case_id, {"action": "close", "note": "x"}).status_code == 403
    res = act(day, "duty", case_id, {"action": "close", "note": "已移交市级处置"})
    assert res.status_code == 200, res.text
    case = res.json()
    assert case["status"] == "closed"
    assert case["history"][-1]["data"] == {"open_tasks": sorted(DEPARTMENTS)}


def _consultation_frame(res: httpx.Response) -> dict[str, Any]:
    """The data of the next ``consultation`` frame of a live stream."""
    event = ""
    for line in res.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "consultation":
            found: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return found
    raise AssertionError("the stream ended without a consultation message")


def test_a_consultation_message_reaches_a_live_subscriber(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    staff = staff_headers(day, town)
    url = f"/api/v1/cases/{case_id}/consultation"
    message = {"body": "需要封路", "attachments": [{"sha256": "ef" * 32, "name": "示意图.png"}]}
    # Not joint yet: there is no consultation to write in.
    assert day.client.post(url, json=message, headers=day.headers["duty"]).status_code == 409
    assert make_joint(day, case_id).status_code == 200

    wait_for(lambda: day.client.get("/health").json()["live"], what="LISTEN")
    # The police, a task's department but not the case's own, listen live.
    with (
        httpx.Client(base_url=str(day.client.base_url), timeout=10) as listener,
        listener.stream("GET", "/api/v1/live", headers=staff["police"]) as stream,
    ):
        res = day.client.post(url, json=message, headers=staff["urban"])
        assert res.status_code == 201, res.text
        pushed = _consultation_frame(stream)
    assert (pushed["case_id"], pushed["body"], pushed["attachments"]) == (
        case_id,
        "需要封路",
        message["attachments"],
    )
    decision = {"kind": "decision", "body": "今晚 20:00 封路清运"}
    assert day.client.post(url, json=decision, headers=staff["police"]).status_code == 403
    assert day.client.post(url, json=decision, headers=day.headers["duty"]).status_code == 201
    thread = day.client.get(url, headers=staff["emergency"]).json()
    assert [(m["kind"], m["body"]) for m in thread] == [
        ("message", "需要封路"),
        ("decision", "今晚 20:00 封路清运"),
    ]
    assert day.client.get(url, headers=staff["ops"]).status_code == 404


def test_the_duty_panel_lists_open_joint_cases_with_their_last_message(
    day: Day, town: Town
) -> None:
    open_case(day, town)  # a plain case, not listed
    joint = open_case(day, town)
    staff = staff_headers(day, town)
    assert make_joint(day, joint).status_code == 200
    url = f"/api/v1/cases/{joint}/consultation"
    body = {"kind": "decision", "body": "今晚 20:00 封路清运"}
    assert day.client.post(url, json=body, headers=day.headers["duty"]).status_code == 201

    listed = day.client.get("/api/v1/joint", headers=day.headers["duty"]).json()
    assert [c["id"] for c in listed] == [joint]  # the plain case is not joint
    [case] = listed
    assert sorted(t["department_id"] for t in case["tasks"]) == sorted(DEPARTMENTS)
    assert case["messages"] == 1
    last = case["last_message"]
    assert (last["kind"], last["body"]) == ("decision", body["body"])
    # A task's department sees it; a department without a task does not.
    police = day.client.get("/api/v1/joint", headers=staff["police"]).json()
    assert [c["id"] for c in police] == [joint]
    assert day.client.get("/api/v1/joint", headers=staff["ops"]).json() == []
    # Closed, it is no longer under consultation.
    assert act(day, "duty", joint, {"action": "close", "note": "已移交"}).status_code == 200
    assert day.client.get("/api/v1/joint", headers=day.headers["duty"]).json() == []
