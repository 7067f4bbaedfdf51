"""One sensor on the edge: read its source, keep the readings, run its rules.

Every value goes to the outbox as a contract ``Reading`` (the courier sends them
in ``Batch`` messages; the gateway stores them in ``readings``), and the sensor
rules of ``detectors/sensors.py`` turn them into events that travel like a
camera's. The loop is thin; what a reading or a hit says is decided in the pure
functions above it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from detectors.sensors import SensorRules, SensorRulesConfig
from detectors.types import RuleHit
from edge.camera import EventIds, hit_to_event
from edge.courier import Courier
from edge.outbox import Outbox
from edge.publisher import Publisher
from edge.sensor_config import MqttSource, SensorConfig
from edge.sensor_sources import SensorReadError, SensorSource
from gateway.contract import Reading, Status
from gridwatch.worker import Worker

log = logging.getLogger(__name__)

#: How often a pushed (MQTT) sensor's newest value is picked up.
PUSH_POLL_S = 0.2
#: Silent for this many read intervals: the sensor counts as offline in its status.
OFFLINE_AFTER_INTERVALS = 3


def reading_message(cfg: SensorConfig, ts: datetime, value: float) -> dict[str, Any]:
    """The outbox form of one reading (the courier gives it its seq)."""
    msg = Reading.model_validate(
        {
            "device_id": cfg.id,
            "seq": 0,
            "ts": ts,
            "sensor": cfg.sensor,
            "value": value,
            "unit": cfg.unit,
        }
    )
    return msg.model_dump(mode="json", exclude_none=True)


def hit_message(cfg: SensorConfig, hit: RuleHit, event_id: Any) -> dict[str, Any]:
    """The outbox form of one sensor rule's finding: an Event, plus the value it saw."""
    event = hit_to_event(hit, device_id=cfg.id, seq=0, event_id=event_id)
    value = hit.extra.get("value")
    if isinstance(value, int | float) and event.summary is not None:
        event = event.model_copy(
            update={
                "summary": f"{event.summary}: {cfg.sensor} = {value:g} {cfg.unit or ''}".strip()
            }
        )
    # Fields the contract does not know are kept by the gateway in the event's extra.
    return event.model_dump(mode="json", exclude_none=True) | {"sensor": cfg.sensor, **hit.extra}


class SensorRunner(Worker):
    """Reads one sensor in its own thread; ``error`` holds the last failed read's reason."""

    def __init__(
        self,
        cfg: SensorConfig,
        *,
        source: SensorSource,
        publisher: Publisher,
        outbox: Outbox,
        courier: Courier,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.publisher = publisher
        self.outbox = outbox
        self.courier = courier
        self.rules = SensorRules(SensorRulesConfig(rules=cfg.rules), cfg.id)
        self.ids = EventIds()
        self.error: str | None = None
        self.readings = 0
        self.events = 0
        self.read_errors = 0
        self.last_value: float | None = None
        self.last_read: datetime | None = None
        #: There is no stream to wait for: a sensor is never "starting" for the status loop.
        self.starting = False
        super().__init__(f"sensor-{cfg.id}")

    @property
    def device_id(self) -> str:
        return self.cfg.id

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.source.close()

    def status(self, sw_version: str, *, stopping: bool = False) -> Status:
        now = datetime.now(UTC)
        fresh = self.last_read is not None and (now - self.last_read).total_seconds() <= (
            OFFLINE_AFTER_INTERVALS * max(self.cfg.interval_s, PUSH_POLL_S)
        )
        online = not stopping and fresh
        box = self.outbox.stats(self.cfg.id)
        detail = self.error or (
            f"{self.readings} readings, last {self.cfg.sensor} = {self.last_value}, "
            f"{self.events} events"
        )
        return Status.model_validate(
            {
                "device_id": self.cfg.id,
                "seq": max(0, self.outbox.device_info(self.cfg.id)[0] - 1),
                "ts": now,
                "state": "online" if online else "offline",
                "sw_version": sw_version,
                "clock_offset_s": self.publisher.clock_offset_s,
                "outbox_items": box.items,
                "dropped": {"read_errors": self.read_errors} | box.dropped,
                "detail": ("stopped" if stopping else detail)[:2000],
            }
        )

    # ------------------------------------------------------------------ loop

    def _run(self) -> None:
        period = PUSH_POLL_S if isinstance(self.cfg.source, MqttSource) else self.cfg.interval_s
        while not self._stop.is_set():
            try:
                self.step(datetime.now(UTC))
            except Exception:
                # A rules bug must not stop the sensor: the next read tries again.
                log.exception("sensor %s: step failed", self.cfg.id)
            self._stop.wait(period)

    def step(self, ts: datetime) -> None:
        """One read, its reading and what the rules make of it, then the stale check."""
        try:
            value = self.source.read()
        except SensorReadError as exc:
            if self.error != str(exc):
                log.warning("%s", exc)
            self.error = str(exc)
            self.read_errors += 1
            value = None
        hits: list[RuleHit] = []
        if value is not None:
            self.error = None
            self.readings += 1
            self.last_value, self.last_read = value, ts
            self.outbox.put(self.cfg.id, "reading", reading_message(self.cfg, ts, value))
            hits += self.rules.reading(ts, self.cfg.sensor, value)
        hits += self.rules.tick(ts)
        for hit in hits:
            self.events += 1
            self.outbox.put(self.cfg.id, "event", hit_message(self.cfg, hit, self.ids.for_hit(hit)))
        self.courier.wake()


def will_status(device_id: str, sw_version: str) -> Status:
    """The last will of one device: offline, stamped by the gateway when it arrives."""
    return Status.model_validate(
        {
            "device_id": device_id,
            "seq": 0,
            "ts": datetime.now(UTC),
            "state": "offline",
            "sw_version": sw_version,
            "detail": "connection lost (last will)",
            "will": True,
        }
    )
