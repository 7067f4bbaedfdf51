"""Where sensor values come from: Modbus TCP, an MQTT topic, HTTP polling, a simulation.

A source answers ``read()`` with the current value, or ``None`` when it has none
new (an MQTT sensor that said nothing since the last read); a failing read raises
:class:`SensorReadError` naming the sensor and the cause. Each kind is built from
its config model in :data:`BUILDERS`. The decoding (register words to a value, a
payload to a number) is pure and sits apart from the I/O.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from edge.sensor_config import (
    HttpSource,
    ModbusSource,
    MqttSource,
    SensorConfig,
    SimulatedSource,
    SourceConfig,
)

log = logging.getLogger(__name__)


class SensorReadError(Exception):
    """A sensor that could not be read; the message names it and the cause."""


class SensorSource(Protocol):
    def read(self) -> float | None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- decoding


def registers_value(words: Sequence[int], cfg: ModbusSource) -> float:
    """Register words (high first) as the configured, scaled value."""
    raw = 0
    for w in words:
        raw = (raw << 16) | (w & 0xFFFF)
    bits = 16 * len(words)
    if cfg.signed and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw * cfg.scale + cfg.offset


def payload_value(payload: bytes, key: str | None, what: str) -> float:
    """A number from a plain payload (``3.2``) or from JSON at a dotted ``key``."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise SensorReadError(f"{what}: payload is not UTF-8") from exc
    if key is None:
        try:
            value = float(text)
        except ValueError as exc:
            raise SensorReadError(f"{what}: payload {text[:40]!r} is not a number") from exc
    else:
        try:
            node: Any = json.loads(text)
        except ValueError as exc:
            raise SensorReadError(f"{what}: payload {text[:40]!r} is not JSON") from exc
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SensorReadError(f"{what}: JSON has no {key!r} (missing at {part!r})")
            node = node[part]
        if isinstance(node, bool) or not isinstance(node, int | float | str):
            raise SensorReadError(f"{what}: {key} = {node!r} is not a number")
        try:
            value = float(node)
        except ValueError as exc:
            raise SensorReadError(f"{what}: {key} = {node!r} is not a number") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise SensorReadError(f"{what}: value {value} is not finite")
    return value


# --------------------------------------------------------------------------- sources


class ModbusReader:
    """Reads with pymodbus' synchronous TCP client; reconnects on the next read after a loss."""

    def __init__(self, sensor_id: str, cfg: ModbusSource) -> None:
        from pymodbus.client import ModbusTcpClient

        self.sensor_id, self.cfg = sensor_id, cfg
        self._client = ModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)

    def read(self) -> float | None:
        from pymodbus.exceptions import ModbusException

        cfg = self.cfg
        what = f"sensor {self.sensor_id}: modbus {cfg.host}:{cfg.port} {cfg.table} {cfg.address}"
        if not self._client.connected and not self._client.connect():  # type: ignore[no-untyped-call]
            raise SensorReadError(f"{what}: cannot connect")
        call = (
            self._client.read_holding_registers
            if cfg.table == "holding"
            else self._client.read_input_registers
        )
        try:
            rr = call(cfg.address, count=cfg.words, device_id=cfg.unit_id)
        except ModbusException as exc:
            self._client.close()  # type: ignore[no-untyped-call]
            raise SensorReadError(f"{what}: {exc}") from exc
        if rr.isError():
            raise SensorReadError(f"{what}: server answered {rr}")
        return registers_value(rr.registers, cfg)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


class MqttReader:
    """Keeps the newest value published on the sensor's topic; ``read`` takes it once."""

    def __init__(self, sensor_id: str, cfg: MqttSource, *, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.sensor_id, self.cfg = sensor_id, cfg
        self._lock = threading.Lock()
        self._value: float | None = None
        self.error: str | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{sensor_id}-source", clean_session=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect_async(host, port)
        self._client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            client.subscribe(self.cfg.topic, qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        # paho's thread only hands the value over; a bad payload skips itself.
        try:
            value = payload_value(msg.payload, self.cfg.key, f"sensor {self.sensor_id}")
        except SensorReadError as exc:
            self.error = str(exc)
            log.warning("%s", exc)
            return
        with self._lock:
            self._value, self.error = value, None

    def read(self) -> float | None:
        with self._lock:
            value, self._value = self._value, None
        return value

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class HttpReader:
    def __init__(self, sensor_id: str, cfg: HttpSource) -> None:
        self.sensor_id, self.cfg = sensor_id, cfg

    def read(self) -> float | None:
        import urllib.request

        what = f"sensor {self.sensor_id}: GET {self.cfg.url}"
        try:
            with urllib.request.urlopen(self.cfg.url, timeout=self.cfg.timeout_s) as resp:
                body = resp.read(64 * 1024)
        except OSError as exc:
            raise SensorReadError(f"{what}: {exc}") from exc
        return payload_value(body, self.cfg.key, what)

    def close(self) -> None:
        pass


class SimulatedReader:
    def __init__(
        self, sensor_id: str, cfg: SimulatedSource, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cfg, self._clock = cfg, clock
        self._t0 = clock()

    def read(self) -> float | None:
        return simulated_value(self.cfg, self._clock() - self._t0)

    def close(self) -> None:
        pass


def simulated_value(cfg: SimulatedSource, elapsed_s: float) -> float:
    value = cfg.start + cfg.per_s * elapsed_s
    if cfg.stop is not None:
        value = min(value, cfg.stop) if cfg.per_s >= 0 else max(value, cfg.stop)
    return round(value, 6)


def build_source(sensor: SensorConfig, *, mqtt_host: str, mqtt_port: int) -> SensorSource:
    src: SourceConfig = sensor.source
    if isinstance(src, ModbusSource):
        return ModbusReader(sensor.id, src)
    if isinstance(src, MqttSource):
        return MqttReader(sensor.id, src, host=mqtt_host, port=mqtt_port)
    if isinstance(src, HttpSource):
        return HttpReader(sensor.id, src)
    return SimulatedReader(sensor.id, src)
