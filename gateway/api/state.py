"""What the app holds for its requests: settings, town, pool, live hub, ingest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from gateway.api.live import LiveHub
    from gridwatch.settings import Settings
    from gridwatch.town import Town


class IngestCounters(Protocol):
    def as_dict(self) -> dict[str, int]: ...


class IngestState(Protocol):
    """What /health reads from an ingest consumer running in the same process."""

    @property
    def mqtt_connected(self) -> bool: ...

    @property
    def writer_alive(self) -> bool: ...

    @property
    def stats(self) -> IngestCounters: ...


@dataclass
class AppState:
    """Set on ``app.state.gridwatch``; the pool and the hub exist while the lifespan runs."""

    settings: Settings
    town: Town | None
    ingest: IngestState | None = None
    pool: ConnectionPool[Any] | None = None
    live: LiveHub | None = None
