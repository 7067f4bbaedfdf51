"""GET /cases and GET /cases/{id} over a real database, through an async pool."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from dispatch.api import router
from dispatch.clock import ManualClock
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.conftest import TownFixture, insert_event

pytestmark = pytest.mark.services


async def fetch_all(dsn: str, paths: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """GET each path from an app that mounts the router, as the gateway's app does."""
    app = FastAPI()
    app.include_router(router)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        app.state.pool = pool
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path, params=params) for path, params in paths]


def test_cases_list_filters_and_detail_shows_events_and_history(
    db: str,
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
) -> None:
    units = [zhongmen.unit(20), zhongmen.unit(21)]
    for n, (unit, cat) in enumerate(zip(units, ("fire_smoke", "illegal_parking"), strict=True)):
        lon, lat = zhongmen.point_in(unit)
        insert_event(
            conn, ts=clock.now(), lon=lon, lat=lat, category=cat, seq=n, device_id=f"cam-{n}"
        )
    drain(conn, ctx)
    first = conn.execute("SELECT id FROM cases WHERE unit_id = %s", (units[0],)).fetchone()
    assert first is not None
    listed, only, flood, page, bogus, detail, missing = asyncio.run(
        fetch_all(
            db,
            [
                ("/cases", {}),
                ("/cases", {"unit": units[0]}),
                ("/cases", {"category": "flood"}),
                ("/cases", {"status": "assigned", "limit": 1}),
                ("/cases", {"status": "bogus"}),
                (f"/cases/{first[0]}", {}),
                ("/cases/999999", {}),
            ],
        )
    )
    assert [c["category"] for c in listed.json()] == ["illegal_parking", "fire_smoke"]
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
