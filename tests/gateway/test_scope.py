"""Nobody sees what is not theirs: row-level security and the routes, endpoint by endpoint.

The endpoints come from the app's own routes, so a new one cannot escape the test.
A grid leader of grid A (V01-G01) gets 404 for every case, event, snapshot, device
and report of grid B (V02-G03), and lists never hold them; the same holds for the
list queries run directly in SQL as gridwatch_api with grid A's scope set.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gateway.api.app import api_routes, create_app
from gateway.api.live import LiveMessage, live_message
from gateway.api.routers.live import visible_to
from gateway.api.signin import enter_scope
from gateway.auth.principal import Principal, scope_for
from gateway.auth.store import create_key
from gateway.db.queries import (
    CaseFilter,
    EventFilter,
    device_statuses,
    get_case,
    get_event,
    list_cases,
    list_dead_letters,
    list_events,
)
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.gateway.auth_support import bearer, token_for
from tests.gateway.seed_support import UnitRows as Side
from tests.gateway.seed_support import two_grids

CONFIG = Path(__file__).resolve().parents[2] / "config"
GRID_LEADER_A = "P00003"  # leads V01-G01
POLICE = "P01337"


@pytest.fixture
def world(gw_settings: Settings) -> tuple[Side, Side]:
    """Grid A's unit V01-G01-U02 and grid B's unit V02-G03-U02, whose cases go to the police."""
    return two_grids(gw_settings.database_url, gw_settings.topic_prefix, gw_settings.snapshot_root)


def _leader(town: Town, area: str) -> str:
    leader = town.hierarchy.areas[area].leader
    assert leader is not None
    return leader.person_id


def _path(template: str, side: Side, town: Town) -> str:
    values = {
        "case_id": side.report_id if template.startswith("/api/v1/reports") else side.case_id,
        "event_id": side.event_id,
        "device_id": side.device,
        "dead_letter_id": side.dead_letter_id,
        "person_id": _leader(town, side.grid),
        "request_id": side.case_id,  # Open311's service_request_id is the case id
        "sha256": side.snapshot_sha256,
        "department": "police",  # a joint case's task
    }

    def fill(m: re.Match[str]) -> str:
        name = m[1]
        assert name in values, f"the isolation test does not know path parameter {{{name}}}"
        return str(values[name])

    return re.sub(r"\{(\w+)\}", fill, template)


def _pairs(body: Any) -> set[tuple[str, str]]:
    """Every (key, value) in a JSON body, values as text."""
    out: set[tuple[str, str]] = set()
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(v, dict | list):
                    stack.append(v)
                else:
                    out.add((k, str(v)))
        elif isinstance(item, list):
            stack.extend(item)
    return out


def _marks(side: Side, path: str) -> set[tuple[str, str]]:
    """What would betray one side's rows in a list."""
    marks = {
        ("unit_id", side.unit),
        ("grid_id", side.grid),
        ("device_id", side.device),
        ("event_id", side.event_id),
        ("area", side.unit),
        ("id", side.device),
        ("id", side.unit),
    }
    if path.startswith(("/api/v1/cases", "/api/v1/reports")):
        marks |= {("id", str(side.case_id)), ("id", str(side.report_id))}
    if path.startswith("/open311/"):
        marks |= {
            ("service_request_id", str(side.case_id)),
            ("service_request_id", str(side.report_id)),
        }
    return marks


#: Bodies for writes: a comment, which a grid leader may leave on any case they see.
BODIES: dict[str, Any] = {
    "/api/v1/cases/{case_id}/actions": {"action": "comment", "note": "巡查"},
    "/api/v1/cases/{case_id}/tasks/{department}": {"action": "accept"},
    "/api/v1/cases/{case_id}/consultation": {"body": "巡查"},
}

#: Writes refused on grid A's own case for what it is, not for whose: A is no joint case,
#: so it has no police task (404, naming the task) and the grid leader takes no part in
#: a consultation (403). Grid B's case must still be a 404.
REFUSED_MINE: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/cases/{case_id}/tasks/{department}"): 404,
    ("POST", "/api/v1/cases/{case_id}/consultation"): 403,
}

#: Not about rows: health and metrics (counts only), how to log in, the live stream (checked
#: below), the console, and Open311's catalogue; a token resolves for whoever holds it
#: (tests/gateway/test_open311_flow.py).
SKIP = {
    "/health",
    "/metrics",
    "/api/v1/auth/token",
    "/api/v1/live",
    "/",
    "/docs",
    "/open311/discovery.{fmt}",
    "/open311/v2/services.{fmt}",
    "/open311/v2/services/{code}.{fmt}",
    "/open311/v2/tokens/{token}.{fmt}",
}

#: Path parameters that name no row (a report's period): filled in, the route is a list.
NOT_ROWS = {"{kind}": "weekly"}

#: Writes that read no rows; what they create is routed, not chosen by the caller.
CREATES = {("POST", "/open311/v2/requests.{fmt}")}


def test_a_grid_leader_gets_404_for_everything_of_another_grid_on_every_endpoint(
    api: Gateway, gw_settings: Settings, town: Town, world: tuple[Side, Side]
) -> None:
    a, b = world
    headers = bearer(token_for(gw_settings, GRID_LEADER_A, Role.GRID_LEADER))
    routes = [r for r in api_routes(create_app(gw_settings, town)) if r.path not in SKIP]
    assert len(routes) >= 12
    seen_items = 0
    with httpx.Client(base_url=api.url, timeout=10, headers=headers) as client:
        for route in routes:
            # Open311's format suffix is no row: its routes are read as JSON.
            template = route.path.replace(".{fmt}", ".json")
            for param, value in NOT_ROWS.items():
                template = template.replace(param, value)
            for method in sorted(route.methods or ()):
                if "{" in template:
                    body = BODIES.get(route.path)
                    mine = client.request(method, _path(template, a, town), json=body)
                    theirs = client.request(method, _path(template, b, town), json=body)
                    assert theirs.status_code in (403, 404), (method, route.path, theirs.text)
                    refused = REFUSED_MINE.get((method, route.path))
                    if refused is not None:
                        got = (mine.status_code, theirs.status_code)
                        assert got == (refused, 404), (method, route.path, mine.text)
                    elif mine.status_code == 200:
                        seen_items += 1
                        assert theirs.status_code == 404, (method, route.path)
                    else:
                        assert mine.status_code == theirs.status_code == 403, route.path
                elif (method, route.path) not in CREATES:
                    res = client.request(method, template)
                    assert res.status_code in (200, 403), (method, route.path, res.text)
                    if res.headers["content-type"].startswith("text/html"):
                        assert b.unit not in res.text and b.grid not in res.text, route.path
                    elif res.status_code == 200:
                        leaked = _pairs(res.json()) & _marks(b, route.path)
                        assert not leaked, (route.path, leaked)
        # The test can fail: grid A's own rows are there.
        listed = client.get("/api/v1/cases").json()
        assert {c["id"] for c in listed} == {a.case_id, a.report_id}
        open311 = client.get("/open311/v2/requests.json").json()
        assert {int(r["service_request_id"]) for r in open311} == {a.case_id, a.report_id}
        assert [e["event_id"] for e in client.get("/api/v1/events").json()] == [a.event_id]
        devices = client.get("/api/v1/devices").json()
        assert "cam-0001" in {d["id"] for d in devices}
        assert {d["status"] for d in devices if d["id"] == "cam-0001"} == {"online"}
        people = client.get("/api/v1/people").json()
        assert all(p["phone"] for p in people) and GRID_LEADER_A in {p["id"] for p in people}
        mine = client.get("/api/v1/cases", params={"assignee": "mine"}).json()
        assert mine == []  # the seeded cases are the unit leader's
        # The route pass commented on A's case, and only on A's.
        overdue = client.get("/api/v1/cases", params={"overdue": "true"}).json()
        assert {c["id"] for c in overdue} == {a.case_id, a.report_id}
        review = client.get("/api/v1/reviews/weekly").json()
        assert {g["id"] for g in review["counts"]["grid"]} == {a.grid}
        history = client.get(f"/api/v1/cases/{a.case_id}").json()["history"]
        assert (history[-1]["action"], history[-1]["actor"]) == ("comment", GRID_LEADER_A)
    # cases, reports, events, snapshots, devices, people at least
    assert seen_items >= 6


def test_department_staff_see_their_departments_cases_and_no_phones(
    api: Gateway, gw_settings: Settings, world: tuple[Side, Side]
) -> None:
    a, b = world
    headers = bearer(token_for(gw_settings, POLICE, Role.DEPARTMENT_STAFF))
    with httpx.Client(base_url=api.url, timeout=10, headers=headers) as client:
        assert {c["id"] for c in client.get("/api/v1/cases").json()} == {b.case_id, b.report_id}
        assert client.get(f"/api/v1/cases/{a.case_id}").status_code == 404
        detail = client.get(f"/api/v1/cases/{b.case_id}").json()
        assert [e["event_id"] for e in detail["events"]] == [b.event_id]
        assert [e["event_id"] for e in client.get("/api/v1/events").json()] == [b.event_id]
        people = client.get("/api/v1/people").json()
        assert people and not any(p["phone"] for p in people)
        assert client.get("/api/v1/dead-letters").status_code == 403


def test_the_device_admin_lists_dead_letters_of_the_whole_town(
    api: Gateway, gw_settings: Settings, world: tuple[Side, Side]
) -> None:
    a, b = world
    with psycopg.connect(gw_settings.database_url) as conn:
        _, key = create_key(conn, "ops", Role.DEVICE_ADMIN, "tests")
    with httpx.Client(base_url=api.url, timeout=10, headers={"X-API-Key": key}) as client:
        rows = client.get("/api/v1/dead-letters").json()
        assert [r["id"] for r in rows] == [b.dead_letter_id, a.dead_letter_id]
        assert rows[0]["reason"] == "unknown device"
        replay = client.post(f"/api/v1/dead-letters/{a.dead_letter_id}/replay")
        assert replay.status_code == 200, replay.text
        assert replay.json()["replayed_by"].startswith("key:")


def test_in_sql_the_api_role_with_grid_as_scope_sees_nothing_of_grid_b(
    gw_settings: Settings, town: Town, world: tuple[Side, Side]
) -> None:
    a, b = world
    scope = scope_for(town, Role.GRID_LEADER, GRID_LEADER_A)
    devices = [d.id for d in town.devices.values() if d.unit in scope.units]
    with psycopg.connect(gw_settings.database_url) as conn:
        enter_scope(conn, scope, devices)
        assert conn.execute("SELECT current_user").fetchone() == ("gridwatch_api",)
        assert {c.id for c in list_cases(conn, CaseFilter())} == {a.case_id, a.report_id}
        assert list_cases(conn, CaseFilter(grid=b.grid)) == []
        # The scope's bound is only a plan hint: the same rows, and another grid's
        # bound shows nothing, because the policy still decides.
        assert scope.bound == ("grid", a.grid)
        bounded = list_cases(conn, CaseFilter(within=scope.bound))
        assert {c.id for c in bounded} == {a.case_id, a.report_id}
        assert list_cases(conn, CaseFilter(within=("grid", b.grid))) == []
        assert get_case(conn, b.case_id) is None and get_case(conn, a.case_id) is not None
        assert [str(e.event_id) for e in list_events(conn, EventFilter())] == [a.event_id]
        assert get_event(conn, uuid.UUID(b.event_id)) is None
        assert [d.device_id for d in device_statuses(conn)] == [a.device]
        assert [d.id for d in list_dead_letters(conn)] == [a.dead_letter_id]
        for table in ("case_history", "case_events", "case_participants"):
            ids = {r[0] for r in conn.execute(f"SELECT DISTINCT case_id FROM {table}")}
            assert b.case_id not in ids and a.case_id in ids, table
        # A forgotten scope shows nothing at all.
        conn.execute("SELECT set_config('gridwatch.units', '', true)")
        conn.execute("SELECT set_config('gridwatch.grids', '', true)")
        conn.execute("SELECT set_config('gridwatch.villages', '', true)")
        assert list_cases(conn, CaseFilter()) == []
        conn.rollback()
        # The next transaction on the same connection is the login role again.
        assert conn.execute("SELECT current_user").fetchone() != ("gridwatch_api",)


def test_a_scope_is_bound_by_its_one_area_or_department_and_the_town_by_none(
    town: Town,
) -> None:
    h = town.hierarchy
    village, grid, unit = "V01", "V01-G01", "V01-G01-U02"
    assert scope_for(town, Role.GRID_LEADER, GRID_LEADER_A).bound == ("grid", grid)
    assert scope_for(town, Role.VILLAGE_LEADER, _leader(town, village)).bound == (
        "village",
        village,
    )
    if h.areas[unit].leader is not None:
        assert scope_for(town, Role.UNIT_LEADER, _leader(town, unit)).bound == ("unit", unit)
    assert scope_for(town, Role.DEPARTMENT_STAFF, POLICE).bound == ("department", "police")
    assert scope_for(town, Role.DUTY_COMMANDER, None).bound is None


def test_the_api_role_owns_nothing_bypasses_nothing_and_history_only_grows(
    gw_settings: Settings, town: Town, world: tuple[Side, Side]
) -> None:
    with psycopg.connect(gw_settings.database_url, autocommit=True) as conn:
        attrs = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles"
            " WHERE rolname = 'gridwatch_api'"
        ).fetchone()
        assert attrs == (False, False, False)
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = 'gridwatch_api'::regrole"
        ).fetchone()
        assert owned == (0,)
        forced: dict[str, bool] = dict(
            conn.execute(
                "SELECT relname, relforcerowsecurity AND relrowsecurity FROM pg_class"
                " WHERE relname = ANY (%s)",
                (["cases", "case_history", "case_events", "case_participants",
                  "device_status", "dead_letters", "notifications"],),
            ).fetchall()
        )  # fmt: skip
        assert set(forced.values()) == {True} and len(forced) == 7
        # Events and readings take COPY from the service role, which row-level security
        # forbids (0084): the API's role may not read them at all, only events_visible.
        for table in ("events", "readings"):
            readable = conn.execute(
                "SELECT has_table_privilege('gridwatch_api', %s, 'SELECT')", (table,)
            ).fetchone()
            assert readable == (False,), table
        for table, verb in (("case_history", "UPDATE"), ("case_history", "DELETE"),
                            ("audit_log", "UPDATE"), ("audit_log", "DELETE")):  # fmt: skip
            allowed = conn.execute(
                "SELECT has_table_privilege('gridwatch_api', %s, %s)", (table, verb)
            ).fetchone()
            assert allowed == (False,), (table, verb)
        scope = scope_for(town, Role.DUTY_COMMANDER, "P01352")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            enter_scope(conn, scope, [])
            conn.execute("DELETE FROM case_history")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            enter_scope(conn, scope, [])
            conn.execute("SELECT * FROM accounts")


def test_the_live_stream_passes_only_the_callers_units(town: Town) -> None:
    scope = scope_for(town, Role.GRID_LEADER, GRID_LEADER_A)
    leader = Principal("P00003", "P00003", None, Role.GRID_LEADER, scope)
    visible = visible_to(leader, town)
    assert visible is not None

    def msg(**data: object) -> LiveMessage:
        return live_message(1, json.dumps(data), "e")

    assert visible(msg(type="event", unit_id="V01-G01-U02"))
    assert not visible(msg(type="event", unit_id="V02-G03-U02"))
    assert not visible(msg(type="case", id=3, unit_id=None))
    duty = Principal(
        "P01352",
        "P01352",
        None,
        Role.DUTY_COMMANDER,
        scope_for(town, Role.DUTY_COMMANDER, "P01352"),
    )
    assert visible_to(duty, town) is None
