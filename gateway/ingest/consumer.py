"""The ingest loop: paho's thread hands messages over, a writer thread commits them.

paho-mqtt's network thread only stamps each message and puts it into a bounded
queue. The writer thread drains the queue in batches (by count and by time),
validates, commits one transaction, then acknowledges the MQTT messages
(``manual_ack``: a message is acknowledged only after its rows are committed)
and publishes each device's retained ``Ack`` mark.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.contract import CONTRACT_VERSION, Ack, MessageKind, dumps, subscription, topic
from gateway.evidence.store import SnapshotStore
from gateway.ingest.classify import (
    DATABASE_REJECTED,
    GATEWAY_ERROR,
    Classified,
    DeadLetter,
    Received,
    classify,
    dead_letter,
)
from gateway.ingest.feedback import RefusalLimiter, refusal
from gateway.ingest.snapshots import SnapshotReceiver
from gateway.ingest.writer import WriteResult, write
from gridwatch.mqtt_tls import MqttTls, apply_login

if TYPE_CHECKING:
    from gateway.ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)

#: How often the writer creates time partitions ahead (no-op with TimescaleDB).
PARTITION_EVERY_S = 3600.0
#: How often ``gridwatch_maintain()`` runs (partitions, rollups, retention).
MAINTAIN_EVERY_S = 3600.0
#: How often the rollups are brought up to a few minutes ago (migration 0005).
ROLLUP_EVERY_S = 300.0
#: Fault tests set this to a number of seconds: the writer logs "mid-commit" and
#: sleeps inside each transaction, just before COMMIT, so a kill lands there.
COMMIT_DELAY_ENV = "GRIDWATCH_TEST_COMMIT_DELAY_S"
#: ``application_name`` of the writer's connection, to find it in pg_stat_activity.
APPLICATION_NAME = "gridwatch-ingest"


@dataclass(frozen=True)
class ConsumerConfig:
    """Knobs of one consumer; the defaults suit the walking skeleton."""

    dsn: str
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_tls: MqttTls | None = None
    topic_prefix: str = "gw"
    share_group: str | None = "gridwatch"
    client_id: str = field(default_factory=lambda: f"gridwatch-gw-{uuid.uuid4().hex[:10]}")
    #: A batch closes at this many messages, this many payload bytes, or after
    #: ``batch_wait_s``, whichever comes first.
    batch_size: int = 500
    batch_bytes: int = 4 * 1024 * 1024
    batch_wait_s: float = 0.05
    #: Bound of the hand-over queue. MQTT v5 Receive Maximum (sent to the
    #: broker) is the smaller of this and ``receive_maximum``: the broker never
    #: has more unacknowledged messages in flight to us, so neither the queue nor
    #: memory (up to 1 MiB per bulk message) can overflow: backpressure reaches
    #: the broker, which queues (shipped config: by bytes, not count).
    queue_size: int = 10_000
    receive_maximum: int = 2_000
    #: Binary COPY into staging tables; off for servers without COPY.
    use_copy: bool = True
    max_skew_s: float = 300.0
    #: MQTT v5 session expiry. 0: a clean session per connection. Above 0, with a
    #: stable ``client_id``, the broker keeps the subscription and the messages not
    #: yet acknowledged while the gateway is away (restart, crash) for that long.
    session_expiry_s: int = 0
    #: A device whose messages are refused hears why on its ``refusal`` topic at
    #: most this often (gateway/ingest/feedback.py); it backs off at least as long.
    refusal_every_s: float = 60.0

    #: Where snapshot messages are stored (gateway/ingest/snapshots.py); None: the
    #: consumer does not subscribe to them.
    snapshot_dir: Path | SnapshotStore | None = None


@dataclass
class ConsumerStats:
    received: int = 0
    dropped_full_queue: int = 0
    new_events: int = 0
    duplicate_events: int = 0
    readings: int = 0
    statuses: int = 0
    dead_letters: int = 0
    batches: int = 0
    db_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Consumer:
    """MQTT subscriber plus database writer; ``start()`` returns at once, ``stop()`` joins.

    ``metrics``: where its counts and histograms show (the gateway's registry)."""

    def __init__(
        self,
        config: ConsumerConfig,
        registry: Mapping[str, str | None],
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.config = config
        self._registry: Mapping[str, str | None] = dict(registry)
        self._queue: queue.Queue[Received] = queue.Queue(maxsize=config.queue_size)
        # Classified batches waiting for the writer: classifying the next batch
        # (Python, holds the GIL) overlaps the database work of this one (the
        # GIL is released while PostgreSQL works and fsyncs).
        self._ready: queue.Queue[tuple[list[Received], Classified | None]] = queue.Queue(2)
        self._classifier: threading.Thread | None = None
        self._stop = threading.Event()
        self._generation = 0
        self._connected = threading.Event()
        self._db_ok = False
        self._thread: threading.Thread | None = None
        self._maint: threading.Thread | None = None
        self.stats = ConsumerStats()
        self.metrics = metrics
        if metrics is not None:
            metrics.bind(self)
        self._refusals = RefusalLimiter(config.refusal_every_s)
        delay = os.environ.get(COMMIT_DELAY_ENV)
        self._commit_delay_s = float(delay) if delay else 0.0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        apply_login(
            self._client,
            username=config.mqtt_username,
            password=config.mqtt_password,
            tls=config.mqtt_tls,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.snapshots = (
            SnapshotReceiver(
                dsn=config.dsn,
                root=config.snapshot_dir,
                prefix=config.topic_prefix,
                client=self._client,
                generation=lambda: self._generation,
                known=lambda device_id: device_id in self._registry,
            )
            if config.snapshot_dir is not None
            else None
        )

    # ------------------------------------------------------------------ state

    @property
    def mqtt_connected(self) -> bool:
        return self._connected.is_set()

    @property
    def db_ok(self) -> bool:
        return self._db_ok

    @property
    def writer_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def queue_depth(self) -> int:
        """Messages received and not yet taken by the writer's batches."""
        return self._queue.qsize()

    def set_registry(self, registry: Mapping[str, str | None]) -> None:
        """Replace the device registry (device id -> unit id), e.g. after a config reload."""
        self._registry = dict(registry)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # ------------------------------------------------------------------ paho thread

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, props: Any
    ) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        # Subscriptions are renewed on every connect: a clean session forgets them.
        filters = [
            (subscription(self.config.topic_prefix, kind, self.config.share_group), 1)
            for kind in (MessageKind.EVENT, MessageKind.BATCH, MessageKind.STATUS)
        ]
        if self.snapshots is not None:
            filters.append(
                (
                    subscription(
                        self.config.topic_prefix, MessageKind.SNAPSHOT, self.config.share_group
                    ),
                    1,
                )
            )
        client.subscribe(filters)
        self._connected.set()
        log.info("connected to MQTT, subscribed to %s", [f for f, _ in filters])

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, props: Any
    ) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        item = Received(
            topic=message.topic,
            payload=bytes(message.payload),
            received_at=datetime.now(UTC),
            mid=message.mid,
            qos=message.qos,
            generation=self._generation,
        )
        if self.snapshots is not None and item.topic.endswith("/" + MessageKind.SNAPSHOT.value):
            # Not acknowledged when full, so the broker delivers it again later.
            if self.snapshots.put(item):
                self.stats.received += 1
            else:
                self.stats.dropped_full_queue += 1
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # Not acknowledged, so the broker delivers it again after a reconnect.
            self.stats.dropped_full_queue += 1
        else:
            self.stats.received += 1

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
        props.ReceiveMaximum = min(self.config.queue_size, self.config.receive_maximum, 65535)
        persistent = self.config.session_expiry_s > 0
        if persistent:
            props.SessionExpiryInterval = self.config.session_expiry_s
        self._client.connect_async(
            self.config.mqtt_host,
            self.config.mqtt_port,
            keepalive=30,
            clean_start=not persistent,
            properties=props,
        )
        self._client.loop_start()
        self._classifier = threading.Thread(
            target=self._classify_loop, name="gridwatch-classify", daemon=True
        )
        self._classifier.start()
        self._thread = threading.Thread(target=self._run, name="gridwatch-writer", daemon=True)
        self._thread.start()
        self._maint = threading.Thread(
            target=self._maintain_loop, name="gridwatch-maintain", daemon=True
        )
        self._maint.start()
        if self.snapshots is not None:
            self.snapshots.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._maint is not None:
            self._maint.join(timeout)
        if self.snapshots is not None:
            self.snapshots.stop(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        # paho closes its internal socket pair only when the client is garbage
        # collected, which warns (ResourceWarning) when that happens in a cycle.
        self._client._reset_sockets()

    # ------------------------------------------------------------------ writer thread

    def _drain(self) -> list[Received]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        items = [first]
        size = len(first.payload)
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(items) < self.config.batch_size and size < self.config.batch_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            items.append(item)
            size += len(item.payload)
        return items

    def _classify_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            items = self._drain()
            if not items:
                continue
            rows: Classified | None
            try:
                rows = self._classify(items)
            except Exception:
                # A bug, not a bad message: the writer finds the message one by one.
                log.exception("classifying a batch of %d failed; one by one", len(items))
                rows = None
            while True:
                try:
                    self._ready.put((items, rows), timeout=0.2)
                    break
                except queue.Full:
                    if self._thread is not None and not self._thread.is_alive():
                        return

    def _next_batch(self) -> tuple[list[Received], Classified | None]:
        try:
            return self._ready.get(timeout=0.2)
        except queue.Empty:
            return [], None

    def _classifier_done(self) -> bool:
        return (self._classifier is None or not self._classifier.is_alive()) and self._ready.empty()

    def _connect_db(self) -> psycopg.Connection:
        while True:
            try:
                conn = psycopg.connect(
                    self.config.dsn, autocommit=True, application_name=APPLICATION_NAME
                )
            except psycopg.OperationalError as exc:
                self._db_ok = False
                log.warning("database unreachable (%s); retrying", exc)
                if self._stop.wait(1.0):
                    raise
                continue
            self._db_ok = True
            return conn

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        next_partition = 0.0
        items: list[Received] = []
        rows: Classified | None = None
        try:
            while not (self._stop.is_set() and not items and self._classifier_done()):
                if conn is None or conn.closed:
                    try:
                        conn = self._connect_db()
                    except psycopg.OperationalError:
                        return
                if not items:
                    items, rows = self._next_batch()
                    if not items and self._stop.is_set() and self._classifier_done():
                        return
                try:
                    if time.monotonic() >= next_partition:
                        self._ensure_partitions(conn)
                        next_partition = time.monotonic() + PARTITION_EVERY_S
                    if items:
                        self._commit(conn, items, rows)
                except psycopg.OperationalError as exc:
                    # The connection is gone: keep the batch, reconnect, try again.
                    self.stats.db_errors += 1
                    self._db_ok = False
                    log.warning("database connection lost (%s); reconnecting", exc)
                    conn.close()
                    conn = None
                    if self._stop.wait(0.5):
                        return
                    continue
                items, rows = [], None
        except Exception:
            log.exception("ingest writer stopped on an unexpected error")
            raise
        finally:
            if conn is not None:
                conn.close()

    def _maintain_loop(self) -> None:
        """Partitions ahead, rollup refresh and retention, off the writer's path.

        ``gridwatch_maintain()`` at start and hourly (its rollup refresh recounts three
        days, for late rows); in between, the rollups every five minutes over the last
        two hours, so the raw part each hourly-count query adds stays minutes long.
        """
        next_full = 0.0
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.config.dsn, autocommit=True, application_name=APPLICATION_NAME + "-maint"
                ) as conn:
                    if time.monotonic() >= next_full:
                        row = conn.execute("SELECT gridwatch_maintain()").fetchone()
                        log.info("maintenance: %s", row[0] if row else None)
                        next_full = time.monotonic() + MAINTAIN_EVERY_S
                    else:
                        conn.execute("SELECT gridwatch_refresh_rollups('2 hours')")
                wait = ROLLUP_EVERY_S
            except psycopg.Error as exc:
                log.warning("maintenance failed (%s); retrying in a minute", exc)
                wait = 60.0
            if self._stop.wait(wait):
                return

    def _hook(self) -> None:
        log.warning("mid-commit: sleeping %.1f s inside the transaction", self._commit_delay_s)
        time.sleep(self._commit_delay_s)

    def _write(self, conn: psycopg.Connection, rows: Classified) -> WriteResult:
        hook = self._hook if self._commit_delay_s > 0 else None
        return write(conn, rows, copy=self.config.use_copy, hook=hook)

    def _ensure_partitions(self, conn: psycopg.Connection) -> None:
        try:
            conn.execute("SELECT gridwatch_ensure_partitions()")
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.error("could not create time partitions ahead: %s", exc)

    def _classify(self, items: list[Received]) -> Classified:
        return classify(
            items,
            prefix=self.config.topic_prefix,
            registry=self._registry,
            max_skew_s=self.config.max_skew_s,
        )

    def _commit(
        self, conn: psycopg.Connection, items: list[Received], rows: Classified | None
    ) -> None:
        if rows is None:
            # Classifying the batch hit a bug: find the message that triggers it.
            for item in items:
                self._commit_one(conn, item)
            return
        started = time.perf_counter()
        result = self._attempt(conn, rows)
        if isinstance(result, psycopg.Error):
            # One bad row must not fail the others: retry one message at a time.
            log.warning("batch of %d rejected (%s); writing one by one", len(items), result)
            self.stats.db_errors += 1
            for item in items:
                self._commit_one(conn, item)
        else:
            self._settle(items, rows, result, started)

    def _commit_one(self, conn: psycopg.Connection, item: Received) -> None:
        try:
            rows = self._classify([item])
        except Exception as exc:
            log.exception("classifying a message on %s failed", item.topic)
            rows = Classified(dead_letters=(dead_letter(item, f"{GATEWAY_ERROR} {exc!r}"[:500]),))
        started = time.perf_counter()
        result = self._attempt(conn, rows)
        if isinstance(result, psycopg.Error):
            reason = f"{DATABASE_REJECTED} {str(result).strip()[:500]}"
            rows = Classified(dead_letters=(dead_letter(item, reason),))
            result = write(conn, rows)
        self._settle([item], rows, result, started)

    def _attempt(self, conn: psycopg.Connection, rows: Classified) -> WriteResult | psycopg.Error:
        """The write's result, or the error of the row the database refused. A lost
        connection raises: the loop reconnects and the messages stay unacknowledged."""
        try:
            return self._write(conn, rows)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            return exc

    def _settle(
        self, items: list[Received], rows: Classified, result: WriteResult, started: float
    ) -> None:
        """After a commit: count it, acknowledge its messages, answer what was refused."""
        self._account(result, len(items), time.perf_counter() - started, rows)
        self._acknowledge(items, result)
        self._answer_refused(rows.dead_letters)

    def _account(
        self, result: WriteResult, messages: int, seconds: float, rows: Classified
    ) -> None:
        """Count what one committed transaction (``rows``, from ``messages``) stored."""
        # Before the histograms: a scrape that sees this transaction's messages in
        # them must see it among the batches too (tests/gateway/test_metrics.py).
        self.stats.batches += 1
        if self.metrics is not None:
            self.metrics.committed(messages, seconds, rows.dead_letters)
        s = self.stats
        s.new_events += result.new_events
        s.duplicate_events += result.duplicate_events
        s.readings += result.readings
        s.statuses += result.statuses
        s.dead_letters += result.dead_letters
        for device, missing in result.gaps.items():
            log.info(
                "device %s has gaps in its sequence: %s",
                device,
                missing[:5],
                extra={"device_id": device},
            )

    def _answer_refused(self, dead: Sequence[DeadLetter]) -> None:
        """Tell each device whose message was dead-lettered why, rate-limited."""
        now = datetime.now(UTC)
        for d in dead:
            if d.device_id is None:
                continue
            count = self._refusals.refused(d.device_id, time.monotonic())
            if count is None:
                continue
            msg = refusal(d.device_id, d.kind, d.reason, count, self.config.refusal_every_s, now)
            self._client.publish(
                topic(self.config.topic_prefix, d.device_id, MessageKind.REFUSAL),
                dumps(msg),
                qos=1,
            )

    def _acknowledge(self, items: list[Received], result: WriteResult) -> None:
        generation = self._generation
        for item in items:
            # A message from an earlier connection is delivered again by the
            # broker; its old packet id means nothing on this connection.
            if item.qos > 0 and item.generation == generation:
                self._client.ack(item.mid, item.qos)
        now = datetime.now(UTC)
        for device, mark in result.marks.items():
            ack = Ack(v=CONTRACT_VERSION, device_id=device, committed_seq=mark, ts=now)
            self._client.publish(
                topic(self.config.topic_prefix, device, MessageKind.ACK),
                dumps(ack),
                qos=1,
                retain=True,
            )
