"""Edge sensors: decoding values, the sources, the config, and what a reading turns into."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.sensors import SensorRules, SensorRulesConfig
from edge.config import EdgeConfigError, config_from_town, parse_edge_config
from edge.sensor_config import HttpSource, ModbusSource, SensorConfig, SimulatedSource
from edge.sensor_runner import hit_message, reading_message
from edge.sensor_sources import (
    HttpReader,
    SensorReadError,
    payload_value,
    registers_value,
    simulated_value,
)
from gateway.contract import Event, Reading

CONFIG = Path(__file__).parent.parent.parent / "config"
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def modbus(**kw: object) -> ModbusSource:
    return ModbusSource.model_validate({"host": "plc", "address": 0, **kw})


@pytest.mark.parametrize(
    ("words", "kw", "expected"),
    [
        ([135], {"scale": 0.01}, 1.35),
        ([0xFFFF], {"signed": True}, -1.0),
        ([0xFFFF], {}, 65535.0),
        ([0x0001, 0x0000], {"words": 2}, 65536.0),
        ([0xFFFF, 0xFFFE], {"words": 2, "signed": True}, -2.0),
        ([500], {"scale": 0.1, "offset": -20}, 30.0),
    ],
)
def test_register_words_become_the_scaled_value(
    words: list[int], kw: dict[str, object], expected: float
) -> None:
    assert registers_value(words, modbus(**kw)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("payload", "key", "expected", "error"),
    [
        (b"3.25\n", None, 3.25, None),
        (b'{"level": {"m": 1.2}}', "level.m", 1.2, None),
        (b'{"level": "0.8"}', "level", 0.8, None),
        (b"wet", None, None, "is not a number"),
        (b'{"level": 1}', "depth", None, "has no 'depth'"),
        (b'{"level": true}', "level", None, "is not a number"),
        (b"nan", None, None, "not finite"),
        (b"{", "level", None, "is not JSON"),
    ],
)
def test_payloads_give_a_number_or_say_what_is_wrong(
    payload: bytes, key: str | None, expected: float | None, error: str | None
) -> None:
    if error is None:
        assert payload_value(payload, key, "sensor s1") == pytest.approx(expected)
    else:
        with pytest.raises(SensorReadError, match=error):
            payload_value(payload, key, "sensor s1")


def test_the_simulated_water_level_rises_past_its_threshold_and_holds() -> None:
    cfg = SimulatedSource.model_validate({"start": 0.2, "per_s": 0.02, "stop": 1.5})
    assert simulated_value(cfg, 0) == pytest.approx(0.2)
    assert simulated_value(cfg, 39) < 1.0 < simulated_value(cfg, 41)
    assert simulated_value(cfg, 3600) == pytest.approx(1.5)


class _Level(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"water": {"level": 0.93}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http_polling_reads_the_value_at_its_key() -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), _Level) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/level"
        cfg = SensorConfig.model_validate(
            {
                "id": "s1",
                "sensor": "water_level",
                "source": {"type": "http", "url": url, "key": "water.level"},
            }
        )
        assert isinstance(cfg.source, HttpSource)
        one = threading.Thread(target=server.handle_request)
        one.start()
        assert HttpReader("s1", cfg.source).read() == pytest.approx(0.93)
        one.join(5)
    closed = HttpReader("s1", cfg.source)
    with pytest.raises(SensorReadError, match=r"sensor s1: GET http://127\.0\.0\.1"):
        closed.read()


def test_town_sensors_become_edge_sensors_with_their_types_rules() -> None:
    cfg = config_from_town(CONFIG, ["sen-0002", "sen-0001"], snapshot_dir=Path("/tmp/x"))
    assert cfg.cameras == []
    water, smoke = cfg.sensors
    assert (water.id, water.sensor, water.unit) == ("sen-0002", "water_level", "m")
    assert water.source.type == "simulated"
    assert [r.default_category() for r in water.rules] == ["flood"]
    assert [r.default_category() for r in smoke.rules] == ["fire_smoke"]


def test_sensor_config_errors_name_the_field() -> None:
    base = {"box_id": "b", "snapshot_dir": "/tmp/x"}
    with pytest.raises(EdgeConfigError, match="at least one camera or sensor"):
        parse_edge_config(base)
    sensor = {
        "id": "s1",
        "sensor": "water_level",
        "source": {"type": "mqtt", "topic": "site/+/level"},
        "rules": [{"type": "threshold", "sensor": "smoke", "above": 1}],
    }
    with pytest.raises(EdgeConfigError) as err:
        parse_edge_config({**base, "sensors": [sensor]})
    text = str(err.value)
    assert "sensors[0].source.mqtt" in text and "no + # or NUL" in text
    sensor["source"] = {"type": "mqtt", "topic": "site/1/level"}
    with pytest.raises(EdgeConfigError, match=r"rules\[0\].sensor 'smoke' is not"):
        parse_edge_config({**base, "sensors": [sensor]})


def test_readings_and_their_alarm_are_valid_contract_messages_with_update_and_end() -> None:
    cfg = SensorConfig.model_validate(
        {
            "id": "sen-0002",
            "sensor": "water_level",
            "unit": "m",
            "source": {"type": "simulated"},
            "rules": [
                {
                    "type": "threshold",
                    "sensor": "water_level",
                    "above": 1.0,
                    "hysteresis": 0.1,
                    "category": "flood",
                    "update_every_s": 30,
                }
            ],
        }
    )
    reading = Reading.model_validate(reading_message(cfg, T0, 0.5))
    assert (reading.sensor, reading.value, reading.unit) == ("water_level", 0.5, "m")
    rules = SensorRules(SensorRulesConfig(rules=cfg.rules), cfg.id)
    levels = [0.5, 1.2, 1.3, 1.35, 1.4, 0.95, 0.85]
    hits = []
    for i, level in enumerate(levels):
        hits += rules.reading(T0 + timedelta(seconds=20 * i), "water_level", level)
    # Start at 1.2; updates 40 s apart (20 s is too soon); 0.95 is still an alarm
    # (within the hysteresis), 0.85 ends it, reporting the last alarming value.
    assert [(h.phase, h.extra["value"]) for h in hits] == [
        ("start", 1.2),
        ("update", 1.35),
        ("update", 0.95),
        ("end", 0.95),
    ]
    event = Event.model_validate(hit_message(cfg, hits[1], "0" * 32))
    assert event.phase == "update" and event.category == "flood"
    assert event.summary is not None and event.summary.endswith("water_level = 1.35 m")


def test_an_mqtt_sensor_hands_over_its_newest_value_once(
    mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.sensor_config import MqttSource
    from edge.sensor_sources import MqttReader

    src = MqttSource.model_validate({"topic": f"{topic_prefix}/site/7/level", "key": "m"})
    reader = MqttReader(
        f"s-{topic_prefix.replace('/', '-')}", src, host=mqtt_broker[0], port=mqtt_broker[1]
    )
    field = mqtt.Client(CallbackAPIVersion.VERSION2)
    field.connect(*mqtt_broker)
    field.loop_start()
    try:
        deadline = time.monotonic() + 10
        value = None
        while value is None and time.monotonic() < deadline:
            field.publish(src.topic, b'{"m": 0.42}', qos=1).wait_for_publish(5)
            time.sleep(0.1)
            value = reader.read()
        assert value == pytest.approx(0.42)
        assert reader.read() is None
        field.publish(src.topic, b"soaked", qos=1).wait_for_publish(5)
        assert wait_until(lambda: reader.error is not None)
        assert reader.error is not None and "is not JSON" in reader.error
        assert reader.read() is None
    finally:
        field.disconnect()
        field.loop_stop()
        reader.close()


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
