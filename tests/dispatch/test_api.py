"""GET /api/v1/cases and /api/v1/cases/{id} over a real database, through the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from dispatch.store import Context
from dispatch.worker import drain
from gateway.api.models.cases import CasePublic
from gateway.auth.store import create_key
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.services import free_port
from gridwatch.settings import get_settings
from tests.dispatch.conftest import TownFixture, insert_event

pytestmark = pytest.mark.services


def fetch_all(
    dsn: str, town: TownFixture, paths: list[tuple[str, dict[str, Any]]]
) -> list[httpx.Response]:
    """GET each path from a running gateway (API only, no ingest)."""
    settings = get_settings(database_url=dsn, http_host="127.0.0.1", http_port=free_port())
    with psycopg.connect(dsn) as conn:
        _, key = create_key(conn, "tests", Role.PLATFORM, "tests")  # sees the whole town
    with (
        Gateway(settings, town=town.town, ingest=False) as gw,
        httpx.Client(base_url=gw.url, timeout=10, headers={"X-API-Key": key}) as client,
    ):
        return [client.get(path, params=params) for path, params in paths]


def test_cases_list_filters_and_detail_shows_events_and_history(
    db: str, conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture
) -> None:
    units = [zhongmen.unit(20), zhongmen.unit(21)]
    for n, (unit, cat) in enumerate(zip(units, ("fire_smoke", "illegal_parking"), strict=True)):
        lon, lat = zhongmen.point_in(unit)
        insert_event(
            conn, ts=ctx.clock.now(), lon=lon, lat=lat, category=cat, seq=n, device_id=f"cam-{n}"
        )
    drain(conn, ctx)
    first = conn.execute("SELECT id FROM cases WHERE unit_id = %s", (units[0],)).fetchone()
    assert first is not None
    listed, only, flood, page, bogus, detail, missing = fetch_all(
        db,
        zhongmen,
        [
            ("/api/v1/cases", {}),
            ("/api/v1/cases", {"unit": units[0]}),
            ("/api/v1/cases", {"category": "flood"}),
            ("/api/v1/cases", {"status": "assigned", "limit": 1}),
            ("/api/v1/cases", {"status": "bogus"}),
            (f"/api/v1/cases/{first[0]}", {}),
            ("/api/v1/cases/999999", {}),
        ],
    )
    assert [c["category"] for c in listed.json()] == ["illegal_parking", "fire_smoke"]
    # The list is encoded from its rows directly: exactly what CasePublic would send.
    assert listed.json() == [
        CasePublic.model_validate(c).model_dump(mode="json") for c in listed.json()
    ]
    assert [c["unit_id"] for c in only.json()] == [units[0]]
    assert flood.json() == []
    assert len(page.json()) == 1
    assert bogus.status_code == 422
    body = detail.json()
    assert body["events"][0]["device_id"] == "cam-0"
    assert body["events"][0]["rule"] == "test-rule"
    assert [h["action"] for h in body["history"]] == ["created", "assigned"]
    assert body["participants"][0]["role"] == "leader"
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
