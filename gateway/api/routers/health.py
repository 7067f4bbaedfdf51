"""``GET /health``: database, MQTT, ingest writer, live channel, the dispatch backlog and
the working calendar's reach (a warning within 60 days of its end; not "degraded").

Open to anyone, so load balancers and the demo can poll it; it reveals counts only.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from gateway.api.deps import IngestDep, LiveDep, PoolDep, State
from gateway.api.metrics import QueueDepths
from gateway.api.models.health import CalendarHealth, HealthPublic
from gateway.api.state import AppState

router = APIRouter(tags=["health"])

# What the dispatcher has not taken yet: a stopped or slow dispatcher shows here
# first, before any leader misses a case (migration 0006; no unnesting).
_BACKLOG = (
    "SELECT queued_for_dispatch(), extract(epoch FROM now() - min(enqueued_at))::float8"
    " FROM dispatch_batches"
)
_PARKED = "SELECT count(*) FROM dispatch_parked"


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Degraded: the same body"}},
)
def health(state: State, pool: PoolDep, ingest: IngestDep, hub: LiveDep) -> JSONResponse:
    """Database and MQTT state / 数据库与消息总线状态."""
    queue: QueueDepths | None = None
    try:
        with pool.connection(timeout=2.0) as conn:
            conn.execute("SET LOCAL statement_timeout = 2000")
            queue = queue_depths(conn)
        db_ok = True
    except (psycopg.Error, PoolTimeout, OSError):
        db_ok = False
    mqtt_ok = None if ingest is None else bool(ingest.mqtt_connected)
    writer_ok = None if ingest is None else bool(ingest.writer_alive)
    body = HealthPublic(
        status="ok" if db_ok and mqtt_ok is not False and writer_ok is not False else "degraded",
        db=db_ok,
        mqtt=mqtt_ok,
        writer=writer_ok,
        live=hub.listening,
        live_clients=hub.clients,
        live_notifications=hub.stats.notifications,
        ingest=None if ingest is None else ingest.stats.as_dict(),
        dispatch_backlog=None if queue is None else queue.events,
        dispatch_oldest_s=None if queue is None else queue.oldest_s,
        dispatch_parked=None if queue is None else queue.parked,
        calendar=_calendar(state),
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


def queue_depths(conn: psycopg.Connection[Any]) -> QueueDepths:
    """The dispatch backlog, its oldest entry's age and the parked events (``/metrics`` too)."""
    backlog = conn.execute(_BACKLOG).fetchone()
    parked = conn.execute(_PARKED).fetchone()
    return QueueDepths(
        events=int(backlog[0]) if backlog else 0,
        oldest_s=None if backlog is None or backlog[1] is None else float(backlog[1]),
        parked=int(parked[0]) if parked else 0,
    )


def _calendar(state: AppState) -> CalendarHealth | None:
    found = state.calendar_coverage()
    if found is None:
        return None
    return CalendarHealth(
        year=found.year,
        last_year=found.last_year,
        days_left=found.days_left,
        warning=found.message(),
        weekdays_only=not found.covered and found.weekdays_elsewhere,
    )
