"""What a benchmark left retained on a shared broker."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def retained_under(host: str, port: int, prefix: str, wait_s: float = 2.0) -> list[str]:
    """Topics under ``prefix/#`` that hold a retained message now."""
    found: list[str] = []
    granted = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-t-{uuid.uuid4().hex[:6]}")
    client.on_subscribe = lambda *_: granted.set()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            found.append(msg.topic)

    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/#", qos=1)
        assert granted.wait(5)
        threading.Event().wait(wait_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return found
