"""Publishing contract messages over MQTT for one device (one connection per device).

Each camera is its own MQTT client whose client id is the device id, so the
broker's per-device ACL patterns (``%c``) apply and its last will (an offline
Status) speaks for that camera alone. paho's network thread only hands work
over: callbacks set flags and release the in-flight bound, nothing blocks there.

The durable outbox (``edge/outbox.py``) sits in front: ``edge/courier.py`` hands
it ``publish_payload`` and learns of the gateway's committed mark through
``on_ack``. Every connect bumps ``generation`` so the courier knows to replay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from edge.feedback import RefusalState
from gateway.contract import (
    Ack,
    ContractError,
    Event,
    MessageKind,
    Refusal,
    SnapshotAck,
    Status,
    dumps,
    parse,
    topic,
)
from gridwatch.mqtt_tls import MqttTls, apply_login

log = logging.getLogger(__name__)


class PublishError(Exception):
    """A message that could not be handed to the broker client."""


class Publisher:
    """QoS 1 publisher for one device with a bounded number of unacknowledged messages."""

    def __init__(
        self,
        device_id: str,
        *,
        host: str,
        port: int,
        prefix: str,
        will: Status | None = None,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        max_inflight: int = 100,
        on_connect: Callable[[], None] | None = None,
        client_id: str | None = None,
        on_ack: Callable[[Ack], None] | None = None,
        tls: MqttTls | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.device_id = device_id
        self.prefix = prefix
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._pending: set[int] = set()
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._on_connect_cb = on_connect
        self.last_ack: Ack | None = None
        #: Called on paho's thread with every valid Ack; set it before ``start``.
        self.on_ack = on_ack
        #: Called on paho's thread with each pushed config payload; it only hands over.
        self.on_config: Callable[[bytes], None] | None = None
        #: Called on paho's thread with every valid SnapshotAck; set it before ``start``.
        self.on_snapshot_ack: Callable[[SnapshotAck], None] | None = None
        self.generation = 0
        #: Edge clock minus gateway clock, from the last live (not retained) Ack:
        #: the gateway stamps an Ack when it commits, a few ms before we read it,
        #: so this is the true offset plus one broker hop (about 1 ms here).
        self.clock_offset_s: float | None = None
        self.published = 0
        self.acked = 0
        self.dropped = 0
        self.connect_error: str | None = None
        #: Why the gateway refused this device's messages, and the back-off it started.
        self.refusals = RefusalState()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or device_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 30)
        apply_login(self._client, username=username, password=password, tls=tls)
        if will is not None:
            self._client.will_set(
                topic(prefix, device_id, MessageKind.STATUS), dumps(will), qos=1, retain=True
            )
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message

    # ------------------------------------------------------------------ paho thread

    def _handle_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            # A refused CONNACK is not a connection (Frigate's trap): say so and wait.
            self.connect_error = f"broker refused {self.device_id}: {reason_code}"
            log.error("%s", self.connect_error)
            return
        self.connect_error = None
        self.generation += 1
        # Subscriptions do not survive a clean session: make them on every connect.
        client.subscribe(
            [
                (topic(self.prefix, self.device_id, MessageKind.ACK), 1),
                (topic(self.prefix, self.device_id, MessageKind.REFUSAL), 1),
                (topic(self.prefix, self.device_id, MessageKind.CONFIG), 1),
            ]
        )
        if self.on_snapshot_ack is not None:
            client.subscribe(topic(self.prefix, self.device_id, MessageKind.SNAPSHOT_ACK), qos=1)
        self._connected.set()
        if self._on_connect_cb is not None:
            try:
                self._on_connect_cb()
            except Exception:
                log.exception("%s: on_connect callback failed", self.device_id)

    def _handle_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self._connected.clear()
        if reason_code.is_failure:
            log.warning("%s: disconnected from broker: %s", self.device_id, reason_code)

    def _handle_publish(
        self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        with self._lock:
            if mid not in self._pending:
                # PUBACK raced ahead of publish() recording the mid; it settles it there.
                self._early.add(mid)
                return
            self._pending.discard(mid)
            self.acked += 1
        self._slots.release()

    def _handle_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic.endswith("/" + MessageKind.SNAPSHOT_ACK.value):
            self._handle_snapshot_ack(msg)
            return
        if msg.topic.endswith("/" + MessageKind.REFUSAL.value):
            self._handle_refusal(msg.topic, msg.payload)
            return
        if msg.topic.endswith("/" + MessageKind.CONFIG.value):
            if self.on_config is not None:
                self.on_config(bytes(msg.payload))
            return
        try:
            ack = parse(MessageKind.ACK, msg.payload, device_id=self.device_id)
        except ContractError as exc:
            log.warning("%s: ignoring bad ack on %s: %s", self.device_id, msg.topic, exc)
            return
        if isinstance(ack, Ack):
            self.last_ack = ack
            if not msg.retain:
                import time

                self.clock_offset_s = round(time.time() - ack.ts.timestamp(), 3)
            if self.on_ack is not None:
                try:
                    self.on_ack(ack)
                except Exception:
                    log.exception("%s: on_ack callback failed", self.device_id)

    def _handle_refusal(self, name: str, payload: bytes) -> None:
        import time

        try:
            msg = parse(MessageKind.REFUSAL, payload, device_id=self.device_id)
        except ContractError as exc:
            log.warning("%s: ignoring bad refusal on %s: %s", self.device_id, name, exc)
            return
        if isinstance(msg, Refusal):
            pause = self.refusals.on_refusal(msg, time.monotonic())
            log.error(
                "%s: the gateway refused %d %s message(s): %s; pausing %.0f s",
                self.device_id,
                msg.refused,
                msg.refused_kind or "",
                msg.reason,
                pause,
            )

    def _handle_snapshot_ack(self, msg: Any) -> None:
        try:
            ack = parse(MessageKind.SNAPSHOT_ACK, msg.payload, device_id=self.device_id)
        except ContractError as exc:
            log.warning("%s: ignoring bad snapshot ack: %s", self.device_id, exc)
            return
        if isinstance(ack, SnapshotAck) and self.on_snapshot_ack is not None:
            try:
                self.on_snapshot_ack(ack)
            except Exception:
                log.exception("%s: on_snapshot_ack callback failed", self.device_id)

    # ------------------------------------------------------------------ caller threads

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a loss."""
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self._pending)

    def publish(
        self, message: Event | Status, *, retain: bool = False, timeout: float = 5.0
    ) -> bool:
        """Hand one message to the client at QoS 1. Waits up to ``timeout`` for a free
        in-flight slot; past that the message is dropped and counted (False)."""
        if not self._slots.acquire(timeout=timeout):
            self.dropped += 1
            log.warning(
                "%s: %d messages unacknowledged; dropped seq %s",
                self.device_id,
                self.inflight,
                message.seq,
            )
            return False
        kind = MessageKind.EVENT if isinstance(message, Event) else MessageKind.STATUS
        info = self._client.publish(
            topic(self.prefix, self.device_id, kind), dumps(message), qos=1, retain=retain
        )
        if info.rc not in (0, 4):  # 4 = MQTT_ERR_NO_CONN: kept and sent after reconnecting
            self.dropped += 1
            self._slots.release()
            raise PublishError(f"{self.device_id}: paho refused the message: rc={info.rc}")
        self._track(info.mid)
        return True

    def publish_payload(self, kind: MessageKind, payload: bytes, *, timeout: float = 5.0) -> bool:
        """Hand raw contract bytes to the client at QoS 1 (the courier's path).

        False when no in-flight slot freed up within ``timeout`` or paho refused it;
        the caller keeps the message (it is in the outbox) and tries again.
        """
        if not self._slots.acquire(timeout=timeout):
            return False
        info = self._client.publish(topic(self.prefix, self.device_id, kind), payload, qos=1)
        if info.rc not in (0, 4):
            self._slots.release()
            return False
        self._track(info.mid)
        return True

    def _track(self, mid: int) -> None:
        """Count a message handed to paho; its PUBACK may already have come (fast brokers)."""
        with self._lock:
            self.published += 1
            early = mid in self._early
            if early:
                self._early.discard(mid)
                self.acked += 1
            else:
                self._pending.add(mid)
        if early:
            self._slots.release()

    def flush(self, timeout: float) -> bool:
        """Wait until every published message is acknowledged, up to ``timeout`` seconds."""
        import time

        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.inflight == 0

    def stop(self, final: Status | None = None, timeout: float = 3.0) -> None:
        """Publish ``final`` (retained) if connected, wait for acknowledgements, disconnect.

        A clean disconnect suppresses the will, so ``final`` is what subscribers keep.
        """
        try:
            if final is not None and self.connected:
                self.publish(final, retain=True, timeout=timeout)
            self.flush(timeout)
        finally:
            self._client.disconnect()
            self._client.loop_stop()
