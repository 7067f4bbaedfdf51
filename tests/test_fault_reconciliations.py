"""Faults between the edge box and the database, each ending with a printed reconciliation.

Every test starts its own Mosquitto (and its own PostgreSQL where the fault is the
database's), runs the gateway on it and a synthetic box through a TCP proxy that the
test cuts, and counts both ends: events made, dropped on the box, stored, duplicates,
and the cases the dispatcher opens against the cases the events were built to make
(one per camera and burst; bursts of one camera lie more than the 30-minute merge
window apart). Run them with ``pytest -m faults -s`` to see the reconciliation lines.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from edge.outbox import DISK_RETRY_S, Outbox
from edge.synthetic import event_id
from gateway.ingest.consumer import APPLICATION_NAME
from gridwatch.services import LocalPostgres, ServiceError, make_workdir
from tests.fault_support import DEVICES, fault_stack
from tests.gateway.conftest import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.services]


def _all_connected(box: object) -> bool:
    return all(p.connected for p in box.publishers.values())  # type: ignore[attr-defined]


def test_link_cut_twice_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, fresh_db: str, topic_prefix: str, share_group: str
) -> None:
    per_device = 1500
    with fault_stack(tmp_path, fresh_db, topic_prefix, share_group) as stack:
        box = stack.box(tmp_path / "edge")
        wait_for(lambda: _all_connected(box), 15, "the box connected through the proxy")
        producers = [
            threading.Thread(target=box.produce, args=(d, per_device, 300.0)) for d in DEVICES
        ]
        for t in producers:
            t.start()
        seen_at_cut: list[tuple[int, int]] = []
        for _ in range(2):
            # Mid-stream: some events stored, some sent and not yet passed by the mark.
            wait_for(lambda: stack.stored()[0] >= 300 * (len(seen_at_cut) + 1), 30, "progress")
            seen_at_cut.append((stack.stored()[0], box.outbox.total_items))
            stack.proxy.cut()
            time.sleep(2.0)
            stack.proxy.restore()
        for t in producers:
            t.join(30)
        wait_for(lambda: box.outbox.total_items == 0, 60, "the outbox drained")
        stored_total = per_device * len(DEVICES)
        assert all(0 < stored < stored_total and held > 0 for stored, held in seen_at_cut)
        result = stack.reconcile(
            "link cut", box, dict.fromkeys(DEVICES, per_device), len(DEVICES),
            reconnects=stack.proxy.accepted - len(DEVICES),
        )  # fmt: skip
        stack.assert_no_gaps()
    result.check()
    assert result.dropped_on_box == 0


class FastClock:
    """The box's wall clock, set by the test: an hour passes in a few seconds."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_an_hour_offline_keeps_every_event_on_disk_and_delivers_it_after(
    tmp_path: Path, fresh_db: str, topic_prefix: str, share_group: str
) -> None:
    burst = 200
    clock = FastClock(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=75))
    start = clock.now
    state = tmp_path / "edge"
    with fault_stack(tmp_path, fresh_db, topic_prefix, share_group) as stack:
        # The link is down for the whole hour of the box's clock. (Delivered live, a lone
        # event an hour old would go as an Event message, which the gateway reads as a
        # wrong clock and merges on its receive time.)
        stack.proxy.cut()
        box = stack.box(state, clock=clock)
        for d in DEVICES:
            box.produce(d, burst)
        clock.now = start + timedelta(minutes=35)
        for d in DEVICES:
            box.produce(d, 2 * burst)
        # The box restarts during the outage: what it holds is on disk, not in memory.
        box.stop()
        stack.boxes.remove(box)
        box = stack.box(state, clock=clock)
        clock.now = start + timedelta(minutes=71)
        for d in DEVICES:
            box.produce(d, 3 * burst)
        time.sleep(1.0)
        assert box.outbox.total_items == 3 * burst * len(DEVICES)
        assert stack.stored()[0] == 0
        stack.proxy.restore()  # the outage ends after an hour of the box's clock
        wait_for(lambda: box.outbox.total_items == 0, 60, "the outbox drained")
        with psycopg.connect(fresh_db) as conn:
            span = conn.execute("SELECT max(ts) - min(ts) FROM events").fetchone()
        assert span is not None and span[0] >= timedelta(minutes=60)
        result = stack.reconcile(
            "edge offline 1 h", box, dict.fromkeys(DEVICES, 3 * burst), 3 * len(DEVICES),
            held_on_disk=3 * burst * len(DEVICES), box_restarts=1,
        )  # fmt: skip
        stack.assert_no_gaps()
    result.check()


def _disk_full(outbox: Outbox) -> bool:
    return outbox.disk_cap is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of the test's own (mounting needs root, which CI has)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_the_outbox_disk_filling_up_drops_the_oldest_counted_and_recovers(
    tmp_path: Path, small_disk: Path, fresh_db: str, topic_prefix: str, share_group: str
) -> None:
    offline, after = 3000, 300
    filler = small_disk / "other-files"
    filler.write_bytes(bytes(3 * 1024 * 1024))  # logs, snapshots: the disk is shared
    with fault_stack(tmp_path, fresh_db, topic_prefix, share_group) as stack:
        stack.proxy.cut()  # offline, so the outbox grows until the disk is full
        box = stack.box(small_disk / "edge")
        for n in range(100, offline + 1, 100):
            for d in DEVICES:
                box.produce(d, n)
        outbox = box.outbox
        dropped = sum(outbox.stats().dropped.values())
        assert _disk_full(outbox), "the disk never filled"
        assert dropped > 0 and set(outbox.stats().dropped) == {"disk_event"}
        assert outbox.total_items + dropped == offline * len(DEVICES)
        # Space returns: the box notices, puts its reserve back, and drops nothing more.
        filler.unlink()
        time.sleep(DISK_RETRY_S + 0.2)
        for d in DEVICES:
            box.produce(d, offline + after)
        assert not _disk_full(outbox) and outbox.reserve.exists()
        assert sum(outbox.stats().dropped.values()) == dropped
        stack.proxy.restore()
        wait_for(lambda: outbox.total_items == 0, 60, "the outbox drained")
        result = stack.reconcile(
            "outbox disk full", box, dict.fromkeys(DEVICES, offline + after), len(DEVICES),
            disk="tmpfs 8 MiB", dropped_by="oldest unsent first",
        )  # fmt: skip
        stack.assert_no_gaps()
        # Oldest first: what each camera kept is its newest events, without a hole.
        stored = stack.stored_ids()
        for d in DEVICES:
            kept = [i for i in range(offline + after) if str(event_id(d, i)) in stored]
            assert kept == list(range(kept[0], offline + after)), d
    result.check()
    assert result.dropped_on_box == dropped


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A cluster of the test's own with few connection slots."""
    workdir = make_workdir("gridwatch-slots-pg-")
    pg = LocalPostgres(workdir, options={"max_connections": "10"})
    try:
        try:
            pg.start()
        except ServiceError as exc:
            pytest.fail(f"cannot start a PostgreSQL of the test's own: {exc}")
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _fill_slots(dsn: str, holders: list[psycopg.Connection[tuple[Any, ...]]]) -> None:
    """Open connections until the server refuses one."""
    while len(holders) < 50:
        try:
            holders.append(psycopg.connect(dsn, connect_timeout=5, autocommit=True))
        except psycopg.OperationalError as exc:
            assert "too many clients" in str(exc) or "connection slots" in str(exc), exc
            return
    raise AssertionError("the server never ran out of connection slots")


def _ingest_backends(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
        (APPLICATION_NAME + "%",),
    ).fetchone()
    return int(row[0]) if row else 0


def test_database_out_of_connection_slots_holds_messages_unacknowledged_and_recovers(
    tmp_path: Path, own_postgres: LocalPostgres, topic_prefix: str, share_group: str
) -> None:
    per_device = 600
    dsn = own_postgres.dsn
    with fault_stack(tmp_path, dsn, topic_prefix, share_group) as stack:
        assert stack.gateway.consumer is not None
        stats = stack.gateway.consumer.stats
        box = stack.box(tmp_path / "edge")
        wait_for(lambda: _all_connected(box), 15, "connected")
        for d in DEVICES:
            box.produce(d, per_device // 2)
        wait_for(lambda: box.outbox.total_items == 0, 30, "the first half delivered")
        stored_before = stack.stored()[0]
        holders: list[psycopg.Connection[tuple[Any, ...]]] = []
        try:
            _fill_slots(dsn, holders)
            # Every slot is taken; the gateway's own connections go, and cannot come back.
            for _ in range(5):
                holders[0].execute(
                    # With a timeout it returns once the backend is gone and its slot free.
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                    " WHERE application_name LIKE %s",
                    (APPLICATION_NAME + "%",),
                )
                _fill_slots(dsn, holders)
                time.sleep(1.0)
                if _ingest_backends(holders[0]) == 0:
                    break
            assert _ingest_backends(holders[0]) == 0
            errors_before = stats.db_errors
            for d in DEVICES:
                box.produce(d, per_device)
            time.sleep(4.0)
            # Nothing stored, nothing acknowledged: the box still holds all of it.
            assert stack.stored(holders[0])[0] == stored_before
            assert box.outbox.total_items == len(DEVICES) * (per_device - per_device // 2)
            assert stats.db_errors > errors_before
            held = box.outbox.total_items
        finally:
            for conn in holders:
                conn.close()
        wait_for(lambda: box.outbox.total_items == 0, 60, "the outbox drained")
        result = stack.reconcile(
            "database out of connection slots", box, dict.fromkeys(DEVICES, per_device),
            len(DEVICES), held_unacked=held, slots_held=len(holders),
            db_errors=stats.db_errors,
        )  # fmt: skip
        stack.assert_no_gaps()
    result.check()
