"""Case actions through the API: the assignee acts, the state machine says no with 409,
another grid's leader cannot even find the case, readers may not act."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from dispatch.worker import drain, make_context
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.dispatch.conftest import insert_event
from tests.gateway.auth_support import bearer, token_for

CONFIG = Path(__file__).resolve().parents[2] / "config"
UNIT = "V01-G01-U02"


def open_case(dsn: str, town: Town) -> dict[str, Any]:
    point = town.hierarchy.geometries[UNIT].representative_point()
    with psycopg.connect(dsn, autocommit=True) as conn:
        insert_event(conn, ts=datetime.now(UTC), lon=point.x, lat=point.y, category="fire_smoke")
        drain(conn, make_context(CONFIG))
        row = conn.execute("SELECT id, assignee FROM cases WHERE unit_id = %s", (UNIT,)).fetchone()
    assert row is not None
    return {"id": int(row[0]), "assignee": str(row[1])}


def test_the_unit_leader_accepts_starts_and_resolves_and_every_step_is_in_the_history(
    api: Gateway, gw_settings: Settings, town: Town
) -> None:
    case = open_case(gw_settings.database_url, town)
    leader = town.hierarchy.areas[UNIT].leader
    assert leader is not None and case["assignee"] == leader.person_id
    me = bearer(token_for(gw_settings, leader.person_id, Role.UNIT_LEADER))
    other = bearer(token_for(gw_settings, "P00020", Role.GRID_LEADER))
    auditor = bearer(token_for(gw_settings, "P01354", Role.AUDITOR))
    base = f"/api/v1/cases/{case['id']}/actions"
    with httpx.Client(base_url=api.url, timeout=10) as client:
        mine = client.get("/api/v1/cases", params={"assignee": "mine"}, headers=me).json()
        assert [c["id"] for c in mine] == [case["id"]]
        accept = {"action": "accept"}
        assert client.post(base, json=accept, headers=other).status_code == 404
        assert client.post(base, json=accept, headers=auditor).status_code == 403
        assert client.post(base, json={"action": "fly"}, headers=me).status_code == 422
        for action in ("accept", "start"):
            res = client.post(base, json={"action": action}, headers=me)
            assert res.status_code == 200, res.text
        wrong = client.post(base, json=accept, headers=me)
        assert wrong.status_code == 409
        assert "'accept'" in wrong.json()["detail"]["msg"]
        assert (wrong.json()["detail"]["status"], wrong.json()["detail"]["action"]) == (
            "in_progress",
            "accept",
        )
        resolve = {"action": "resolve", "note": "a\x00b"}
        bad = client.post(base, headers=me, json=resolve)
        assert bad.status_code == 422 and "note" in str(bad.json()["detail"][0]["loc"])
        resolve["note"] = "灭火器已处置"
        done = client.post(base, headers=me, json=resolve)
        assert done.status_code == 200, done.text
        body = done.json()
    assert body["status"] == "resolved"
    steps = [(h["action"], h["actor"]) for h in body["history"]]
    assert steps[-3:] == [(a, leader.person_id) for a in ("accept", "start", "resolve")]
    with psycopg.connect(gw_settings.database_url) as conn:
        audited = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert audited[-3:] == ["case.accept", "case.start", "case.resolve"]


def test_replaying_an_action_with_the_same_idempotency_key_acts_once(
    api: Gateway, gw_settings: Settings, town: Town
) -> None:
    case = open_case(gw_settings.database_url, town)
    me = bearer(token_for(gw_settings, case["assignee"], Role.UNIT_LEADER))
    url = f"/api/v1/cases/{case['id']}/actions"
    key = {"Idempotency-Key": "7f0c2a9e-accept-1"}
    with httpx.Client(base_url=api.url, timeout=10, headers=me) as client:
        accept = {"action": "accept", "note": "收到"}
        first = client.post(url, headers=key, json=accept)
        again = client.post(url, headers=key, json=accept)
        other = client.post(url, headers=key, json={**accept, "note": "different"})
        fresh = client.post(url, headers={"Idempotency-Key": "another-key"}, json=accept)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 422 and "Idempotency-Key" in other.text
    assert fresh.status_code == 409  # a new key is a new request: accept twice is refused
    with psycopg.connect(gw_settings.database_url) as conn:
        accepts = conn.execute(
            "SELECT count(*) FROM case_history WHERE case_id = %s AND action = 'accept'",
            (case["id"],),
        ).fetchone()
    assert accepts == (1,)
