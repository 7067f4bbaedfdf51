"""What the app holds for its requests: settings, town, pool, live hub, ingest, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dispatch.clock import Clock, SystemClock
from gateway.api.ratelimit import RateLimit
from gateway.api.throttle import TokenBucket
from gateway.auth.config import token_config
from gateway.auth.tokens import TokenConfig

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

    from dispatch.cadence.review import ReviewSetup
    from dispatch.store import Context
    from dispatch.workcal import Coverage
    from gateway.api.live import LiveHub
    from gateway.api.metrics import AppMetrics
    from gateway.auth.principal import Scope
    from gridwatch.domain import Role
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


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    """A scope and the ``set_config`` parameters that enter it (``gateway.api.deps``)."""

    scope: Scope
    params: tuple[str, ...]


@dataclass
class AppState:
    """Set on ``app.state.gridwatch``; the pool and the hub exist while the lifespan runs."""

    settings: Settings
    town: Town | None
    ingest: IngestState | None = None
    pool: ConnectionPool[Any] | None = None
    #: The case list's, on the event loop (gateway.api.deps.Gate.open_async).
    async_pool: AsyncConnectionPool[Any] | None = None
    live: LiveHub | None = None
    #: The process's Prometheus registry and the app's collector (``/metrics``).
    metrics: AppMetrics | None = None
    #: The time case actions and their deadlines count from (a ManualClock in tests).
    clock: Clock = field(default_factory=SystemClock)
    #: Write rate limit per subject.
    writes: TokenBucket = field(default_factory=TokenBucket)
    #: Scopes by (person id, role): the town does not change while the app runs.
    scopes: dict[tuple[str | None, str], ScopeEntry] = field(default_factory=dict)
    #: The role each account or key (("person", id) or ("key", digest)) held last:
    #: the scope a request sets before its row is read (``gateway.api.signin``).
    last_role: dict[tuple[str, str | bytes], Role] = field(default_factory=dict)
    _dispatch: Context | None = field(default=None, repr=False)
    _review: ReviewSetup | None = field(default=None, repr=False)

    def dispatch_context(self) -> Context:
        """The dispatcher's context for case actions (deadline tables from the config
        folder, the app's clock), built on first use."""
        if self._dispatch is None:
            from dispatch.config import load_config
            from dispatch.notify import OutboxNotifier
            from dispatch.store import Context

            if self.town is None:
                raise RuntimeError("case actions need the town config")
            self._dispatch = Context(
                town=self.town,
                config=load_config(self.settings.config_dir, self.town.people),
                tz=self.settings.zone,
                clock=self.clock,
                notifier=OutboxNotifier(),
            )
        return self._dispatch

    def calendar_coverage(self) -> Coverage | None:
        """How far the working calendar reaches from the app's now; None without a
        usable dispatch config (no town, or a config that does not load)."""
        from dispatch.errors import ConfigError
        from dispatch.workcal import coverage

        try:
            ctx = self.dispatch_context()
        except (RuntimeError, ConfigError):
            return None
        return coverage(ctx.config.calendar, self.clock.now(), ctx.tz)

    def review_setup(self) -> ReviewSetup:
        """What reports need: the time zone, ``cadence.yaml`` and the deadline table."""
        if self._review is None:
            from dispatch.cadence.config import load_cadence
            from dispatch.cadence.review import ReviewSetup

            self._review = ReviewSetup(
                tz=self.settings.zone,
                cadence=load_cadence(self.settings.config_dir),
                deadlines=self.dispatch_context().config.deadlines,
            )
        return self._review

    def __post_init__(self) -> None:
        self.tokens: TokenConfig = token_config(self.settings)
        self.token_limit = RateLimit(self.settings.token_rate_per_min, 60.0)
