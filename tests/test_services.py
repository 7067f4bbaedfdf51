"""Embedded services the demo and fault tests start: real processes, not fakes."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gridwatch.retained import clear_retained
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


def _retained(host: str, port: int, pattern: str) -> dict[str, bytes]:
    """What a fresh subscriber to ``pattern`` gets as retained, within a second."""
    got: dict[str, bytes] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: (
        got.__setitem__(m.topic, bytes(m.payload)) if m.retain else None
    )
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(pattern, qos=1)
        threading.Event().wait(1.0)
    finally:
        client.loop_stop()
        client.disconnect()
    return got


def test_clear_retained_empties_the_prefix_and_nothing_else(
    mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    host, port = mqtt_broker
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect(host, port)
    pub.loop_start()
    neighbour = f"{topic_prefix}-next/v1/dev/cam-9/status"
    try:
        for name in ("cam-1/status", "cam-2/status", "cam-2/ack"):
            pub.publish(
                f"{topic_prefix}/v1/dev/{name}", b"{}", qos=1, retain=True
            ).wait_for_publish(5)
        pub.publish(neighbour, b"{}", qos=1, retain=True).wait_for_publish(5)
        assert len(_retained(host, port, f"{topic_prefix}/#")) == 3
        assert clear_retained(host, port, topic_prefix) == 3
        assert _retained(host, port, f"{topic_prefix}/#") == {}
        assert _retained(host, port, neighbour) == {neighbour: b"{}"}
    finally:
        pub.publish(neighbour, b"", qos=1, retain=True).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
    with pytest.raises(ValueError, match="wildcards"):
        clear_retained(host, port, "gw/#")
