"""The FastAPI application: every router, the console files, the pool and the live hub.

The database is a sync ``psycopg_pool.ConnectionPool`` opened in the lifespan;
endpoints are plain ``def`` (FastAPI runs them in its thread pool), so the
domain's sync functions are called directly. The one exception, the case list (the
busiest read), is ``async`` on an ``AsyncConnectionPool`` opened beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from dispatch.clock import Clock, SystemClock
from gateway.api.limits import RequestLimits, limit_query
from gateway.api.live import LiveHub
from gateway.api.metrics import AppMetrics
from gateway.api.params import refuse_nul
from gateway.api.responses import declare_errors
from gateway.api.routers import (
    auth,
    case_actions,
    cases,
    console,
    devices,
    duty,
    events,
    health,
    hierarchy,
    joint,
    live,
    metrics,
    notices,
    people,
    reports,
    reviews,
    snapshots,
    stats,
)
from gateway.api.routers.console import STATIC_DIR
from gateway.api.state import AppState, IngestState
from gateway.open311.router import install as install_open311

if TYPE_CHECKING:
    from gridwatch.settings import Settings
    from gridwatch.town import Town

log = logging.getLogger(__name__)

#: Connections in the pool; FastAPI's thread pool (40) queues behind it.
POOL_SIZE = 10


def create_app(
    settings: Settings,
    town: Town | None = None,
    *,
    ingest: IngestState | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the app; the database pool and the live listener open in the lifespan.

    ``ingest`` is the running consumer when the API shares a process with it
    (``/health`` reports its MQTT and database state); ``None`` for an API-only process.
    ``clock`` is the time case actions count deadlines from: the system's unless a
    test or a replay passes a ``ManualClock``. ``registry``: the process's Prometheus
    registry, shared with the consumer (a new one by default: one per app, so a test
    process holds several apps).
    """
    state = AppState(settings=settings, town=town, ingest=ingest, clock=clock or SystemClock())
    state.metrics = AppMetrics(registry if registry is not None else CollectorRegistry(), state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sizes: dict[str, Any] = {"min_size": 1, "max_size": POOL_SIZE, "timeout": 5.0}
        pool: ConnectionPool[Any] = ConnectionPool(
            settings.database_url, open=False, name="gridwatch-api", **sizes
        )
        pool.open(wait=False)
        # The case list's: it runs on the event loop, as a thread hop per request
        # and the GIL handed between threads cost about a third of its CPU (docs/api.md).
        async_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            settings.database_url, open=False, name="gridwatch-api-async", **sizes
        )
        await async_pool.open(wait=False)
        hub = LiveHub(settings.database_url, client_queue=settings.live_client_queue)
        await hub.start()
        state.pool, state.async_pool, state.live = pool, async_pool, hub
        try:
            yield
        finally:
            await hub.stop()
            state.pool = state.async_pool = None
            await async_pool.close()
            await asyncio.to_thread(pool.close)

    app = FastAPI(
        title="gridwatch",
        summary="网格化治理物联网网关 / IoT gateway for grid-based governance",
        version="0.1.0",
        lifespan=lifespan,
        # Swagger UI loads its JavaScript from a CDN; /docs is our own offline page.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul), Depends(limit_query)],
    )
    app.add_middleware(RequestLimits)
    app.state.gridwatch = state
    for module in (
        health,
        metrics,
        auth,
        events,
        cases,
        case_actions,
        joint,
        reports,
        notices,
        reviews,
        devices,
        people,
        duty,
        hierarchy,
        live,
        console,
        snapshots,
        stats,
    ):
        app.include_router(module.router)
    app.include_router(joint.listing)
    install_open311(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    declare_errors(api_routes(app))
    return app


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every endpoint of the app, from its routes (included routers walked into), so
    a test that must cover each endpoint cannot miss a new one."""
    out: list[APIRoute] = []
    stack: list[Any] = list(app.routes)
    while stack:
        route = stack.pop(0)
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):  # FastAPI >= 0.160 wraps included routers
            stack.extend(route.original_router.routes)
    return out
