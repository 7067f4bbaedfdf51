"""The FastAPI application: health, events, hierarchy, live push and the console."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool

from dispatch.api import router as cases_router
from gateway.web.live import LiveHub
from gateway.web.routes import IngestState, router

if TYPE_CHECKING:
    from gridwatch.settings import Settings
    from gridwatch.town import Town

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: Settings, town: Town | None = None, *, ingest: IngestState | None = None
) -> FastAPI:
    """Build the app; the database pool and the live listener open in the lifespan.

    ``ingest`` is the running consumer when the API shares a process with it
    (``/health`` reports its MQTT and database state); ``None`` for an API-only process.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            settings.database_url, min_size=1, max_size=10, open=False, timeout=5.0
        )
        await pool.open(wait=False)
        hub = LiveHub(settings.database_url)
        await hub.start()
        app.state.pool = pool
        app.state.live = hub
        try:
            yield
        finally:
            await hub.stop()
            await pool.close()

    app = FastAPI(
        title="gridwatch",
        summary="网格化治理物联网网关 / IoT gateway for grid-based governance",
        version="0.1.0",
        lifespan=lifespan,
        # Swagger UI loads its JavaScript from a CDN; /docs is our own offline page.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.town = town
    app.state.ingest = ingest
    app.include_router(router)
    # The cases API (/cases) lives with the dispatcher, on the same pool.
    app.include_router(cases_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
