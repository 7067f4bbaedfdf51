"""The edge agent: every camera and sensor of one box, a shared detector, status and will.

``EdgeAgent(cfg).run(duration)`` is what ``gridwatch edge`` runs. Each camera and
each sensor publishes as its own device; a camera whose stream is unusable reports
an offline Status naming the camera and field, and the others keep running. The
status thread also applies pushed configs (edge/remote_config.py) and tells of the
gateway's refusals (edge/feedback.py).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from detectors.config import MotionConfig
from detectors.types import Detector
from edge.camera import CameraRunner
from edge.config import EdgeConfig
from edge.courier import Courier, CourierConfig
from edge.feedback import with_refusal
from edge.gating import GateConfig, GatedDetector
from edge.login import Login, camera_logins, camera_tls
from edge.mosaic import MosaicDetector, PerCropDetector
from edge.outbox import Outbox
from edge.publisher import Publisher
from edge.remote_config import RemoteConfig, with_push_state
from edge.sensor_runner import SensorRunner, will_status
from edge.sensor_sources import build_source
from edge.seq import SeqCounter
from edge.snapshot_courier import SnapshotCourier, SnapshotCourierConfig
from edge.snapshot_queue import SnapshotQueue
from gridwatch import __version__
from gridwatch.mqtt_tls import MqttTls

log = logging.getLogger(__name__)


class EdgeAgent:
    def __init__(self, cfg: EdgeConfig, *, detector: Detector | None = None) -> None:
        from detectors.backends import build_detector
        from gridwatch.settings import get_settings

        settings = get_settings()
        self.cfg = cfg
        self.host = cfg.mqtt.host or settings.mqtt_host
        self.port = cfg.mqtt.port or settings.mqtt_port
        self.prefix = cfg.mqtt.prefix or settings.topic_prefix
        self.state_dir = cfg.state_dir or Path(settings.cache_dir) / "edge" / cfg.box_id
        # A box of sensors alone has no frames: the cheap motion back-end stands in.
        backend = cfg.detector.backend if cfg.cameras else MotionConfig.model_validate({})
        self.detector = detector or build_detector(backend)
        workers = cfg.detector.workers or min(32, os.cpu_count() or 1)
        size = getattr(self.detector, "input_size", None)
        self.regions: MosaicDetector | PerCropDetector
        if isinstance(size, tuple) and size[0] == size[1]:
            # A fixed square input: crops of several cameras share one call.
            self.regions = MosaicDetector(self.detector, canvas=int(size[0]), workers=workers)
        else:
            self.regions = PerCropDetector(self.detector, threading.Semaphore(workers))
        gate_cfg = GateConfig(
            # Gating a motion detector by motion would only run MOG2 twice.
            enabled=cfg.detector.motion_gating and cfg.detector.backend.type != "motion",
            full_every_s=cfg.detector.full_frame_every_s,
        )
        self.outbox = Outbox(
            self.state_dir / "outbox.sqlite3",
            max_bytes=cfg.outbox.max_bytes,
            synchronous=cfg.outbox.synchronous,
        )
        courier_cfg = CourierConfig(
            window=cfg.outbox.window,
            batch_items=cfg.outbox.batch_items,
            resend_after_s=cfg.outbox.resend_after_s,
        )
        # Evidence JPEGs wait here until the gateway says it holds them (docs/evidence.md).
        self.snapshot_queue = SnapshotQueue(
            self.state_dir / "snapshots.sqlite3", synchronous=cfg.outbox.synchronous
        )
        publishers: dict[str, Publisher] = {}
        logins = camera_logins(cfg, settings)
        self.couriers: list[Courier] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.cameras: list[CameraRunner] = []
        for cam in cfg.cameras:
            legacy = self.state_dir / f"{cam.id}.seq"
            if legacy.exists():
                # Boxes from before the outbox kept the next seq in a file: continue it.
                self.outbox.ensure_device(cam.id, SeqCounter(legacy).last + 1)
            pub = self._publisher(cam.id, logins[cam.id], camera_tls(cfg, settings, cam.id))
            courier = Courier(cam.id, self.outbox, pub, courier_cfg)
            pub.on_ack = courier.on_ack
            publishers[cam.id] = pub
            self.couriers.append(courier)
            self.cameras.append(
                CameraRunner(
                    cam,
                    detector=GatedDetector(self.regions, gate_cfg),
                    publisher=pub,
                    outbox=self.outbox,
                    courier=courier,
                    snapshot_dir=cfg.snapshot_dir,
                    tz=settings.zone,
                    on_change=self._wake.set,
                    snapshots=self.snapshot_queue,
                )
            )
        self.remote = RemoteConfig(self.cameras, settings.zone)
        for c in self.cameras:
            c.publisher.on_config = functools.partial(
                self.remote.offer, c.cam.id, wake=self._wake.set
            )
        self.sensors: list[SensorRunner] = []
        for sensor in cfg.sensors:
            pub = self._publisher(
                sensor.id, logins[sensor.id], camera_tls(cfg, settings, sensor.id)
            )
            courier = Courier(sensor.id, self.outbox, pub, courier_cfg)
            pub.on_ack = courier.on_ack
            self.couriers.append(courier)
            source = build_source(sensor, mqtt_host=self.host, mqtt_port=self.port)
            self.sensors.append(
                SensorRunner(
                    sensor, source=source, publisher=pub, outbox=self.outbox, courier=courier
                )
            )
        self.snapshot_courier = SnapshotCourier(
            self.snapshot_queue,
            publishers,
            SnapshotCourierConfig(resend_after_s=cfg.outbox.resend_after_s),
        )
        for pub in publishers.values():
            pub.on_snapshot_ack = self.snapshot_courier.on_ack
        self._final: dict[str, Any] | None = None
        from edge.metrics import EdgeMetrics

        self.metrics = EdgeMetrics(self)
        for c in self.cameras:
            c.detect_hist = self.metrics.detect_seconds.labels(c.cam.id)
        self._status_thread = threading.Thread(target=self._status_loop, name="edge-status")

    def _publisher(self, device_id: str, login: Login, tls: MqttTls | None) -> Publisher:
        """One device's own MQTT connection, with its last will."""
        return Publisher(
            device_id,
            host=self.host,
            port=self.port,
            prefix=self.prefix,
            will=will_status(device_id, __version__),
            username=login[0],
            password=login[1],
            tls=tls,
            keepalive_s=self.cfg.mqtt.keepalive_s,
            max_inflight=self.cfg.mqtt.max_inflight,
            on_connect=self._wake.set,
            client_id=device_id + self.cfg.mqtt.client_id_suffix,
        )

    @property
    def errors(self) -> dict[str, str]:
        """Camera id -> why it is not running, for cameras whose stream is unusable."""
        return {c.cam.id: c.error for c in self.cameras if c.error}

    # ------------------------------------------------------------------ observed

    def outbox_stats(self) -> dict[str, dict[str, int]]:
        """Camera id -> outbox drop counters."""
        return {c.cam.id: self.outbox.stats(c.cam.id).dropped for c in self.cameras}

    def publishers(self) -> dict[str, Publisher]:
        """Device id -> its MQTT connection, cameras and sensors."""
        out = {c.cam.id: c.publisher for c in self.cameras}
        return out | {s.device_id: s.publisher for s in self.sensors}

    def queue_depth(self) -> int:
        return self.regions.queue_depth() if isinstance(self.regions, MosaicDetector) else 0

    @property
    def outbox_items(self) -> int:
        return self.outbox.total_items

    @property
    def outbox_bytes(self) -> int:
        return self.outbox.total_bytes

    def start(self) -> None:
        self.cfg.snapshot_dir.mkdir(parents=True, exist_ok=True)
        if self.cfg.metrics_port is not None:
            port = self.metrics.serve(self.cfg.metrics_port)
            log.info("metrics on http://0.0.0.0:%d/metrics", port)
        for cam in self.cameras:
            cam.publisher.start()
            cam.courier.start()
            cam.start()
        for sensor in self.sensors:
            sensor.publisher.start()
            sensor.courier.start()
            sensor.start()
        self.snapshot_courier.start()
        self._status_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._status_thread.is_alive():
            self._status_thread.join(10)
        for cam in self.cameras:
            cam.stop()
        for sensor in self.sensors:
            sensor.stop()
        # A short grace for the gateway's mark and its snapshot acks; what they do not
        # cover stays on disk and is sent at the next start.
        deadline = time.monotonic() + 2.0
        while (self.outbox.total_items or self.snapshot_queue.pending()) and (
            time.monotonic() < deadline
        ):
            devices: list[CameraRunner | SensorRunner] = [*self.cameras, *self.sensors]
            if not any(c.publisher.connected for c in devices):
                break
            time.sleep(0.05)
        for cam in self.cameras:
            cam.courier.stop()
        for sensor in self.sensors:
            sensor.courier.stop()
        self.snapshot_courier.stop()
        for cam in self.cameras:
            cam.publisher.stop(cam.status(__version__, stopping=True))
        for sensor in self.sensors:
            sensor.publisher.stop(sensor.status(__version__, stopping=True))
        self._final = self.summary()
        self.metrics.close()
        self.outbox.close()
        self.snapshot_queue.close()
        if isinstance(self.regions, MosaicDetector):
            self.regions.close()

    def run(
        self, duration: float | None = None, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        """Start, run until ``duration`` seconds pass or ``stop`` is set, stop; a summary."""
        self.start()
        stop = stop or threading.Event()
        end = None if duration is None else time.monotonic() + duration
        try:
            while not stop.is_set():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    break
                stop.wait(1.0 if left is None else min(1.0, left))
        finally:
            self.stop()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        if self._final is not None:
            return self._final
        return {
            "box_id": self.cfg.box_id,
            "events": sum(c.events for c in self.cameras),
            "cameras": {
                c.cam.id: {
                    "events": c.events,
                    "frames_detected": c.processed,
                    "late": c.late,
                    "published": c.publisher.published,
                    "acked": c.publisher.acked,
                    "dropped": c.publisher.dropped,
                    "outbox": c.outbox.stats(c.cam.id).items,
                    "committed_seq": c.courier.committed,
                    "snapshots_pending": self.snapshot_queue.pending(c.cam.id),
                    "error": c.error,
                    "refused": c.publisher.refusals.reason,
                }
                for c in self.cameras
            },
            "sensors": {
                s.cfg.id: {
                    "readings": s.readings,
                    "events": s.events,
                    "read_errors": s.read_errors,
                    "last_value": s.last_value,
                    "published": s.publisher.published,
                    "outbox": s.outbox.stats(s.cfg.id).items,
                    "committed_seq": s.courier.committed,
                    "error": s.error,
                    "refused": s.publisher.refusals.reason,
                }
                for s in self.sensors
            },
        }

    def _status_loop(self) -> None:
        while not self._stop.is_set():
            self.remote.apply_pending()
            devices: list[CameraRunner | SensorRunner] = [*self.cameras, *self.sensors]
            for dev in devices:
                pub = dev.publisher
                if pub.connected and not dev.starting and not pub.refusals.paused(time.monotonic()):
                    try:
                        status = with_refusal(dev.status(__version__), pub.refusals)
                        status = with_push_state(status, self.remote.state.get(status.device_id))
                        pub.publish(status, retain=True, timeout=0.5)
                    except Exception:
                        name = dev.device_id if isinstance(dev, SensorRunner) else dev.cam.id
                        log.exception("device %s: status publish failed", name)
            # Wake early on a (re)connect so a will left by a lost connection is replaced.
            self._wake.wait(self.cfg.status_interval_s)
            self._wake.clear()
