"""Prometheus metrics of ``gridwatch deliver`` (``--metrics-port``), read from the worker's
counts when scraped. Names:

- ``gridwatch_delivery_attempts_total``: sends on one channel of one notice
- ``gridwatch_delivery_notices_total{outcome}``: notices settled: delivered, retried
  (sent again later), failed (gave up), escalated (a failure that raised its case)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from dispatch.delivery.worker import DeliveryStats

#: The settled outcomes, always shown (0 until the first), so a rate() has a series.
OUTCOMES = ("delivered", "retried", "failed", "escalated")


class _DeliveryCollector:
    def __init__(self, stats: DeliveryStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        attempts = CounterMetricFamily("gridwatch_delivery_attempts", "Channel sends")
        attempts.add_metric([], self.stats["attempts"])
        notices = CounterMetricFamily(
            "gridwatch_delivery_notices", "Notices settled", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            notices.add_metric([outcome], self.stats[outcome])
        yield from (attempts, notices)


def delivery_registry(stats: DeliveryStats) -> CollectorRegistry:
    """A registry of its own that shows ``stats`` (a ``Deliverer``'s)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_DeliveryCollector(stats))
    return registry
