"""Rollup and per-unit event queries, the same on both storage variants.

Both variants expose ``events`` and the hourly rollups ``events_hourly``
(bucket, unit_id, category, n), ``events_hourly_category`` (bucket, category, n)
and ``readings_hourly`` (bucket, device_id, sensor, n, avg_value, min_value,
max_value), bucketed in ``GRIDWATCH_TZ``: a
TimescaleDB continuous aggregate (real-time) or, on plain PostgreSQL, a rollup
table plus the open part computed on the fly (migration 0003). The SQL here is
therefore written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from gateway.db.queries.fetch import fetch_all

#: Latest events of each unit asked for: one index descent per unit on
#: ``events (unit_id, ts DESC)``, whatever the table's size.
LATEST_PER_UNIT = """
SELECT e.event_id, e.ts, e.received_at, e.device_id, e.unit_id, e.rule, e.category,
       e.severity, e.score, e.lon, e.lat, e.clock_skewed
FROM unnest(%(units)s::text[]) AS u(unit_id)
CROSS JOIN LATERAL (
    SELECT * FROM events
    WHERE events.unit_id = u.unit_id AND events.ts <= %(before)s
    ORDER BY events.ts DESC
    LIMIT %(per_unit)s
) AS e
ORDER BY e.unit_id, e.ts DESC
"""

#: Events per category and hour (in the town's zone), over the whole town or some
#: units. A function of both variants: on plain PostgreSQL it plans the open part
#: with the rollup watermark as a value (see migration 0003).
HOURLY_COUNTS = (
    "SELECT bucket, category, n FROM gridwatch_hourly_counts(%(since)s, %(until)s, %(units)s)"
)

#: Sensor rollups per hour for one device.
SENSOR_HOURLY = """
SELECT bucket, sensor, sum(n)::bigint AS n,
       sum(avg_value * n) / nullif(sum(n), 0) AS avg_value,
       min(min_value) AS min_value, max(max_value) AS max_value
FROM readings_hourly
WHERE device_id = %(device)s AND bucket >= %(since)s AND bucket < %(until)s
GROUP BY bucket, sensor
ORDER BY bucket, sensor
"""


@dataclass(frozen=True, slots=True)
class EventSummary:
    event_id: UUID
    ts: datetime
    received_at: datetime
    device_id: str
    unit_id: str | None
    rule: str
    category: str
    severity: int
    score: float | None
    lon: float | None
    lat: float | None
    clock_skewed: bool


@dataclass(frozen=True, slots=True)
class HourlyCount:
    bucket: datetime
    category: str
    n: int


@dataclass(frozen=True, slots=True)
class SensorHour:
    bucket: datetime
    sensor: str
    n: int
    avg_value: float | None
    min_value: float
    max_value: float


def latest_per_unit(
    conn: psycopg.Connection[Any],
    units: Sequence[str],
    *,
    per_unit: int = 20,
    before: datetime | str = "infinity",
) -> list[EventSummary]:
    """The ``per_unit`` newest events (edge time) of each unit, newest first per unit."""
    params = {"units": list(units), "per_unit": per_unit, "before": before}
    return fetch_all(conn, EventSummary, LATEST_PER_UNIT, params)


def hourly_counts(
    conn: psycopg.Connection[Any],
    since: datetime,
    until: datetime,
    *,
    units: Sequence[str] | None = None,
) -> list[HourlyCount]:
    """Events per hour bucket and category in [since, until), over all or some units."""
    params = {"since": since, "until": until, "units": list(units) if units else None}
    return fetch_all(conn, HourlyCount, HOURLY_COUNTS, params)


def sensor_hourly(
    conn: psycopg.Connection[Any], device: str, since: datetime, until: datetime
) -> list[SensorHour]:
    """Count, mean, min and max per hour and sensor of one device."""
    return fetch_all(
        conn, SensorHour, SENSOR_HOURLY, {"device": device, "since": since, "until": until}
    )
