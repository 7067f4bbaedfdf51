"""The gateway's Prometheus registry: the ingest consumer's metrics and the app's. Names
besides ``gateway.ingest.metrics``'s:

- ``gridwatch_live_clients``: browsers on the live channel (SSE) of this process
- ``gridwatch_live_notifications_total``: notifications the live channel fanned out
- ``gridwatch_live_dropped_clients_total``: live clients dropped because their queue was full
- ``gridwatch_queue_dispatch_events``: events stored and not yet dispatched
- ``gridwatch_queue_dispatch_oldest_seconds``: age of the oldest of them
- ``gridwatch_queue_dispatch_parked``: events parked past the working calendar

The queue gauges are read from the database at each scrape (the ``/health`` query);
absent while it is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from gateway.api.state import AppState


@dataclass(frozen=True, slots=True)
class QueueDepths:
    """The dispatch queue as one scrape read it."""

    events: int
    oldest_s: float | None
    parked: int


class _AppCollector:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.queue: QueueDepths | None = None

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        hub = self.state.live
        clients = GaugeMetricFamily("gridwatch_live_clients", "Browsers on the live channel")
        clients.add_metric([], hub.clients if hub is not None else 0)
        notes = CounterMetricFamily("gridwatch_live_notifications", "Live notifications")
        notes.add_metric([], hub.stats.notifications if hub is not None else 0)
        dropped = CounterMetricFamily(
            "gridwatch_live_dropped_clients", "Live clients dropped for falling behind"
        )
        dropped.add_metric([], hub.stats.dropped_clients if hub is not None else 0)
        yield from (clients, notes, dropped)
        q = self.queue
        if q is None:
            return
        for name, text, value in (
            ("events", "Events stored, not yet dispatched", q.events),
            ("oldest_seconds", "Age of the oldest undispatched event", q.oldest_s or 0.0),
            ("parked", "Events parked past the working calendar", q.parked),
        ):
            family = GaugeMetricFamily(f"gridwatch_queue_dispatch_{name}", text)
            family.add_metric([], value)
            yield family


class AppMetrics:
    """``registry`` (the process's) with the app's collector registered in it."""

    def __init__(self, registry: CollectorRegistry, state: AppState) -> None:
        self.registry = registry
        self._collector = _AppCollector(state)
        registry.register(self._collector)

    def render(self, queue: QueueDepths | None) -> bytes:
        """The text exposition, with ``queue`` as just read (None: unreadable)."""
        from prometheus_client import generate_latest

        self._collector.queue = queue
        return generate_latest(self.registry)
