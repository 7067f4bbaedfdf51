"""Fixtures for dispatch tests: a synthesized 1,114-unit town, a migrated database, a clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from dispatch.clock import ManualClock
from dispatch.config import load_config
from dispatch.notify import OutboxNotifier
from dispatch.store import Context
from dispatch.worker import drain
from gridwatch.town import Town, load_town
from gridwatch.town.hierarchy import Contact
from gridwatch.town.synth import SynthSpec, SynthTown, synth_town, write_config

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
#: Zhongmen's size: 61 grids, 1,114 units.
ZHONGMEN = SynthSpec(seed=7, villages=20, grids=61, units=1114)


@dataclass(frozen=True)
class TownFixture:
    town: Town
    synth: SynthTown
    config_dir: Path

    def unit(self, n: int) -> str:
        """The n-th unit (spread over the town) whose leader post is filled."""
        staffed = [u for u in self.town.hierarchy.unit_ids if self.town.hierarchy.areas[u].leader]
        return staffed[(n * 97) % len(staffed)]

    def point_in(self, unit_id: str) -> tuple[float, float]:
        p = self.town.hierarchy.geometries[unit_id].representative_point()
        return float(p.x), float(p.y)


@pytest.fixture(scope="session")
def zhongmen(tmp_path_factory: pytest.TempPathFactory) -> TownFixture:
    out = tmp_path_factory.mktemp("zhongmen")
    st = synth_town(ZHONGMEN)
    write_config(st, out, ZHONGMEN)
    # The dispatch tables are the shipped ones, so the tests check the real config.
    for name in ("deadlines.yaml", "routing.yaml"):
        (out / name).write_text((REPO / "config" / name).read_text(encoding="utf-8"))
    return TownFixture(load_town(out), st, out)


@pytest.fixture
def db(fresh_db: str) -> str:
    """A fresh database with every migration applied."""
    from gateway.db.migrate import migrate

    migrate(fresh_db)
    return fresh_db


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db, autocommit=True) as c:
        yield c


@pytest.fixture
def clock() -> ManualClock:
    # A Tuesday morning in Putian, away from holidays.
    return ManualClock(datetime(2025, 9, 16, 9, 0, tzinfo=TZ).astimezone(UTC))


@pytest.fixture
def ctx(zhongmen: TownFixture, clock: ManualClock) -> Context:
    return Context(
        town=zhongmen.town,
        config=load_config(zhongmen.config_dir),
        tz=TZ,
        clock=clock,
        notifier=OutboxNotifier(),
    )


def insert_event(
    conn: psycopg.Connection[Any],
    *,
    ts: datetime,
    category: str = "fire_smoke",
    severity: int = 1,
    lon: float | None = None,
    lat: float | None = None,
    unit_id: str | None = None,
    device_id: str = "cam-test-1",
    phase: str = "start",
    event_id: uuid.UUID | None = None,
    seq: int = 1,
    snapshot: str | None = None,
    crop: str | None = None,
) -> uuid.UUID:
    """Store an event and queue it, as ingest does (one statement, both rows); with
    ``snapshot`` and ``crop``, the hashes of its frame and crop."""
    event_id = event_id or uuid.uuid4()
    extra = {"crop": {"sha256": crop, "ref": "c.jpg"}} if crop else {}
    conn.execute(
        """
        WITH ins AS (
            INSERT INTO events (event_id, ts, received_at, device_id, seq, rule, category,
                severity, phase, cls, score, lon, lat, unit_id, summary, snapshot_sha256, extra)
            VALUES (%s, %s, %s, %s, %s, 'test-rule', %s, %s, %s, 'person', 0.9, %s, %s, %s,
                'test event', %s, %s)
            RETURNING event_id, ts)
        INSERT INTO dispatch_batches (event_ids, ts) SELECT array_agg(event_id), array_agg(ts)
        FROM ins
        """,
        (
            event_id,
            ts,
            ts,
            device_id,
            seq,
            category,
            severity,
            phase,
            lon,
            lat,
            unit_id,
            snapshot,
            Jsonb(extra),
        ),
    )
    return event_id


def case_history(
    conn: psycopg.Connection[Any], case_id: int, columns: str
) -> list[tuple[Any, ...]]:
    """The history rows of a case, oldest first, as ``columns`` (an SQL select list)."""
    query = sql.SQL("SELECT {} FROM case_history WHERE case_id = %s ORDER BY id")
    return conn.execute(query.format(sql.SQL(columns)), (case_id,)).fetchall()


@dataclass(frozen=True)
class FireCase:
    """A case opened from a severity-1 fire_smoke event, with the people of its unit's chain."""

    case_id: int
    leaders: list[str]  # the chain's leaders, the unit's first
    liaison: Contact


def open_fire_case(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
    unit: str,
) -> FireCase:
    """Open the first case of the database from a camera event in unit, now on the clock."""
    chain = zhongmen.town.hierarchy.chain(unit)
    leaders = [a.leader.person_id for a in chain if a.leader is not None]
    liaison = chain[0].liaison
    assert liaison is not None and len(leaders) == 4
    lon, lat = zhongmen.point_in(unit)
    insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="fire_smoke", severity=1)
    drain(conn, ctx)
    row = conn.execute("SELECT id FROM cases").fetchone()
    assert row is not None
    return FireCase(int(row[0]), leaders, liaison)
