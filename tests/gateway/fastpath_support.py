"""Shared by the fast path's tests (``test_fastpath_*.py``): payloads and comparisons.

``gateway.ingest.fastpath`` must be *stricter or equal* to ``gateway.contract``:
whenever ``parse_event`` / ``parse_batch`` return a message, ``contract.parse``
accepts the same payload with the same values, and ``fast_extra`` gives what
``extra_of`` gives from the event's JSON. ``check_against_contract`` checks one
payload that way; ``classify_both`` and ``compare_classified`` do the same for
the rows ``classify`` builds with and without the fast path.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bench.ingest import make_batch
from gateway.contract import AwareDatetime, Batch, ContractError, Event, Reading, parse
from gateway.ingest import classify as classify_module
from gateway.ingest.classify import Classified, EventRow, ReadingRow, Received, classify
from gateway.ingest.extra import extra_of, fast_extra
from gateway.ingest.fastpath import FastEvent, FastMessage, FastReading, parse_batch, parse_event

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"
PREFIX = "gw"
FIXED_TS = "2026-11-25T01:30:30.250000+00:00"
NOW = datetime(2026, 11, 25, 1, 30, 30, tzinfo=UTC)
BENCH_DEV = 3
BENCH_NAME = "bench-0003"
REGISTRY: dict[str, str | None] = {
    "cam-001": "unit-a",
    "cam-002": "unit-b",
    "box-7": None,
    BENCH_NAME: "unit-bench",
}
SEED = 20261125
UUID_TEXT = "5f0c2b8e-1d3a-4e6f-8a9b-0c1d2e3f4a5b"
#: 5,000 nested arrays: deeper than either JSON parser goes.
DEEP = b"[" * 5000 + b"]" * 5000
#: An integer of 5,001 digits: past ``json.loads``' limit of 4,300.
HUGE_INT = b"1" + b"0" * 5000
#: How the contract reads a timestamp (fractions past microseconds rounded half up).
_INSTANT = TypeAdapter(AwareDatetime)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def bench_batch(first: int, count: int, dev: int = BENCH_DEV) -> bytes:
    """``make_batch`` with its send time (now) replaced by a fixed one: deterministic."""
    raw = make_batch(dev, first, count)
    return raw.replace(json.loads(raw)["ts"].encode(), FIXED_TS.encode())


@functools.cache
def big_batch(count: int) -> bytes:
    return bench_batch(0, count)


def event_with(**changes: Any) -> bytes:
    """event_full.json with some fields replaced."""
    data = json.loads(fixture("event_full.json"))
    data.update(changes)
    return json.dumps(data).encode()


def event_plus(raw: bytes) -> bytes:
    """event_full.json with ``raw`` (JSON text of key-value pairs) before its summary."""
    return fixture("event_full.json").replace(b'"summary"', raw + b', "summary"')


def reading_plus(raw: bytes) -> bytes:
    """batch_mixed.json with ``raw`` (JSON text) appended to its first reading."""
    return fixture("batch_mixed.json").replace(b'"unit": "m"}', b'"unit": "m"' + raw + b"}", 1)


def fast_parse(kind: str, payload: bytes, device_id: str) -> FastMessage | None:
    return (parse_batch if kind == "batch" else parse_event)(payload, device_id)


def received(kind: str, device: str, payload: bytes, at: datetime = NOW) -> Received:
    return Received(f"{PREFIX}/v1/dev/{device}/{kind}", payload, at)


# --------------------------------------------------------------------------- comparison


@dataclass
class Diff:
    """Differences between a fast-path value tree and the contract's."""

    payload: bytes
    problems: list[str] = field(default_factory=list)

    def same(self, path: str, fast: Any, contract: Any) -> None:
        if isinstance(fast, datetime) and isinstance(contract, datetime):
            if fast.tzinfo is None or contract.tzinfo is None:
                self.problems.append(f"{path}: naive datetime {fast!r} / {contract!r}")
            elif fast != contract:
                self.problems.append(f"{path}: fast {fast!r} != contract {contract!r}")
        elif isinstance(fast, list | tuple) and isinstance(contract, list | tuple):
            if len(fast) != len(contract):
                self.problems.append(f"{path}: fast {fast!r} != contract {contract!r}")
            for i, (a, b) in enumerate(zip(fast, contract, strict=False)):
                self.same(f"{path}[{i}]", a, b)
        elif isinstance(fast, dict) and isinstance(contract, dict):
            if fast.keys() != contract.keys():
                self.problems.append(f"{path}: keys {sorted(fast)} != {sorted(contract)}")
            for k in fast.keys() & contract.keys():
                self.same(f"{path}.{k}", fast[k], contract[k])
        elif type(fast) is not type(contract) or repr(fast) != repr(contract):
            # repr: -0.0 and 0.0 are equal but not the same value to store.
            self.problems.append(f"{path}: fast {fast!r} != contract {contract!r}")


EVENT_ATTRS = ("v", "event_id", "device_id", "seq", "ts", "rule", "category", "severity",
               "phase", "cls", "score", "track_id", "zone", "box", "start", "end",
               "summary")  # fmt: skip
READING_ATTRS = ("v", "device_id", "seq", "ts", "sensor", "value", "unit")


def item_values(item: Event | Reading | FastEvent | FastReading) -> dict[str, Any]:
    """The values a fast twin and a contract model must share, as plain data."""
    if isinstance(item, Event | FastEvent):
        out = {a: getattr(item, a) for a in EVENT_ATTRS}
        out["box"] = None if item.box is None else list(item.box)
        p, s = item.point, item.snapshot
        out["point"] = None if p is None else {"lon": p.lon, "lat": p.lat}
        out["snapshot"] = None if s is None else {
            "sha256": s.sha256, "ref": s.ref, "frame": s.frame, "width": s.width,
            "height": s.height,
        }  # fmt: skip
        out["kind"] = "event"
        return out
    out = {a: getattr(item, a) for a in READING_ATTRS}
    out["kind"] = "reading"
    return out


def normalized_extra(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """``events.extra`` with start and end as instants (their text form may differ).

    The contract path keeps the text the box sent, the fast path writes the instant
    it parsed: the text is read as the contract reads it (rounded to microseconds).
    """
    if extra is None:
        return None
    out = dict(extra)
    for key in ("start", "end"):
        if isinstance(out.get(key), str):
            out[key] = _INSTANT.validate_python(out[key])
    return out


def json_extra(text: str | bytes | None) -> dict[str, Any] | None:
    return normalized_extra(None if text is None else json.loads(text))


def check_against_contract(kind: str, payload: bytes, device_id: str) -> tuple[str, Diff]:
    """Fast path vs contract for one payload: ("fast" | "fallback" | "rejected", diff)."""
    diff = Diff(payload)
    fast = fast_parse(kind, payload, device_id)
    if fast is None:
        try:
            parse(kind, payload, device_id=device_id)
        except ContractError:
            return "rejected", diff
        return "fallback", diff
    try:
        msg = parse(kind, payload, device_id=device_id)
    except ContractError as exc:
        diff.problems.append(f"fast path accepted, contract rejected: {exc.reason}")
        return "fast", diff
    except Exception as exc:  # the contract must answer with a ContractError or a message
        diff.problems.append(f"fast path accepted, contract raised {exc!r}"[:300])
        return "fast", diff
    data = json.loads(payload)
    if isinstance(msg, Batch):
        items: list[Event | Reading] = list(msg.items)
        raw_items = data["items"]
    else:
        assert isinstance(msg, Event), msg
        items, raw_items = [msg], [data]
    diff.same("ts", fast.ts, msg.ts)
    if len(fast.items) != len(items):
        diff.problems.append(f"{len(fast.items)} fast items, {len(items)} contract items")
        return "fast", diff
    for i, (f_item, c_item, raw) in enumerate(zip(fast.items, items, raw_items, strict=True)):
        diff.same(f"items[{i}]", item_values(f_item), item_values(c_item))
        if isinstance(f_item, FastEvent):
            diff.same(f"items[{i}].extra", json_extra(fast_extra(f_item)),
                      normalized_extra(extra_of(raw)))  # fmt: skip
    return "fast", diff


# --------------------------------------------------------------------------- classify


def _no_fast_path(payload: bytes, device_id: str) -> None:
    return None


def classify_both(messages: list[Received]) -> tuple[Classified, Classified]:
    """``classify`` as it runs, and again with the fast path switched off."""
    normal = classify(messages, prefix=PREFIX, registry=REGISTRY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(classify_module, "parse_batch", _no_fast_path)
        mp.setattr(classify_module, "parse_event", _no_fast_path)
        slow = classify(messages, prefix=PREFIX, registry=REGISTRY)
    return normal, slow


def compare_classified(normal: Classified, slow: Classified, payload: bytes = b"") -> Diff:
    diff = Diff(payload)
    rows_n, rows_s = normal.event_rows(), slow.event_rows()
    if len(rows_n) != len(rows_s):
        diff.problems.append(f"{len(rows_n)} event rows with the fast path, {len(rows_s)} without")
    for i, (a, b) in enumerate(zip(rows_n, rows_s, strict=False)):
        for f in fields(EventRow):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if f.name == "extra":
                va, vb = json_extra(va), json_extra(vb)
            diff.same(f"events[{i}].{f.name}", va, vb)
    if len(normal.readings) != len(slow.readings):
        diff.problems.append(f"{len(normal.readings)} readings != {len(slow.readings)}")
    for i, (ra, rb) in enumerate(zip(normal.readings, slow.readings, strict=False)):
        for f in fields(ReadingRow):
            diff.same(f"readings[{i}].{f.name}", getattr(ra, f.name), getattr(rb, f.name))
    dead_n = [(d.topic, d.device_id, d.kind, d.reason, d.payload) for d in normal.dead_letters]
    dead_s = [(d.topic, d.device_id, d.kind, d.reason, d.payload) for d in slow.dead_letters]
    if dead_n != dead_s:
        diff.problems.append(f"dead letters {dead_n} != {dead_s}"[:500])
    diff.same("seqs_by_device", normal.seqs_by_device(), slow.seqs_by_device())
    return diff
