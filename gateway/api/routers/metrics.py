"""``GET /metrics``: the process's Prometheus metrics (``gateway.api.metrics``).

Open to anyone, like ``/health``: it holds counts, histograms and bounded labels
(categories, dead-letter reasons), never a person, device id or event. A deployment
that does not want it public keeps it off its reverse proxy's routes.
"""

from __future__ import annotations

import psycopg
from fastapi import APIRouter
from fastapi.responses import Response
from psycopg_pool import PoolTimeout

from gateway.api.deps import PoolDep, State
from gateway.api.metrics import QueueDepths
from gateway.api.routers.health import queue_depths

router = APIRouter(tags=["health"], include_in_schema=False)

#: Prometheus's text exposition format, version 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics")
def metrics(state: State, pool: PoolDep) -> Response:
    """Prometheus metrics / 监控指标."""
    queue: QueueDepths | None
    try:
        with pool.connection(timeout=2.0) as conn:
            conn.execute("SET LOCAL statement_timeout = 2000")
            queue = queue_depths(conn)
    except (psycopg.Error, PoolTimeout, OSError):
        queue = None
    assert state.metrics is not None  # create_app always sets it
    return Response(state.metrics.render(queue), media_type=CONTENT_TYPE)
