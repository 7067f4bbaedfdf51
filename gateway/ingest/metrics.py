"""Prometheus metrics of the ingest consumer, in the gateway's registry. Names:

- ``gridwatch_ingest_messages_received_total``: MQTT messages handed to the writer
- ``gridwatch_ingest_messages_deferred_total``: refused on a full queue, left
  unacknowledged for the broker to deliver again
- ``gridwatch_ingest_events_stored_total`` / ``_events_duplicate_total``: events committed
  as new rows / already stored (redeliveries)
- ``gridwatch_ingest_readings_total``, ``gridwatch_ingest_statuses_total``: rows written
- ``gridwatch_ingest_dead_letters_total{reason}``: rows in ``dead_letters``, by
  :func:`reason_label`
- ``gridwatch_ingest_batches_total``, ``gridwatch_ingest_db_errors_total``
- ``gridwatch_ingest_batch_messages``: histogram, messages per committed batch
- ``gridwatch_ingest_commit_seconds``: histogram, one batch's transaction
- ``gridwatch_ingest_queue_depth``: messages waiting for the writer
- ``gridwatch_ingest_mqtt_connected``: 1 while connected to the broker

The counters are read from the consumer's own counts, which move only after a
commit: they equal the rows stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from gateway.ingest.classify import (
    DATABASE_REJECTED,
    GATEWAY_ERROR,
    INBOUND_KINDS,
    UNKNOWN_DEVICE,
    DeadLetter,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from gateway.ingest.consumer import ConsumerStats

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Every label ``reason_label`` gives; each is shown (0 until the first).
REASONS = ("topic", "kind", "unknown_device", "contract", "gateway_error", "database")
_INBOUND = frozenset(k.value for k in INBOUND_KINDS)


def reason_label(dead: DeadLetter) -> str:
    """A bounded label for a dead letter: its reason text carries values (ids, payload
    fragments) that must not become label values."""
    if dead.reason.startswith(GATEWAY_ERROR):
        return "gateway_error"
    if dead.reason.startswith(DATABASE_REJECTED):
        return "database"
    if dead.kind is None:
        return "topic"  # the topic did not parse: neither device nor kind is known
    if dead.kind not in _INBOUND:
        return "kind"
    if dead.reason.startswith(UNKNOWN_DEVICE):
        return "unknown_device"
    return "contract"


class ConsumerView(Protocol):
    """What the collector reads from a running consumer."""

    @property
    def stats(self) -> ConsumerStats: ...

    @property
    def mqtt_connected(self) -> bool: ...

    def queue_depth(self) -> int: ...


class _ConsumerCollector:
    def __init__(self, consumer: ConsumerView, dead: Counter[str]) -> None:
        self.consumer = consumer
        self.dead = dead

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.consumer.stats
        for name, text, value in (
            ("messages_received", "MQTT messages handed to the writer", s.received),
            ("messages_deferred", "Refused on a full queue, redelivered", s.dropped_full_queue),
            ("events_stored", "Events committed as new rows", s.new_events),
            ("events_duplicate", "Events already stored", s.duplicate_events),
            ("readings", "Readings written", s.readings),
            ("statuses", "Device statuses written", s.statuses),
            ("batches", "Transactions committed", s.batches),
            ("db_errors", "Database errors (batch retried)", s.db_errors),
        ):
            family = CounterMetricFamily(f"gridwatch_ingest_{name}", text)
            family.add_metric([], value)
            yield family
        dead = CounterMetricFamily(
            "gridwatch_ingest_dead_letters", "Dead letters stored", labels=["reason"]
        )
        for reason in REASONS:
            dead.add_metric([reason], self.dead[reason])
        yield dead
        depth = GaugeMetricFamily("gridwatch_ingest_queue_depth", "Messages awaiting the writer")
        depth.add_metric([], self.consumer.queue_depth())
        up = GaugeMetricFamily("gridwatch_ingest_mqtt_connected", "Connected to the broker")
        up.add_metric([], 1.0 if self.consumer.mqtt_connected else 0.0)
        yield from (depth, up)


class IngestMetrics:
    """The consumer's histograms and dead-letter counts, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Histogram

        self.registry = registry
        self.dead: Counter[str] = Counter()
        self.batch_messages, self.commit_seconds = (
            Histogram(name, text, buckets=buckets, registry=registry)
            for name, text, buckets in (
                ("gridwatch_ingest_batch_messages", "MQTT messages per batch", BATCH_BUCKETS),
                ("gridwatch_ingest_commit_seconds", "Seconds of a batch's commit", COMMIT_BUCKETS),
            )
        )

    def bind(self, consumer: ConsumerView) -> None:
        """Show ``consumer``'s counts; once per consumer."""
        self.registry.register(_ConsumerCollector(consumer, self.dead))

    def committed(self, messages: int, seconds: float, dead: tuple[DeadLetter, ...]) -> None:
        """One transaction committed ``messages`` messages in ``seconds``, ``dead`` among them."""
        self.batch_messages.observe(messages)
        self.commit_seconds.observe(seconds)
        for letter in dead:
            self.dead[reason_label(letter)] += 1
