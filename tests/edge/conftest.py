"""Edge fixtures: a short cut of vtest.avi, an MQTT subscriber that collects messages, and the
edge.yaml of a test box on the test broker."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

CLIP_START, CLIP_FRAMES = 250, 150


@pytest.fixture(scope="session")
def vtest_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 250..399 of vtest.avi (people on the road), MJPG at the clip's 10 fps."""
    import cv2

    from gridwatch.assets import fetch

    src = cv2.VideoCapture(str(fetch("vtest.avi")))
    out_path = tmp_path_factory.mktemp("clip") / "vtest_cut.avi"
    fps = src.get(cv2.CAP_PROP_FPS)
    src.set(cv2.CAP_PROP_POS_FRAMES, CLIP_START)
    writer: Any = None
    try:
        for _ in range(CLIP_FRAMES):
            ok, frame = src.read()
            assert ok
            if writer is None:
                h, w = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"MJPG")
                writer = cv2.VideoWriter(str(out_path), fourcc, fps, (w, h))
            writer.write(frame)
    finally:
        src.release()
        if writer is not None:
            writer.release()
    return out_path


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float


class Collector:
    """Subscribes to ``prefix/#`` and keeps every message, stamped with its receive time."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.prefix = prefix
        self.messages: queue.Queue[Received] = queue.Queue()
        self.seen: list[Received] = []
        self._ready = queue.Queue[bool]()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *a: self._ready.put(True)
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        self._ready.get(timeout=10)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.messages.put(Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.time()))

    def drain(self, timeout: float = 0.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                left = max(0.0, deadline - time.monotonic())
                self.seen.append(
                    self.messages.get(timeout=left) if left else self.messages.get_nowait()
                )
            except queue.Empty:
                return self.seen

    def wait_for(self, pred: Any, timeout: float) -> Received | None:
        deadline = time.monotonic() + timeout
        for m in self.seen:
            if pred(m):
                return m
        while time.monotonic() < deadline:
            try:
                m = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(m)
            if pred(m):
                return m
        return None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def collector(mqtt_broker: tuple[str, int], topic_prefix: str) -> Iterator[Collector]:
    c = Collector(mqtt_broker[0], mqtt_broker[1], topic_prefix)
    try:
        yield c
    finally:
        c.close()


ROAD = [[0, 150], [768, 150], [768, 576], [0, 576]]


def edge_config(
    folder: Path, prefix: str, host: str, port: int, cams: list[dict[str, Any]]
) -> dict[str, Any]:
    """The edge config of a test box on the test broker, its state under ``folder``."""
    return {
        "box_id": "box-test",
        # Client ids are global on the broker: keep them apart from concurrent runs.
        "mqtt": {
            "host": host,
            "port": port,
            "prefix": prefix,
            "client_id_suffix": "-" + prefix.replace("/", "-"),
        },
        "snapshot_dir": str(folder / "snaps"),
        "state_dir": str(folder / "state"),
        "status_interval_s": 1.0,
        "detector": {"options": {"threads": 1}, "workers": 1},
        "cameras": cams,
    }


def write_edge_yaml(
    tmp_path: Path, prefix: str, host: str, port: int, cams: list[dict[str, Any]]
) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(edge_config(tmp_path, prefix, host, port, cams)))
    return path


def camera(cam_id: str, stream: str) -> dict[str, Any]:
    """A camera watching the road of vtest.avi for intrusions, with a homography onto the map."""
    return {
        "id": cam_id,
        "stream": stream,
        "detect_fps": 5,
        "zones": [{"name": "road", "polygon": ROAD}],
        "rules": [{"type": "intrusion", "zone": "road", "cooldown_s": 5}],
        "homography": [
            {"px": [0, 576], "lon": 119.0, "lat": 25.45},
            {"px": [768, 576], "lon": 119.001, "lat": 25.45},
            {"px": [768, 150], "lon": 119.001, "lat": 25.451},
            {"px": [0, 150], "lon": 119.0, "lat": 25.451},
        ],
    }


@dataclass(frozen=True)
class EdgeRig:
    """One test's edge box: the test broker under the test's own topic prefix, and its folder."""

    host: str
    port: int
    prefix: str
    folder: Path

    def config(self, cams: list[dict[str, Any]]) -> Path:
        return write_edge_yaml(self.folder, self.prefix, self.host, self.port, cams)

    def subscribe(self) -> Collector:
        """A subscriber that joins now; the caller closes it."""
        return Collector(self.host, self.port, self.prefix)


@pytest.fixture
def rig(tmp_path: Path, mqtt_broker: tuple[str, int], topic_prefix: str) -> EdgeRig:
    return EdgeRig(mqtt_broker[0], mqtt_broker[1], topic_prefix, tmp_path)
