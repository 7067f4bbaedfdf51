"""Sends the box's evidence JPEGs to the gateway and forgets each once it is stored.

One thread for the whole box. Per camera: what ``SnapshotQueue.due`` gives, at
most ``window`` unanswered at once, as ``snapshot`` messages (the JPEG base64 in
JSON, docs/evidence.md) on that camera's own connection; a ``SnapshotAck``
deletes what the gateway stored and re-queues what it refused. Unanswered sends
are repeated after ``resend_after_s``: the gateway stores a hash once.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from edge.publisher import Publisher
from edge.snapshot_queue import PendingSnapshot, SnapshotQueue
from gateway.contract import CONTRACT_VERSION, MAX_SNAPSHOT_JPEG, MessageKind, SnapshotAck
from gridwatch.worker import StepWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotCourierConfig:
    window: int = 8
    resend_after_s: float = 30.0


def render_snapshot(snap: PendingSnapshot, data: bytes) -> bytes:
    """The ``snapshot`` message for one file's bytes."""
    body: dict[str, object] = {
        "v": CONTRACT_VERSION,
        "kind": "snapshot",
        "device_id": snap.device_id,
        "ts": snap.taken.isoformat(),
        "sha256": snap.sha256,
        "role": snap.role,
        "data": base64.b64encode(data).decode("ascii"),
    }
    if snap.event_id is not None:
        body["event_id"] = str(snap.event_id)
    if snap.category is not None:
        body["category"] = snap.category
    return json.dumps(body, separators=(",", ":")).encode()


class SnapshotCourier(StepWorker):
    def __init__(
        self,
        queue: SnapshotQueue,
        publishers: Mapping[str, Publisher],
        cfg: SnapshotCourierConfig = SnapshotCourierConfig(),
    ) -> None:
        self.queue = queue
        self.publishers = dict(publishers)
        self.cfg = cfg
        self.sent = 0
        self._acks: list[SnapshotAck] = []
        self._lock = threading.Lock()
        super().__init__("snapshot-courier")

    # paho's thread: only hand over.
    def on_ack(self, ack: SnapshotAck) -> None:
        with self._lock:
            self._acks.append(ack)
        self._wake.set()

    def step(self) -> bool:
        """Apply the answers received, then send what is due; True when it sent."""
        with self._lock:
            acks, self._acks = self._acks, []
        for ack in acks:
            self.queue.forget(ack.device_id, ack.stored)
            if ack.refused:
                log.error("%s: gateway refused snapshots %s", ack.device_id, ack.refused)
                self.queue.refused(ack.device_id, ack.refused)
        sent = False
        for device_id, pub in self.publishers.items():
            if not pub.connected:
                continue
            now = time.time()
            due = self.queue.due(
                device_id, now=now, resend_after_s=self.cfg.resend_after_s, window=self.cfg.window
            )
            for snap in due:
                try:
                    data = snap.path.read_bytes()
                except FileNotFoundError:
                    # The event outbox dropped it for space: nothing left to deliver.
                    self.queue.forget(device_id, [snap.sha256], "snapshot_missing")
                    continue
                if len(data) > MAX_SNAPSHOT_JPEG:
                    log.error("%s: snapshot %s is %d bytes", device_id, snap.path, len(data))
                    self.queue.forget(device_id, [snap.sha256], "snapshot_too_large")
                    continue
                if not pub.publish_payload(
                    MessageKind.SNAPSHOT, render_snapshot(snap, data), timeout=1.0
                ):
                    return sent
                self.queue.mark_sent(snap.sha256, now)
                self.sent += 1
                sent = True
        return sent
