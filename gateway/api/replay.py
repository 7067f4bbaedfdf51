"""Replaying a dead letter: publish its stored payload to its topic again, once, with QoS 1.

After a fix (a registry entry, a contract upgrade) ingest takes the message as if
the box had sent it again; the event id keeps a replay from being stored twice.
"""

from __future__ import annotations

import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridwatch.mqtt_tls import apply_login
from gridwatch.settings import Settings


class ReplayError(Exception):
    """The broker did not take the message."""


def publish_once(
    settings: Settings, topic: str, payload: bytes, timeout: float = 5.0, *, retain: bool = False
) -> None:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"gridwatch-replay-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    apply_login(
        client,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        tls=settings.mqtt_tls,
    )
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port)
        client.loop_start()
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise ReplayError(f"broker {settings.mqtt_host}:{settings.mqtt_port} did not ack")
    except OSError as exc:
        raise ReplayError(f"broker {settings.mqtt_host}:{settings.mqtt_port}: {exc}") from exc
    finally:
        client.disconnect()
        client.loop_stop()
