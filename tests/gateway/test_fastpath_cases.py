"""The fast path, case by case: what it takes, what it leaves to the contract.

``gateway.ingest.fastpath`` stands in for ``gateway.contract`` on the bulk path
(see ``fastpath_support``; ``test_fastpath_generated`` checks the same rules on
thousands of generated payloads). Here, readable cases:

1. ``classify`` gives the same rows with and without the fast path, and the
   fast path really takes the bulk (``make_batch``, the fixtures).
2. What it refuses still lands: the contract stores it, or dead-letters it with
   its reason. That includes payloads that once raised out of one path or the
   other (invalid UTF-8, lone surrogates, deep nesting, 5,000-digit integers).
3. Timestamps with more than six fraction digits give the same instant on both
   paths (rounded half up on the seventh digit, carries included).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from gateway.contract import ContractError, Event, parse
from gateway.ingest.classify import classify
from gateway.ingest.fastpath import FastEvent, FastReading, parse_batch, parse_event
from tests.gateway.fastpath_support import (
    BENCH_NAME,
    DEEP,
    FIXED_TS,
    HUGE_INT,
    PREFIX,
    REGISTRY,
    UUID_TEXT,
    bench_batch,
    classify_both,
    compare_classified,
    event_plus,
    event_with,
    fast_parse,
    fixture,
    json_extra,
    normalized_extra,
    reading_plus,
    received,
)

# --------------------------------------------------------------------------- classify


def _with_unknown_fields() -> bytes:
    data = json.loads(fixture("event_full.json"))
    data["heading_deg"] = 270.5
    data["detector"] = {"name": "yolox", "build": [1, 2]}
    data["snapshot"]["codec"] = "jpeg"
    data["point"]["alt"] = 12.5
    data["end"] = "2026-11-25T09:31:00+08:00"
    return json.dumps(data).encode()


def _mixed_batch() -> bytes:
    full = json.loads(fixture("event_full.json"))
    items: list[dict[str, Any]] = []
    for seq in range(10, 30):
        if seq % 3:
            items.append({"kind": "reading", "device_id": "cam-001", "seq": seq,
                          "ts": f"2026-11-25T01:{seq:02d}:00+00:00", "sensor": "temp",
                          "value": seq / 7, "unit": "degC" if seq % 2 else None})  # fmt: skip
        else:
            ev = dict(full, seq=seq, event_id=str(UUID(int=seq)), phase="update")
            ev["start"] = "2026-11-25T01:00:00.5Z"
            ev["end"] = f"2026-11-25T09:{seq:02d}:00+08:00"
            ev["snapshot"] = dict(full["snapshot"], frame=seq * 10, width=None)
            items.append(ev)
    batch = {"v": "1.0", "kind": "batch", "device_id": "cam-001", "seq": 29,
             "ts": "2026-11-25T01:30:29Z", "items": items}  # fmt: skip
    return json.dumps(batch).encode()


def _batch_with_unknown_event_field() -> bytes:
    data = json.loads(fixture("batch_mixed.json"))
    data["items"][2]["heading_deg"] = 90
    data["items"][2]["start"] = "2026-11-25T09:30:00+08:00"
    return json.dumps(data).encode()


def _start_end_snapshot() -> bytes:
    data = json.loads(fixture("event_full.json"))
    data.update(start="2026-11-25T01:30:00.123456Z", end="2026-11-25T09:31:00+08:00",
                phase="end")  # fmt: skip
    data["snapshot"].update(frame=0, width=16384, height=1)
    return json.dumps(data).encode()


def _sub_microsecond_times() -> bytes:
    return event_with(ts="2026-11-25T09:30:05.1234567+08:00", start="2026-11-25T01:30:05.9999995Z",
                      end="2026-11-25T23:59:59.9999999+08:00")  # fmt: skip


CLASSIFY_CASES: dict[str, tuple[str, str, bytes, bool]] = {
    # name: (kind, device, payload, whether the fast path takes it)
    "event_minimal": ("event", "cam-001", fixture("event_minimal.json"), True),
    "event_full": ("event", "cam-001", fixture("event_full.json"), True),
    "batch_mixed": ("batch", "box-7", fixture("batch_mixed.json"), True),
    "make_batch": ("batch", BENCH_NAME, bench_batch(1000, 200), True),
    "mixed events and readings": ("batch", "cam-001", _mixed_batch(), True),
    "start end snapshot sizes": ("event", "cam-001", _start_end_snapshot(), True),
    "sub-microsecond ts start end": ("event", "cam-001", _sub_microsecond_times(), True),
    "unknown event fields": ("event", "cam-001", _with_unknown_fields(), False),
    "batch with an unknown event field": (
        "batch", "box-7", _batch_with_unknown_event_field(), False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CLASSIFY_CASES))
def test_classify_gives_the_same_rows_with_and_without_the_fast_path(name: str) -> None:
    kind, device, payload, fast = CLASSIFY_CASES[name]
    assert (fast_parse(kind, payload, device) is not None) is fast
    normal, slow = classify_both([received(kind, device, payload)])
    assert normal.dead_letters == () and (normal.event_count() or normal.readings)
    diff = compare_classified(normal, slow, payload)
    assert not diff.problems, diff.problems


def test_classify_keeps_unknown_fields_in_extra_via_the_contract() -> None:
    payload = _with_unknown_fields()
    assert parse_event(payload, "cam-001") is None
    out = classify([received("event", "cam-001", payload)], prefix=PREFIX, registry=REGISTRY)
    (row,) = out.event_rows()
    assert json_extra(row.extra) == normalized_extra({
        "start": "2026-11-25T01:30:05Z",
        "end": "2026-11-25T01:31:00Z",
        "heading_deg": 270.5,
        "detector": {"name": "yolox", "build": [1, 2]},
        "snapshot": {"frame": 300, "width": 768, "height": 576, "codec": "jpeg"},
        "point": {"alt": 12.5},
    })  # fmt: skip
    assert (row.lon, row.lat, row.snapshot_ref) == (119.0075, 25.4541, "snapshots/cam-001/18.jpg")


# --------------------------------------------------------------------------- what it takes


def test_the_fast_path_takes_make_batch_output() -> None:
    payload = bench_batch(0, 1000)
    fast = parse_batch(payload, BENCH_NAME)
    assert fast is not None and len(fast.items) == 1000
    assert all(type(it) is FastEvent for it in fast.items)
    assert [it.seq for it in fast.items] == list(range(1000))
    assert fast.ts == datetime.fromisoformat(FIXED_TS)
    # Another device's topic, or one item too many, and it is the contract's turn.
    assert parse_batch(payload, "bench-0004") is None
    assert parse_batch(bench_batch(0, 1001), BENCH_NAME) is None


def test_the_fast_path_takes_single_events_and_readings() -> None:
    assert parse_event(fixture("event_full.json"), "cam-001") is not None
    fast = parse_batch(fixture("batch_mixed.json"), "box-7")
    assert fast is not None
    assert [type(it) for it in fast.items] == [FastReading, FastReading, FastEvent]


# --------------------------------------------------------------------------- what it refuses

FULL = fixture("event_full.json")
MIXED = fixture("batch_mixed.json")

REFUSED: dict[str, tuple[str, str, bytes, str | None]] = {
    # name: (kind, device, payload, the contract's reason, or None when it stores it)
    "unknown event field": ("event", "cam-001", event_with(heading_deg=1.5), None),
    "unknown snapshot field": (
        "event", "cam-001", FULL.replace(b'"frame"', b'"codec": "jpeg", "frame"'), None,
    ),
    "unknown reading field": ("batch", "box-7", reading_plus(b', "note": "ok"'), None),
    "NUL in summary": ("event", "cam-001", event_with(summary="a\u0000b"), "NUL character"),
    "NUL in rule": ("event", "cam-001", event_with(rule="\u0000"), "NUL character"),
    "NaN score": ("event", "cam-001", FULL.replace(b"0.84", b"NaN"), "NaN"),
    "NaN in an unknown reading field": ("batch", "box-7", reading_plus(b', "x": NaN'), "NaN"),
    "Infinity value": (
        "batch", "box-7", MIXED.replace(b"1.25", b"-Infinity"), "NaN or Infinity",
    ),
    "NaN only inside a string": ("event", "cam-001", event_with(summary="BaNaNa"), None),
    "surrogate pair escape": (
        "event", "cam-001", FULL.replace(b"person in zone", b"\\ud83d\\ude00 in zone"), None,
    ),
    "version 1 without minor": ("event", "cam-001", event_with(v="1"), None),
    "float seq": ("event", "cam-001", event_with(seq=18.0), None),
    "string score": ("event", "cam-001", event_with(score="0.84"), None),
    "unix ts": ("event", "cam-001", event_with(ts=1764034205), None),
    "braced uuid": ("event", "cam-001", event_with(event_id="{" + UUID_TEXT + "}"), None),
    "track_id 2**63": (
        "event", "cam-001", event_with(track_id=2**63), "event.track_id = 9223372036854775808",
    ),
    "version 2": ("event", "cam-001", event_with(v="2.0"), "not major 1"),
    "end before start": (
        "event", "cam-001", event_with(end="2026-11-25T01:30:04Z"), "is before start",
    ),
    "x2 < x1": ("event", "cam-001", event_with(box=[5, 0, 4, 1]), "x2 < x1"),
    "upper-case sha256": (
        "event", "cam-001", event_with(snapshot={"sha256": "AB" * 32, "ref": "r"}), "sha256",
    ),
    "1001 items": ("batch", BENCH_NAME, bench_batch(0, 1001), "at most 1000"),
    "seq not increasing": (
        "batch", "box-7", MIXED.replace(b'"seq": 101', b'"seq": 100'), "does not increase",
    ),
    "ts rounds past year 9999": (
        "event", "cam-001", event_with(ts="9999-12-31T23:59:59.9999995Z"), "past year 9999",
    ),
}  # fmt: skip

#: Payloads that once raised out of ``parse_event`` / ``parse_batch``, ``classify``
#: or the contract (or that the fast path accepted and the contract could not read).
UNREADABLE: dict[str, tuple[str, str, bytes, str]] = {
    "invalid byte in a known string": (
        "event", "cam-001", FULL.replace(b"person in", b"person \xff in"), "not UTF-8",
    ),
    "invalid byte in zone": ("event", "cam-001", FULL.replace(b"gate", b"\xff"), "not UTF-8"),
    "encoded (CESU) surrogate in a known string": (
        "event", "cam-001", FULL.replace(b"person in", b"\xed\xa0\x80 in"), "not UTF-8",
    ),
    "invalid byte in a reading's sensor": (
        "batch", "box-7", MIXED.replace(b"water_level", b"water\xfe", 1), "not UTF-8",
    ),
    "invalid byte in an unknown reading field": (
        "batch", "box-7", reading_plus(b', "note": "\xff"'), "not UTF-8",
    ),
    "invalid byte in an unknown key": ("batch", "box-7", reading_plus(b', "\xff": 1'), "not UTF-8"),
    "truncated character in an unknown field": (
        "batch", "box-7", reading_plus(b', "note": ["\xe5\x8c"]'), "not UTF-8",
    ),
    "lone surrogate escape in an unknown event field": (
        "event", "cam-001", event_plus(b'"x": "\\ud800"'), "x: lone surrogate in string",
    ),
    "NUL escape in an unknown key": (
        "event", "cam-001", event_plus(b'"a\\u0000": 1'), "NUL character in string",
    ),
    "1e400 in an unknown event field": (
        "event", "cam-001", event_plus(b'"x": [1, 1e400]'), "x[1]: number out of range",
    ),
    "5000-digit integer in an unknown event field": (
        "event", "cam-001", event_plus(b'"x": ' + HUGE_INT), "not JSON: Exceeds the limit",
    ),
    "5000-digit integer in an unknown reading field": (
        "batch", "box-7", reading_plus(b', "x": ' + HUGE_INT), "not JSON: Exceeds the limit",
    ),
    "deep nesting in an unknown event field": (
        "event", "cam-001", event_plus(b'"x": ' + DEEP), "not JSON: nested too deeply",
    ),
    "deep nesting in an unknown reading field": (
        "batch", "box-7", reading_plus(b', "x": ' + DEEP), "not JSON: nested too deeply",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REFUSED) + list(UNREADABLE))
def test_what_the_fast_path_refuses_is_stored_or_dead_lettered_by_the_contract(
    name: str,
) -> None:
    kind, device, payload, reason = REFUSED[name] if name in REFUSED else UNREADABLE[name]
    assert fast_parse(kind, payload, device) is None
    out = classify([received(kind, device, payload)], prefix=PREFIX, registry=REGISTRY)
    if reason is None:
        assert out.dead_letters == ()
        assert out.event_count() + len(out.readings) >= 1
        parse(kind, payload, device_id=device)  # the rows come from the contract
    else:
        assert out.event_count() == 0 and out.readings == ()
        (dead,) = out.dead_letters
        assert reason in dead.reason, dead.reason
        with pytest.raises(ContractError) as exc:
            parse(kind, payload, device_id=device)
        assert exc.value.reason == dead.reason


def test_one_classify_call_dead_letters_the_unreadable_and_stores_the_rest() -> None:
    bad = [received(kind, device, payload) for kind, device, payload, _ in UNREADABLE.values()]
    good = received("event", "cam-001", FULL)
    out = classify([bad[0], good, *bad[1:]], prefix=PREFIX, registry=REGISTRY)
    assert [d.payload_size for d in out.dead_letters] == [len(m.payload) for m in bad]
    assert out.event_count() == 1 and out.readings == ()


# --------------------------------------------------------------------------- timestamps

_EAST8 = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("ts", "instant"),
    [
        ("2026-11-25T01:30:05.9999995Z", datetime(2026, 11, 25, 1, 30, 6, tzinfo=UTC)),
        ("2026-11-25T01:30:05.1234567+08:00",
         datetime(2026, 11, 25, 1, 30, 5, 123457, tzinfo=_EAST8)),
        ("2026-11-25T23:59:59.9999999+08:00", datetime(2026, 11, 26, tzinfo=_EAST8)),
        ("2026-11-25T01:30:05.1234565Z", datetime(2026, 11, 25, 1, 30, 5, 123457, tzinfo=UTC)),
        ("2026-11-25T01:30:05.1234564999Z",
         datetime(2026, 11, 25, 1, 30, 5, 123456, tzinfo=UTC)),
        ("2026-11-25T01:30:05.1200000000Z", datetime(2026, 11, 25, 1, 30, 5, 120000, tzinfo=UTC)),
    ],
    ids=["carry into the second", "offset", "carry into the next day", "half up",
         "below half", "trailing zeros"],
)  # fmt: skip
def test_sub_microsecond_timestamps_give_the_same_instant_on_both_paths(
    ts: str, instant: datetime
) -> None:
    payload = event_with(ts=ts, start=ts, end=ts)
    fast = parse_event(payload, "cam-001")
    contract = parse("event", payload, device_id="cam-001")
    assert isinstance(contract, Event) and fast is not None
    (item,) = fast.items
    assert isinstance(item, FastEvent)
    assert (fast.ts, item.start, item.end) == (instant, instant, instant)
    assert (contract.ts, contract.start, contract.end) == (instant, instant, instant)
    assert fast.ts.utcoffset() == contract.ts.utcoffset() == instant.utcoffset()
    diff = compare_classified(*classify_both([received("event", "cam-001", payload)]), payload)
    assert not diff.problems, diff.problems  # events.extra too
