"""Prometheus metrics of an edge box, on ``--metrics-port`` (``metrics_port`` in the config).

Everything except the detector latency histogram is read from the agent when
scraped, so the loops carry no metric calls. Names:

- ``gridwatch_edge_stream_fps{camera}``: frames/s decoded from the detect stream
- ``gridwatch_edge_frames_detected_total{camera}``: frames through the detector
- ``gridwatch_edge_detect_seconds{camera}``: histogram, gate plus detector per frame
- ``gridwatch_edge_detector_queue_depth``: frames waiting for the shared detector
- ``gridwatch_edge_outbox_items`` / ``_outbox_bytes``: what waits for the gateway
- ``gridwatch_edge_dropped_total{camera,reason}``: late frames, outbox drops, publish drops
- ``gridwatch_edge_online{camera}``: 1 while the stream delivers frames
- ``gridwatch_edge_sensor_value{device,sensor}``: a sensor's last reading
- ``gridwatch_edge_sensor_readings_total{device}`` / ``_sensor_read_errors_total{device}``
- ``gridwatch_edge_refused_total{device}``: messages the gateway refused (its Refusal)
- ``gridwatch_edge_refusal_standing{device,reason}``: 1 while the gateway's last refusal stands
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gridwatch.metrics import MetricsServer

if TYPE_CHECKING:
    from edge.agent import EdgeAgent

LATENCY_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class _AgentCollector:
    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        a = self.agent
        fps = GaugeMetricFamily("gridwatch_edge_stream_fps", "Decoded fps", labels=["camera"])
        online = GaugeMetricFamily("gridwatch_edge_online", "Stream delivers", labels=["camera"])
        done = CounterMetricFamily(
            "gridwatch_edge_frames_detected", "Frames detected", labels=["camera"]
        )
        drops = CounterMetricFamily(
            "gridwatch_edge_dropped", "Dropped frames and messages", labels=["camera", "reason"]
        )
        box = a.outbox_stats()
        for cam in a.cameras:
            cid = cam.cam.id
            stats = cam.source.stats() if cam.source is not None else None
            fps.add_metric([cid], stats.fps if stats is not None and stats.fps else 0.0)
            online.add_metric([cid], 1.0 if stats is not None and stats.online else 0.0)
            done.add_metric([cid], cam.processed)
            drops.add_metric([cid, "late_frames"], cam.late)
            drops.add_metric([cid, "publish"], cam.publisher.dropped)
            for reason, n in box.get(cid, {}).items():
                drops.add_metric([cid, reason], n)
        yield from (fps, online, done, drops)
        depth = GaugeMetricFamily(
            "gridwatch_edge_detector_queue_depth", "Frames waiting for the detector"
        )
        depth.add_metric([], a.queue_depth())
        items = GaugeMetricFamily("gridwatch_edge_outbox_items", "Items awaiting the gateway")
        items.add_metric([], a.outbox_items)
        nbytes = GaugeMetricFamily("gridwatch_edge_outbox_bytes", "Outbox bytes incl. snapshots")
        nbytes.add_metric([], a.outbox_bytes)
        yield from (depth, items, nbytes)
        refused = CounterMetricFamily(
            "gridwatch_edge_refused", "Messages the gateway refused", labels=["device"]
        )
        standing = GaugeMetricFamily(
            "gridwatch_edge_refusal_standing",
            "1 while the gateway's last refusal stands",
            labels=["device", "reason"],
        )
        for device, pub in a.publishers().items():
            refused.add_metric([device], pub.refusals.refused)
            if pub.refusals.reason is not None:
                standing.add_metric([device, pub.refusals.reason[:200]], 1.0)
        yield from (refused, standing)
        value = GaugeMetricFamily(
            "gridwatch_edge_sensor_value", "Last reading", labels=["device", "sensor"]
        )
        readings = CounterMetricFamily(
            "gridwatch_edge_sensor_readings", "Readings taken", labels=["device"]
        )
        errors = CounterMetricFamily(
            "gridwatch_edge_sensor_read_errors", "Failed reads", labels=["device"]
        )
        for sen in a.sensors:
            if sen.last_value is not None:
                value.add_metric([sen.device_id, sen.cfg.sensor], sen.last_value)
            readings.add_metric([sen.device_id], sen.readings)
            errors.add_metric([sen.device_id], sen.read_errors)
        yield from (value, readings, errors)


class EdgeMetrics(MetricsServer):
    """A registry of its own (tests run several agents in one process) and its server."""

    def __init__(self, agent: EdgeAgent) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        super().__init__(CollectorRegistry())
        self.registry.register(_AgentCollector(agent))
        self.detect_seconds = Histogram(
            "gridwatch_edge_detect_seconds",
            "Motion gate plus detector per frame",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        # An edge box is scraped from the gateway's network: every interface by default.
        return super().serve(port, host)
