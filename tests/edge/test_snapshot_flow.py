"""The box forgets a snapshot file once, and only once, the gateway holds it.

Through the real broker and gateway: the edge's snapshot queue and courier send
N snapshots (500 by default, a few seconds; GRIDWATCH_SNAPSHOT_FLOW_N=10000 runs the
issue's 10,000, under a minute here),
the gateway verifies and stores each and answers, and the box deletes each file
on that answer. A camera whose connection is down keeps its files.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from edge.publisher import Publisher
from edge.snapshot import write_snapshot
from edge.snapshot_courier import SnapshotCourier, SnapshotCourierConfig
from edge.snapshot_queue import MAX_TRIES, PendingSnapshot, SnapshotQueue
from gateway.db.migrate import migrate
from gateway.evidence.store import snapshot_path
from gateway.process import Gateway
from gridwatch.services import free_port
from gridwatch.settings import Settings, get_settings

N = int(os.environ.get("GRIDWATCH_SNAPSHOT_FLOW_N", "500"))
SENT, OFFLINE = "cam-s1", "cam-s2"


@pytest.fixture
def gateway_settings(
    fresh_db: str, mqtt_broker: tuple[str, int], topic_prefix: str, share_group: str, tmp_path: Path
) -> Settings:
    migrate(fresh_db)
    host, port = mqtt_broker
    return get_settings(
        database_url=fresh_db,
        mqtt_host=host,
        mqtt_port=port,
        topic_prefix=topic_prefix,
        share_group=share_group,
        http_port=free_port(),
        snapshot_dir=tmp_path / "gateway",
    )


@pytest.fixture
def gateway(gateway_settings: Settings) -> Iterator[Gateway]:
    with Gateway(gateway_settings, registry={SENT: None, OFFLINE: None}, api=False) as gw:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        time.sleep(0.2)
        yield gw


def _snapshots(
    queue: SnapshotQueue, folder: Path, device: str, n: int, seed: int = 0
) -> list[PendingSnapshot]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        event_id = uuid.uuid4()
        now = datetime.now(UTC)
        image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        snap = write_snapshot(folder, device, image, event_id=event_id, seq=i, ts=now)
        pending = PendingSnapshot(
            snap.sha256, device, folder / snap.ref, now, event_id, "frame", "intrusion"
        )
        queue.add(pending)
        out.append(pending)
    return out


def test_after_n_acknowledged_snapshots_the_folder_holds_only_unacknowledged_files(
    gateway: Gateway, gateway_settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "edge"
    queue = SnapshotQueue(tmp_path / "state" / "snapshots.sqlite3", synchronous="NORMAL")
    s = gateway_settings
    pub = Publisher(
        SENT,
        host=s.mqtt_host,
        port=s.mqtt_port,
        prefix=s.topic_prefix,
        client_id=f"{SENT}-{uuid.uuid4().hex[:6]}",
    )
    # OFFLINE has no connection in this courier: its snapshots are never acknowledged.
    courier = SnapshotCourier(queue, {SENT: pub}, SnapshotCourierConfig(window=32))
    pub.on_snapshot_ack = courier.on_ack
    sent = _snapshots(queue, folder, SENT, N)
    kept = _snapshots(queue, folder, OFFLINE, 5, seed=1)
    pub.start()
    courier.start()
    try:
        deadline = time.monotonic() + 120 + N / 50
        while queue.pending(SENT) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert queue.pending(SENT) == 0, f"{queue.pending(SENT)} of {N} never acknowledged"
    finally:
        courier.stop()
        pub.stop()
        queue.close()
    on_disk = {p for p in folder.rglob("*") if p.is_file()}
    assert on_disk == {k.path for k in kept}
    with psycopg.connect(s.database_url) as conn:
        stored = {r[0] for r in conn.execute("SELECT sha256 FROM snapshots")}
    assert stored == {p.sha256 for p in sent}
    # What the gateway holds is what the box wrote, byte for byte.
    sample = sent[N // 2]
    data = snapshot_path(s.snapshot_root, sample.sha256).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sample.sha256


def test_a_refused_snapshot_is_sent_again_then_dropped_and_counted(tmp_path: Path) -> None:
    queue = SnapshotQueue(tmp_path / "q.sqlite3", synchronous="NORMAL")
    [snap] = _snapshots(queue, tmp_path / "edge", SENT, 1)
    for attempt in range(1, MAX_TRIES + 1):
        [due] = queue.due(SENT, now=time.time(), resend_after_s=30, window=8)
        assert due.sha256 == snap.sha256
        queue.mark_sent(snap.sha256, time.time())
        # Sent and unanswered: not due again before resend_after_s.
        assert queue.due(SENT, now=time.time(), resend_after_s=30, window=8) == []
        dropped = queue.refused(SENT, [snap.sha256])
        assert dropped == (1 if attempt == MAX_TRIES else 0)
        assert snap.path.exists() == (attempt < MAX_TRIES)
    assert queue.pending(SENT) == 0
    assert queue.dropped(SENT) == {"snapshot_refused": 1}
    queue.close()
