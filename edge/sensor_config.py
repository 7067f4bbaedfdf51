"""The sensors of an edge box: where each value comes from and which rules watch it.

Each sensor is its own device (its id is a device id of ``devices.yaml``, its MQTT
login and its unit on the gateway), like a camera. Sources are a discriminated
union on ``type``: Modbus TCP, an MQTT topic, HTTP polling, or a simulated value
for the demo.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.sensors import SensorRuleConfig, ThresholdRule
from gateway.contract import DEVICE_ID_PATTERN


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModbusSource(_Config):
    """One register (or a 32-bit pair) of a Modbus TCP server, scaled to the unit."""

    type: Literal["modbus"] = "modbus"
    host: str = Field(min_length=1, description="The Modbus TCP server (a PLC, a gateway)")
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (slave) id")
    table: Literal["holding", "input"] = Field("holding", description="Register table")
    address: int = Field(ge=0, le=65535, description="Register address, 0-based")
    words: Literal[1, 2] = Field(1, description="2: a 32-bit value, high word first")
    signed: bool = False
    scale: float = Field(1.0, description="value = raw * scale + offset")
    offset: float = 0.0
    timeout_s: float = Field(2.0, gt=0, le=60)


class MqttSource(_Config):
    """A topic the sensor publishes on: a plain number, or JSON with the value at ``key``."""

    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(min_length=1, max_length=256, description="No wildcards")
    key: str | None = Field(None, description="Dotted path in a JSON payload; none: plain value")

    @model_validator(mode="after")
    def _no_wildcards(self) -> MqttSource:
        if any(c in self.topic for c in "+#\0"):
            raise ValueError(f"topic {self.topic!r} must name one sensor: no + # or NUL")
        return self


class HttpSource(_Config):
    """Polled with GET: a plain number, or JSON with the value at ``key``."""

    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://", description="http:// or https:// URL")
    key: str | None = Field(None, description="Dotted path in a JSON body; none: plain value")
    timeout_s: float = Field(5.0, gt=0, le=60)


class SimulatedSource(_Config):
    """A value that starts at ``start`` and changes by ``per_s`` each second (the demo's
    water level rising past its threshold), held at ``stop`` once it gets there."""

    type: Literal["simulated"] = "simulated"
    start: float = 0.0
    per_s: float = 0.01
    stop: float | None = None


SourceConfig = Annotated[
    ModbusSource | MqttSource | HttpSource | SimulatedSource, Field(discriminator="type")
]


class SensorConfig(_Config):
    id: str = Field(pattern=DEVICE_ID_PATTERN, description="Device id: the MQTT login too")
    sensor: str = Field(
        min_length=1, max_length=64, description="Channel name, e.g. water_level, smoke"
    )
    unit: str | None = Field(None, max_length=32, description="Unit of measure, e.g. m, ppm")
    interval_s: float = Field(5.0, gt=0, le=3600, description="How often to read (not mqtt)")
    source: SourceConfig
    rules: list[SensorRuleConfig] = Field(
        default_factory=list, description="detectors.sensors rules; their sensor is this channel"
    )

    @model_validator(mode="after")
    def _rules_on_channel(self) -> SensorConfig:
        for i, rule in enumerate(self.rules):
            if rule.sensor != self.sensor:
                raise ValueError(
                    f"rules[{i}].sensor {rule.sensor!r} is not this sensor's channel "
                    f"{self.sensor!r}"
                )
        return self


#: Rules a town sensor gets when devices.yaml names only its type: what the demo shows.
DEFAULT_RULES: dict[str, list[dict[str, object]]] = {
    "water_level": [{"type": "threshold", "above": 1.0, "hysteresis": 0.05, "cooldown_s": 600}],
    "smoke": [{"type": "threshold", "above": 0.5, "hysteresis": 0.1, "severity": 1}],
    "gas": [{"type": "threshold", "above": 0.5, "hysteresis": 0.1, "severity": 1}],
    "noise": [{"type": "threshold", "above": 70.0, "hysteresis": 5.0, "min_on_s": 60}],
    "door": [{"type": "threshold", "above": 0.5, "severity": 3}],
}


def default_rules(sensor: str, category: str | None) -> list[ThresholdRule]:
    """The threshold rules for a sensor type (none for an unknown type), in ``category``."""
    return [
        ThresholdRule.model_validate({**r, "sensor": sensor, "category": category})
        for r in DEFAULT_RULES.get(sensor, [])
    ]


#: A town sensor's source when nothing else is given: the demo's simulation. The water
#: level rises from 0.2 m by 2 cm a second and passes its 1.0 m threshold after 40 s.
DEMO_SOURCES: dict[str, dict[str, object]] = {
    "water_level": {"type": "simulated", "start": 0.2, "per_s": 0.02, "stop": 1.5},
}
UNITS = {"water_level": "m", "smoke": "obscuration %/m", "gas": "%LEL", "noise": "dB(A)"}


def town_sensor(
    device_id: str, sensor_type: str, category: str | None, source: dict[str, object] | None
) -> dict[str, object]:
    """The edge config of a ``devices.yaml`` sensor: its type's rules, in its category."""
    return {
        "id": device_id,
        "sensor": sensor_type,
        "unit": UNITS.get(sensor_type),
        "source": source
        or DEMO_SOURCES.get(sensor_type, {"type": "simulated", "start": 0.0, "per_s": 0.0}),
        "rules": [r.model_dump() for r in default_rules(sensor_type, category)],
    }
