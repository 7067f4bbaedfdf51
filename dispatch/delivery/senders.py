"""The I/O of delivery: one POST to a webhook, one QoS 1 publish to the broker.

Each sender answers with an :class:`Answer` and never raises for a delivery
that did not work: what the receiver said is the attempt's record.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from dispatch.delivery.retry import Outcome, http_outcome, puback_outcome
from gridwatch.mqtt_tls import MqttTls, apply_login

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    answer: str  # 'HTTP 200', 'PUBACK 0', 'timeout', 'not connected' ...
    error: str | None = None


class WebhookPoster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Answer:
        """POST ``body``; the answer, never an exception for a failed delivery."""
        ...


class MqttPublisher(Protocol):
    def publish(self, topic: str, payload: bytes, timeout_s: float) -> Answer:
        """Publish at QoS 1 and wait for the PUBACK."""
        ...


class UrllibPoster:
    """Webhooks through the standard library: one short-lived request per delivery."""

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Answer:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={**headers, "Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
        except TimeoutError as exc:
            return Answer(Outcome.RETRY, "timeout", f"no answer from {url} in {timeout_s} s: {exc}")
        except (urllib.error.URLError, OSError) as exc:
            return Answer(Outcome.RETRY, "no connection", f"{url}: {exc}")
        return Answer(http_outcome(status), f"HTTP {status}")


class _Waiter:
    __slots__ = ("done", "reason")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reason: int | None = None


class PahoPublisher:
    """One MQTT v5 connection per worker. paho's network thread only records PUBACKs and
    wakes the waiting worker thread; nothing there blocks or touches the database."""

    def __init__(
        self,
        client_id: str,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        tls: MqttTls | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self._lock = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._early: dict[int, int] = {}
        self._late: set[int] = set()
        self._connected = threading.Event()
        self.connect_error: str | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        # A notice the broker never acknowledged is retried by the worker, not by paho.
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 30)
        apply_login(self._client, username=username, password=password, tls=tls)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    # ------------------------------------------------------------------ paho's thread

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            # A refused CONNACK is not a connection: say so and wait for the next try.
            self.connect_error = f"broker {self.host}:{self.port} refused the worker: {rc}"
            log.error("%s", self.connect_error)
            return
        self.connect_error = None
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        reason = int(getattr(rc, "value", 0))
        with self._lock:
            waiter = self._waiters.pop(mid, None)
            if mid in self._late:
                # Its worker gave up waiting and retries later; paho reuses the mid.
                self._late.discard(mid)
                return
            if waiter is None:
                # The PUBACK raced ahead of publish() registering the mid.
                self._early[mid] = reason
                return
        waiter.reason = reason
        waiter.done.set()

    # ------------------------------------------------------------------ worker threads

    def start(self) -> PahoPublisher:
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes, timeout_s: float) -> Answer:
        # Not waiting here: with the broker down, every notice of a batch would wait in turn.
        if not self._connected.is_set():
            why = self.connect_error or f"broker {self.host}:{self.port} not connected"
            return Answer(Outcome.RETRY, "not connected", why)
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != 0:
            return Answer(Outcome.RETRY, f"paho rc {info.rc}", f"publish to {topic} not sent")
        waiter = _Waiter()
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._waiters[info.mid] = waiter
        if early is not None:
            waiter.reason = early
        elif not waiter.done.wait(timeout_s):
            with self._lock:
                if self._waiters.pop(info.mid, None) is not None:
                    self._late.add(info.mid)
            return Answer(Outcome.RETRY, "timeout", f"no PUBACK for {topic} in {timeout_s} s")
        reason = waiter.reason if waiter.reason is not None else 0
        return Answer(puback_outcome(reason), f"PUBACK {reason}")
