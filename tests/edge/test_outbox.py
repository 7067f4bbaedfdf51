"""The outbox and the courier's decisions, without a broker: tables and a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.courier import chunks, free_slots, render, should_resend
from edge.outbox import DropCandidate, Outbox, OutboxItem, choose_drops
from edge.synthetic import synthetic_event
from gateway.contract import Batch, Event, MessageKind, parse

R, E = "reading", "event"


@pytest.mark.parametrize(
    ("candidates", "excess", "expected"),
    [
        # Nothing over the cap: nothing goes.
        ([(1, E, 100)], 0, []),
        # Readings go first even when an event is older.
        ([(1, E, 100), (2, R, 100), (3, R, 100)], 150, [2, 3]),
        # Among readings the oldest first, and only as many as needed.
        ([(5, R, 10), (4, R, 10), (9, R, 10)], 15, [4, 5]),
        # Events only once the readings are all gone; oldest event first.
        ([(7, E, 50), (3, E, 50), (8, R, 20)], 60, [8, 3]),
        # Not enough to free: everything offered goes.
        ([(1, R, 10), (2, E, 10)], 1000, [1, 2]),
        # One big item covers it.
        ([(1, R, 5000), (2, R, 10)], 100, [1]),
    ],
)
def test_drop_policy_readings_first_oldest_first_events_last(
    candidates: list[tuple[int, str, int]], excess: int, expected: list[int]
) -> None:
    cands = [DropCandidate(i, k, n) for i, k, n in candidates]  # type: ignore[arg-type]
    assert choose_drops(cands, excess) == expected


@pytest.mark.parametrize(
    ("outstanding", "window", "free"), [(0, 10, 10), (4, 10, 6), (10, 10, 0), (12, 10, 0)]
)
def test_new_items_are_numbered_only_inside_the_window(
    outstanding: int, window: int, free: int
) -> None:
    assert free_slots(outstanding, window) == free


@pytest.mark.parametrize(
    ("outstanding", "idle", "after", "resend"),
    [(0, 100.0, 10.0, False), (5, 9.9, 10.0, False), (5, 10.0, 10.0, True), (1, 60, 10, True)],
)
def test_a_stalled_mark_triggers_a_replay(
    outstanding: int, idle: float, after: float, resend: bool
) -> None:
    assert should_resend(outstanding, idle, after) is resend


def _item(seq: int, kind: str = E, device: str = "cam-1") -> OutboxItem:
    msg = (
        synthetic_event(device, seq)
        if kind == E
        else {
            "v": "1.0",
            "kind": "reading",
            "device_id": device,
            "ts": "2026-11-25T09:00:00+00:00",
            "sensor": "water_level",
            "value": 1.5,
        }
    )
    body = json.dumps(msg)
    return OutboxItem(seq + 100, device, kind, seq, body, len(body))  # type: ignore[arg-type]


def test_chunks_keep_order_and_respect_both_limits() -> None:
    items = [_item(i) for i in range(7)]
    by_count = chunks(items, 3, 10**6)
    assert [[it.seq for it in c] for c in by_count] == [[0, 1, 2], [3, 4, 5], [6]]
    one_each = chunks(items, 100, len(items[0].body) + 41)
    assert [len(c) for c in one_each] == [1] * 7


def test_one_event_travels_as_an_event_and_several_as_a_valid_batch() -> None:
    now = datetime.now(UTC)
    kind, payload = render("cam-1", [_item(4)], now)
    ev = parse(kind, payload, device_id="cam-1")
    assert kind == MessageKind.EVENT and isinstance(ev, Event) and ev.seq == 4
    kind, payload = render("cam-1", [_item(5), _item(6, R), _item(7)], now)
    batch = parse(kind, payload, device_id="cam-1")
    assert kind == MessageKind.BATCH and isinstance(batch, Batch)
    assert [it.seq for it in batch.items] == [5, 6, 7] and batch.seq == 7
    # A lone reading has no topic of its own: it still goes in a batch.
    kind, _ = render("cam-1", [_item(8, R)], now)
    assert kind == MessageKind.BATCH


# --------------------------------------------------------------------------- SQLite


def _reading(device: str, value: float) -> dict[str, object]:
    return {
        "kind": "reading",
        "device_id": device,
        "ts": "2026-11-25T09:00:00+00:00",
        "sensor": "water_level",
        "value": value,
    }


def test_items_and_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    for i in range(5):
        box.put("cam-1", "event", synthetic_event("cam-1", i))
    sent = box.assign("cam-1", 3)
    assert [it.seq for it in sent] == [0, 1, 2]
    box.close()

    again = Outbox(path)
    assert again.total_items == 5
    # What was sent keeps its number for the replay; the rest continue after it.
    assert [it.seq for it in again.sent_after("cam-1", -1, 100)] == [0, 1, 2]
    assert [it.seq for it in again.assign("cam-1", 10)] == [3, 4]
    assert again.device_info("cam-1") == (5, 5, -1)
    again.close()


def test_only_the_gateway_mark_deletes_and_devices_are_separate(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    for dev in ("cam-1", "cam-2"):
        for i in range(4):
            box.put(dev, "event", synthetic_event(dev, i))
        box.assign(dev, 4)
    assert box.acked("cam-1", 1) == 2
    assert [it.seq for it in box.sent_after("cam-1", -1, 10)] == [2, 3]
    assert box.stats("cam-2").items == 4
    # An older mark arriving late changes nothing.
    assert box.acked("cam-1", 0) == 0
    assert box.device_info("cam-1")[2] == 1
    box.close()


def test_full_outbox_drops_readings_then_oldest_events_and_counts_them(tmp_path: Path) -> None:
    snap = tmp_path / "snap.jpg"
    snap.write_bytes(b"x" * 3000)
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=20_000)
    first = box.put("cam-1", "event", synthetic_event("cam-1", 0), snapshot_bytes=3000,
                    snapshot_path=snap)  # fmt: skip
    assert first is not None
    for i in range(20):
        box.put("box-7", "reading", _reading("box-7", i))
    for i in range(1, 200):
        box.put("cam-1", "event", synthetic_event("cam-1", i))
    stats = box.stats()
    assert stats.bytes <= 20_000
    # Every reading went before any event did.
    assert stats.dropped["outbox_reading"] == 20
    assert stats.dropped["outbox_event"] > 0
    assert box.stats("box-7").items == 0
    # The oldest event went first, and its snapshot file with it.
    left = box.assign("cam-1", 1000)
    assert json.loads(left[0].body)["summary"] != "synthetic event 0"
    assert json.loads(left[-1].body)["summary"] == "synthetic event 199"
    assert not snap.exists()
    assert stats.items + stats.dropped["outbox_event"] + 20 == 220
    box.close()


def test_items_sent_and_awaiting_the_mark_are_never_dropped(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=20_000)
    for i in range(100):
        box.put("cam-1", "event", synthetic_event("cam-1", i))
    in_flight = box.assign("cam-1", 100)
    for i in range(100, 400):
        box.put("cam-1", "event", synthetic_event("cam-1", i))
    # Dropping a numbered item would leave a hole the gateway's mark never passes.
    assert [it.seq for it in box.sent_after("cam-1", -1, 1000)] == [it.seq for it in in_flight]
    assert box.stats().dropped["outbox_event"] > 0
    box.close()


def test_a_mark_from_an_earlier_life_moves_new_numbers_past_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.skip_to("cam-1", 501)
    box.put("cam-1", "event", synthetic_event("cam-1", 0))
    assert [it.seq for it in box.assign("cam-1", 5)] == [501]
    box.close()


def test_a_drop_that_needs_more_than_the_first_look_still_takes_readings_first(
    tmp_path: Path,
) -> None:
    # 100 events, then 150 readings: one big event needs the room of about 100 readings,
    # more than the 64 of the first look, and no event may go while a reading is left.
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=10**9)
    for i in range(100):
        box.put("cam-1", "event", synthetic_event("cam-1", i))
    for i in range(150):
        box.put("box-7", "reading", _reading("box-7", i))
    reading_bytes = box.stats("box-7").bytes // 150
    box.max_bytes = box.total_bytes
    big = synthetic_event("cam-1", 100)
    assert box.put("cam-1", "event", big, snapshot_bytes=100 * reading_bytes)
    dropped = box.stats().dropped
    assert set(dropped) == {"outbox_reading"} and 95 <= dropped["outbox_reading"] <= 105
    # The oldest readings went: what is left is the newest, without a hole.
    left = [json.loads(it.body)["value"] for it in box.assign("box-7", 1000)]
    assert left == sorted(left) and len(left) == 150 - dropped["outbox_reading"]
    assert left[-1] == _reading("box-7", 149)["value"]
    box.close()
