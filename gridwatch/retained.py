"""Clear the retained messages under a topic prefix, so a run leaves none behind.

Boxes publish their status retained and the gateway its acknowledgements; a
demo, benchmark or test on a shared broker uses a throwaway prefix, and without
this its retained messages stay on the broker for good (a broker keeps a
retained message until an empty retained payload replaces it, MQTT 5.0 §3.3.1.3).
"""

from __future__ import annotations

import threading
import uuid


def clear_retained(host: str, port: int, prefix: str, timeout: float = 5.0) -> int:
    """Replace every retained message under ``prefix/#`` with an empty one; return how many.

    The retained messages come right after the subscription is granted, before
    anything published later on the same connection (Mosquitto answers a SUBSCRIBE
    whole), so a sentinel published after SUBACK marks the end of them.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    if not prefix or any(c in prefix for c in "#+"):
        raise ValueError(f"prefix {prefix!r}: expected a topic prefix without wildcards")
    sentinel = f"{prefix}/_clear/{uuid.uuid4().hex}"
    topics: set[str] = set()
    subscribed, ended = threading.Event(), threading.Event()

    def on_subscribe(*_: object) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        # paho's network thread: only note the topic.
        if msg.topic == sentinel:
            ended.set()
        elif msg.retain and msg.payload:
            topics.add(msg.topic)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-clear-{uuid.uuid4().hex[:12]}")
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/#", qos=1)
        if not subscribed.wait(timeout):
            raise TimeoutError(f"broker {host}:{port} did not grant {prefix}/# in {timeout} s")
        client.publish(sentinel, b"end", qos=1)
        if not ended.wait(timeout):
            raise TimeoutError(f"broker {host}:{port} did not echo the sentinel in {timeout} s")
        client.unsubscribe(f"{prefix}/#")
        for name in sorted(topics):
            client.publish(name, b"", qos=1, retain=True).wait_for_publish(timeout)
        return len(topics)
    finally:
        client.disconnect()
        client.loop_stop()
