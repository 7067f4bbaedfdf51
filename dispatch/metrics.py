"""Prometheus metrics of ``gridwatch dispatch`` (``--metrics-port``). Names:

- ``gridwatch_dispatch_events_total``: queued events taken and placed (or parked)
- ``gridwatch_dispatch_lag_seconds``: histogram, gateway receipt to the committed case
- ``gridwatch_dispatch_cases_opened_total{category}``: new cases
- ``gridwatch_dispatch_escalations_total{level}``: timer escalations, by the level reached
- ``gridwatch_dispatch_reminders_total{kind}``: deadline reminders sent (accept, resolve)

Counted after each commit (``dispatch.observe``), so they agree with the rows stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class DispatchMetrics:
    """A ``DispatchObserver`` that counts into ``registry`` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter("gridwatch_dispatch_events", "Queued events dispatched", registry=r)
        self.lag = Histogram(
            "gridwatch_dispatch_lag_seconds",
            "Seconds from the gateway's receipt of an event to its committed case",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.cases = Counter(
            "gridwatch_dispatch_cases_opened", "Cases opened", ["category"], registry=r
        )
        self.escalations = Counter(
            "gridwatch_dispatch_escalations", "Timer escalations", ["level"], registry=r
        )
        self.reminders = Counter(
            "gridwatch_dispatch_reminders", "Reminders sent", ["kind"], registry=r
        )

    def dispatched(self, lags_s: Sequence[float]) -> None:
        if lags_s:
            self.events.inc(len(lags_s))
        for lag in lags_s:
            self.lag.observe(lag)

    def opened(self, categories: Sequence[str]) -> None:
        for category in categories:
            self.cases.labels(category).inc()

    def escalated(self, levels: Sequence[str]) -> None:
        for level in levels:
            self.escalations.labels(level).inc()

    def reminded(self, kinds: Sequence[str]) -> None:
        for kind in kinds:
            self.reminders.labels(kind).inc()
