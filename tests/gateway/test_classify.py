"""Pure validation of received messages, table-driven: rows to store or a dead letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.ingest.classify import DEAD_LETTER_BYTES, Received, classify

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"
REGISTRY: dict[str, str | None] = {"cam-001": "unit-a", "box-7": None}
NOW = datetime(2026, 11, 25, 1, 30, 30, tzinfo=UTC)


def msg(topic: str, payload: bytes, at: datetime = NOW) -> Received:
    return Received(topic=topic, payload=payload, received_at=at)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("gw/v1/dev/cam-001/event", b"\xff\xfe", "not JSON"),
        ("gw/v1/dev/cam-001/event", b"[1, 2]", "JSON list"),
        ("gw/v1/dev/cam-001/event", b'{"score": Infinity}', "NaN or Infinity"),
        ("gw/v1/dev/cam-404/event", fixture("event_minimal.json"), "unknown device 'cam-404'"),
        ("gw/v1/dev/box-7/event", fixture("event_minimal.json"), "does not match topic"),
        ("gw/v2/dev/cam-001/event", fixture("event_minimal.json"), "major version v2"),
        ("other/v1/dev/cam-001/event", b"{}", "outside prefix"),
        ("gw/v1/dev/cam-001/ack", fixture("ack_mark.json"), "not accepted from devices"),
        ("gw/v1/dev/cam-001/event", b" " * (64 * 1024 + 1), "exceeds"),
    ],
)
def test_bad_messages_become_dead_letters_with_a_reason(
    topic: str, payload: bytes, reason: str
) -> None:
    out = classify([msg(topic, payload)], prefix="gw", registry=REGISTRY)
    assert out.event_count() == 0 and out.readings == () and out.statuses == ()
    (dead,) = out.dead_letters
    assert reason in dead.reason
    assert dead.payload_size == len(payload)
    assert dead.topic == topic


def test_dead_letter_keeps_at_most_64_kib_of_the_payload() -> None:
    big = b"x" * (2 * DEAD_LETTER_BYTES)
    out = classify([msg("gw/v1/dev/cam-001/batch", big)], prefix="gw", registry=REGISTRY)
    (dead,) = out.dead_letters
    assert len(dead.payload) == DEAD_LETTER_BYTES and dead.payload_size == len(big)


def test_event_row_carries_the_unit_point_and_snapshot() -> None:
    out = classify(
        [msg("gw/v1/dev/cam-001/event", fixture("event_full.json"))], prefix="gw", registry=REGISTRY
    )
    (row,) = out.event_rows()
    assert (row.unit_id, row.lon, row.lat) == ("unit-a", 119.0075, 25.4541)
    assert row.snapshot_sha256 and row.snapshot_ref == "snapshots/cam-001/18.jpg"
    assert row.box == [120.5, 80.0, 160.0, 210.25]
    assert row.clock_skewed is False  # 25 s away from NOW
    # What has no column of its own is kept; nothing with a column is repeated.
    assert row.extra is not None and json.loads(row.extra) == {
        "start": "2026-11-25T01:30:05Z",
        "snapshot": {"frame": 300, "width": 768, "height": 576},
    }


def test_unknown_event_fields_from_a_newer_box_are_kept_in_extra() -> None:
    data = json.loads(fixture("event_full.json"))
    data["heading_deg"] = 270.5
    data["snapshot"]["codec"] = "jpeg"
    out = classify(
        [msg("gw/v1/dev/cam-001/event", json.dumps(data).encode())], prefix="gw", registry=REGISTRY
    )
    (row,) = out.event_rows()
    assert json.loads(row.extra or "null") == {
        "start": "2026-11-25T01:30:05Z",
        "heading_deg": 270.5,
        "snapshot": {"frame": 300, "width": 768, "height": 576, "codec": "jpeg"},
    }


def test_an_event_with_only_columns_has_no_extra() -> None:
    data = json.loads(fixture("event_full.json"))
    del data["start"], data["snapshot"]["frame"], data["snapshot"]["width"]
    del data["snapshot"]["height"]
    out = classify(
        [msg("gw/v1/dev/cam-001/event", json.dumps(data).encode())], prefix="gw", registry=REGISTRY
    )
    assert out.event_rows()[0].extra is None


@pytest.mark.parametrize(("offset_s", "skewed"), [(299, False), (301, True), (-3600, True)])
def test_clock_skew_is_flagged_beyond_the_limit(offset_s: int, skewed: bool) -> None:
    body = json.loads(fixture("event_minimal.json"))
    at = datetime.fromisoformat(body["ts"]) + timedelta(seconds=offset_s)
    out = classify(
        [msg("gw/v1/dev/cam-001/event", json.dumps(body).encode(), at)],
        prefix="gw",
        registry=REGISTRY,
        max_skew_s=300,
    )
    assert out.event_rows()[0].clock_skewed is skewed


def test_batch_splits_into_events_and_readings_and_counts_seqs() -> None:
    out = classify(
        [msg("gw/v1/dev/box-7/batch", fixture("batch_mixed.json"))], prefix="gw", registry=REGISTRY
    )
    assert len(out.readings) == 2 and out.event_count() == 1
    assert out.event_rows()[0].unit_id is None
    assert out.seqs_by_device() == {"box-7": [102, 100, 101]}


def test_status_computes_the_clock_offset_when_the_box_does_not_send_it() -> None:
    body = json.loads(fixture("status_online.json"))
    del body["clock_offset_s"]
    at = datetime.fromisoformat(body["ts"]) + timedelta(seconds=90)
    out = classify(
        [msg("gw/v1/dev/cam-001/status", json.dumps(body).encode(), at)],
        prefix="gw",
        registry=REGISTRY,
    )
    assert out.statuses[0].clock_offset_s == -90.0
    assert out.seqs_by_device() == {}  # status does not move the ack mark


def test_one_bad_message_does_not_affect_its_neighbours() -> None:
    out = classify(
        [
            msg("gw/v1/dev/cam-001/event", fixture("event_minimal.json")),
            msg("gw/v1/dev/cam-001/event", b"{"),
            msg("gw/v1/dev/cam-001/event", fixture("event_full.json")),
        ],
        prefix="gw",
        registry=REGISTRY,
    )
    assert [e.seq for e in out.event_rows()] == [17, 18]
    assert len(out.dead_letters) == 1
