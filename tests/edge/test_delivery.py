"""The outbox end to end: a real Mosquitto and gateway started here, faults injected here.

Each test owns its broker (killed or stopped by the test), its database and its
topic prefix; events come from the synthetic box, which goes through the same
outbox, courier and publisher as the cameras.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from edge.courier import CourierConfig
from edge.synthetic import SyntheticBox, event_id
from gateway.db.migrate import migrate
from gateway.process import Gateway
from gridwatch.services import EmbeddedMosquitto
from tests.fault_support import broker_settings
from tests.gateway.conftest import wait_for

DEVICES = ["edge-a", "edge-b"]


@dataclass
class Stack:
    broker: EmbeddedMosquitto
    gateway: Gateway
    dsn: str
    prefix: str

    def restart_broker(self) -> None:
        # Same port and persistence folder, as a restarted service would have.
        self.broker.stop()  # reaps a killed one and closes its pipe
        self.broker = EmbeddedMosquitto(self.broker.workdir, port=self.broker.port).start()

    def stored(self, device: str) -> tuple[int, int, int, int | None, int | None]:
        """(rows, distinct event ids, distinct seqs, min seq, max seq) of a device."""
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT event_id), count(DISTINCT seq), min(seq),"
                " max(seq) FROM events WHERE device_id = %s",
                (device,),
            ).fetchone()
        assert row is not None
        return (row[0], row[1], row[2], row[3], row[4])

    def event_ids(self, device: str) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "SELECT event_id::text FROM events WHERE device_id = %s", (device,)
            ).fetchall()
        return {r[0] for r in rows}


@pytest.fixture
def stack(tmp_path: Path, fresh_db: str, topic_prefix: str, share_group: str) -> Iterator[Stack]:
    migrate(fresh_db)
    broker = EmbeddedMosquitto(tmp_path / "mosquitto").start()
    settings = broker_settings(fresh_db, broker, topic_prefix, share_group)
    gw = Gateway(settings, registry={d: None for d in DEVICES}, api=False)
    gw.start()
    s = Stack(broker, gw, fresh_db, topic_prefix)
    try:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        yield s
    finally:
        gw.stop()
        s.broker.stop()


def _box(stack: Stack, state: Path, **kw: Any) -> SyntheticBox:
    return SyntheticBox(
        state, DEVICES, host=stack.broker.host, port=stack.broker.port, prefix=stack.prefix, **kw
    ).start()


def _assert_complete(stack: Stack, device: str, count: int) -> None:
    """Every event stored exactly once, and the device's seqs 0..count-1 without a gap."""
    assert stack.stored(device) == (count, count, count, 0, count - 1)
    assert stack.event_ids(device) == {str(event_id(device, i)) for i in range(count)}


@pytest.mark.slow
@pytest.mark.faults
def test_broker_stopped_while_10000_events_are_made_all_arrive_once_without_gaps(
    stack: Stack, tmp_path: Path
) -> None:
    box = _box(stack, tmp_path / "edge")
    try:
        for dev in DEVICES:
            pub = box.publishers[dev]
            wait_for(lambda: pub.connected, 10, f"{dev} connected")  # noqa: B023
            box.produce(dev, 100)
        wait_for(lambda: box.outbox.total_items == 0, 30, "the first 200 committed")
        stack.broker.stop()
        wait_for(lambda: not any(p.connected for p in box.publishers.values()), 10, "offline")
        for dev in DEVICES:
            box.produce(dev, 5000)
        # All of it waits on disk while the broker is away.
        assert box.outbox.total_items == 2 * 4900
        stack.restart_broker()
        wait_for(lambda: box.outbox.total_items == 0, 120, "the outbox to drain")
        # Live acks also tell the box how far its clock is from the gateway's.
        offset = box.publishers[DEVICES[0]].clock_offset_s
        assert offset is not None and abs(offset) < 2.0
    finally:
        box.stop()
    for dev in DEVICES:
        _assert_complete(stack, dev, 5000)


@pytest.mark.slow
@pytest.mark.faults
def test_broker_killed_mid_stream_the_unsaved_events_are_replayed_from_the_outbox(
    stack: Stack, tmp_path: Path
) -> None:
    box = _box(stack, tmp_path / "edge", courier=CourierConfig(resend_after_s=3.0))
    dev = DEVICES[0]
    try:
        wait_for(lambda: box.publishers[dev].connected, 10, "connected")
        produced = 0
        # Keep publishing until the broker has taken messages the gateway has not
        # committed yet, then kill it: those are in the broker's memory only.
        while True:
            box.produce(dev, produced + 50)
            produced += 50
            pub_acked = box.publishers[dev].acked
            if box.outbox.outstanding(dev) > 0 and pub_acked > 0 and produced >= 500:
                break
            assert produced < 20_000, "never caught the gateway behind the broker"
        outstanding_at_kill = box.outbox.outstanding(dev)
        stack.broker.kill()
        assert outstanding_at_kill > 0
        box.produce(dev, produced + 500)
        produced += 500
        stack.restart_broker()
        wait_for(lambda: box.outbox.total_items == 0, 60, "the outbox to drain")
    finally:
        box.stop()
    _assert_complete(stack, dev, produced)


@pytest.mark.slow
@pytest.mark.faults
def test_edge_process_killed_mid_stream_and_restarted_loses_and_repeats_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    dev = DEVICES[1]
    count = 3000
    cmd = [
        sys.executable,
        "-m",
        "edge.synthetic",
        "--state",
        str(tmp_path / "edge"),
        "--device",
        dev,
        "--count",
        str(count),
        "--rate",
        "600",
        "--host",
        stack.broker.host,
        "--port",
        str(stack.broker.port),
        "--prefix",
        stack.prefix,
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: stack.stored(dev)[0] >= 500, 30, "500 events stored")
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
        for f in (first.stdout, first.stderr):
            if f is not None:
                f.close()
    stored_at_kill = stack.stored(dev)[0]
    assert 0 < stored_at_kill < count
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    _assert_complete(stack, dev, count)
