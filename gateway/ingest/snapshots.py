"""Snapshots from edge boxes: checked against their hash, stored by it, acknowledged.

The consumer's paho thread hands ``snapshot`` messages here (a bounded queue,
apart from the event path: a JPEG is a hundred events' worth of bytes and must
not hold up a batch). This thread verifies each one (``verify``, pure), stores
the bytes content-addressed (``gateway.evidence.store``), records the row, then
acknowledges the MQTT message and answers the box with a ``SnapshotAck``. A
snapshot whose bytes do not hash to its ``sha256`` is refused: dead-lettered
with the reason, logged, and named in the ack's ``refused`` list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import queue
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from gateway.contract import (
    CONTRACT_VERSION,
    ContractError,
    MessageKind,
    SnapshotAck,
    SnapshotUpload,
    dumps,
    parse,
    parse_topic,
    topic,
)
from gateway.evidence.store import EvidenceError, SnapshotStore, as_store
from gateway.ingest.classify import Classified, Received, dead_letter
from gateway.ingest.writer import write
from gridwatch.worker import Worker

log = logging.getLogger(__name__)

#: JPEG files start with the SOI marker.
_JPEG_SOI = b"\xff\xd8"


class SnapshotRefused(ContractError):
    """A well-formed snapshot message whose bytes are not what its hash says."""

    def __init__(self, reason: str, *, sha256: str, device_id: str) -> None:
        super().__init__(reason, kind=MessageKind.SNAPSHOT.value, device_id=device_id)
        self.sha256 = sha256


def verify(payload: bytes, device_id: str) -> tuple[SnapshotUpload, bytes]:
    """The message and its JPEG bytes; ContractError (SnapshotRefused for a hash that
    does not match) naming what is wrong."""
    msg = parse(MessageKind.SNAPSHOT, payload, device_id=device_id)
    assert isinstance(msg, SnapshotUpload)
    try:
        data = base64.b64decode(msg.data, validate=True)
    except binascii.Error as exc:
        raise SnapshotRefused(
            f"snapshot {msg.sha256}: data is not base64 ({exc})",
            sha256=msg.sha256,
            device_id=device_id,
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != msg.sha256:
        raise SnapshotRefused(
            f"snapshot.sha256 {msg.sha256} does not match its {len(data)} bytes, "
            f"which hash to {digest}: altered on the way or on the box",
            sha256=msg.sha256,
            device_id=device_id,
        )
    if not data.startswith(_JPEG_SOI):
        raise SnapshotRefused(
            f"snapshot {msg.sha256}: data is not a JPEG (starts {data[:4].hex()})",
            sha256=msg.sha256,
            device_id=device_id,
        )
    return msg, data


_INSERT = (
    "INSERT INTO snapshots (sha256, device_id, event_id, role, category, nbytes, taken_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING"
)


class SnapshotReceiver(Worker):
    """One thread; ``put`` is called on paho's thread and never blocks."""

    def __init__(
        self,
        *,
        dsn: str,
        root: Path | SnapshotStore,
        prefix: str,
        client: Any,
        generation: Callable[[], int],
        known: Callable[[str], bool] = lambda device_id: True,
        queue_size: int = 64,
    ) -> None:
        #: Whether a device is in the gateway's registry (the consumer's, reloadable).
        self.known = known
        self.dsn = dsn
        #: Where the verified bytes go: a folder or a bucket.
        self.store = as_store(root)
        self.prefix = prefix
        self._client = client
        self._generation = generation
        self._queue: queue.Queue[Received] = queue.Queue(maxsize=queue_size)
        super().__init__("gridwatch-snapshots")
        self.stored = 0
        self.refused = 0

    def put(self, item: Received) -> bool:
        """Hand a message over; False when full (not acknowledged: the broker resends)."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            while not self._stop.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.dsn, autocommit=True)
                    self.handle(conn, item)
                    break
                except psycopg.OperationalError as exc:
                    log.warning("snapshots: database unreachable (%s); retrying", exc)
                    conn = None
                    self._stop.wait(1.0)
                except Exception:
                    # A bug: leave the message unacknowledged (the broker resends it).
                    log.exception("snapshots: handling a message on %s failed", item.topic)
                    break
        if conn is not None:
            conn.close()

    def handle(self, conn: psycopg.Connection, item: Received) -> None:
        """Verify, store, record, acknowledge one message."""
        try:
            device_id, _ = parse_topic(self.prefix, item.topic)
        except ContractError as exc:
            self._dead(conn, item, exc.reason, None)
            return
        if not self.known(device_id):
            self._dead(conn, item, f"unknown device {device_id!r}: not in the town's devices", None)
            return
        try:
            msg, data = verify(item.payload, device_id)
        except SnapshotRefused as exc:
            self.refused += 1
            log.warning("snapshot refused from %s: %s", device_id, exc.reason)
            self._dead(conn, item, exc.reason, device_id)
            self._answer(device_id, refused=[exc.sha256])
            return
        except ContractError as exc:
            log.warning("bad snapshot message from %s: %s", device_id, exc.reason)
            self._dead(conn, item, exc.reason, device_id)
            return
        try:
            self.store.put(msg.sha256, data)
        except EvidenceError as exc:
            # Not the box's fault: no ack, so it is sent again.
            log.error("%s", exc)
            return
        conn.execute(
            _INSERT,
            (
                msg.sha256,
                device_id,
                msg.event_id,
                msg.role,
                msg.category,
                len(data),
                msg.ts,
            ),
        )
        self.stored += 1
        self._ack(item)
        self._answer(device_id, stored=[msg.sha256])

    def _dead(
        self, conn: psycopg.Connection, item: Received, reason: str, device_id: str | None
    ) -> None:
        letter = dead_letter(item, reason, device_id, MessageKind.SNAPSHOT.value)
        write(conn, Classified(dead_letters=(letter,)), copy=False)
        self._ack(item)

    def _ack(self, item: Received) -> None:
        if item.qos > 0 and item.generation == self._generation():
            self._client.ack(item.mid, item.qos)

    def _answer(
        self, device_id: str, *, stored: list[str] | None = None, refused: list[str] | None = None
    ) -> None:
        ack = SnapshotAck.model_validate(
            {
                "v": CONTRACT_VERSION,
                "device_id": device_id,
                "ts": datetime.now(UTC),
                "stored": stored or [],
                "refused": refused or [],
            }
        )
        self._client.publish(
            topic(self.prefix, device_id, MessageKind.SNAPSHOT_ACK), dumps(ack), qos=1
        )
