"""Intake of reports raised by people (residents, Party members, a platform): routed as events.

:func:`intake_report` turns a :class:`Report` into an item that opens or joins a
case through the same routing, merging, deadlines and notices as a camera's
event, with ``source = 'report'`` and ``raised_by`` set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.batch import open_or_join
from dispatch.clock import Clock, SystemClock
from dispatch.config import DispatchConfig, load_config
from dispatch.notify import Notifier, OutboxNotifier
from dispatch.routing import Problem, TownView, route
from dispatch.rows import Incoming
from dispatch.store import Context, lock_key, take_locks
from gridwatch.domain import Category


class Report(BaseModel):
    """A report raised by a person, with where and what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: Category = Field(description="A routed category id (gridwatch.domain)")
    description: str = Field(min_length=1, max_length=4000)
    raised_by: str = Field(
        min_length=1, max_length=128, description="Person id, or a resident's contact"
    )
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    unit_id: str | None = Field(default=None, max_length=64, description="When no map point")
    severity: int = Field(default=3, ge=1, le=4)
    reported_at: datetime | None = Field(default=None, description="Default: now")

    @model_validator(mode="after")
    def _where(self) -> Report:
        if (self.lon is None) != (self.lat is None):
            raise ValueError(f"give both lon and lat, got lon={self.lon!r} lat={self.lat!r}")
        if self.lon is None and self.unit_id is None:
            raise ValueError("a report needs a location: lon/lat or unit_id")
        if self.reported_at is not None and self.reported_at.tzinfo is None:
            raise ValueError(f"reported_at={self.reported_at!r} needs a time zone")
        return self


def intake_report(
    conn: psycopg.Connection[Any],
    town: TownView,
    report: Report,
    *,
    config: DispatchConfig | None = None,
    clock: Clock | None = None,
    tz: ZoneInfo | None = None,
    notifier: Notifier | None = None,
) -> int:
    """Open or join a case for ``report``; returns the case id.

    Without ``config`` or ``tz`` they come from the settings (``GRIDWATCH_CONFIG_DIR``,
    ``GRIDWATCH_TZ``), read from disk on every call: a long-running caller passes them.
    Runs in ``conn.transaction()``: its own transaction, or a savepoint inside the
    caller's when one is open (then the caller's commit makes it stick).
    """
    if config is None or tz is None:
        from gridwatch.settings import get_settings

        settings = get_settings()
        config = config or load_config(settings.config_dir)
        tz = tz or settings.zone
    ctx = Context(town, config, tz, clock or SystemClock(), notifier or OutboxNotifier())
    return intake_with(conn, ctx, report)


def intake_with(conn: psycopg.Connection[Any], ctx: Context, report: Report) -> int:
    """:func:`intake_report` with a ready :class:`Context`."""
    item = Incoming(
        category=report.category.value,
        severity=report.severity,
        at=report.reported_at or ctx.clock.now(),
        lon=report.lon,
        lat=report.lat,
        unit_id=report.unit_id,
        summary=report.description[:80],
        source="report",
        raised_by=report.raised_by,
        description=report.description,
    )
    r = route(ctx.town, Problem(item.category, item.lon, item.lat, item.unit_id))
    with conn.transaction():
        take_locks(conn, [lock_key(item.category, r.village_id, r.unit_id)])
        return open_or_join(conn, ctx, item, r)
