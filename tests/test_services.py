"""Embedded services the demo and fault tests start: real processes, not fakes."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gridwatch.services import EmbeddedMosquitto, free_port, mqtt_reachable


@pytest.mark.services  # the mosquitto binary
def test_embedded_mosquitto_carries_messages(tmp_path: Path) -> None:
    broker = EmbeddedMosquitto(tmp_path / "mq").start()
    got = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.set()
    try:
        assert mqtt_reachable(broker.host, broker.port)
        sub.connect(broker.host, broker.port)
        sub.subscribe("t/x", qos=1)
        sub.loop_start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        # Retained so a subscription that lands after the publish still gets it.
        pub.publish("t/x", b"hello", qos=1, retain=True).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        assert got.wait(5)
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
    assert not mqtt_reachable(broker.host, broker.port)


def test_closed_port_is_not_a_broker() -> None:
    assert not mqtt_reachable("127.0.0.1", free_port())
