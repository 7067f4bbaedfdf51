"""Generated differential tests: the msgspec fast path against the contract.

Thousands of seeded mutations of valid events and batches (the fixtures and
``bench/ingest.py``'s batches): wrong values and types, unknown and duplicate
keys, escapes, raw tokens (NaN, 1e400, invalid UTF-8, deep nesting, huge
integers), batch and envelope changes. For each payload, whatever the fast
path accepts the contract must accept with exactly the same values
(``fastpath_support.check_against_contract``), and ``classify`` must give the
same rows with and without the fast path. ``None`` from the fast path is always
safe (the contract's path follows), so refusals are only counted.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.ingest.classify import Received
from tests.gateway.fastpath_support import (
    BENCH_NAME,
    DEEP,
    HUGE_INT,
    SEED,
    UUID_TEXT,
    bench_batch,
    big_batch,
    check_against_contract,
    classify_both,
    compare_classified,
    fast_parse,
    fixture,
    received,
)


class Raw:
    """A JSON token written as is: NaN, 1e400, escapes json.dumps would not write."""

    __slots__ = ("token",)

    def __init__(self, token: bytes) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"Raw({self.token[:40]!r})"


@dataclass
class Sample:
    """A message under mutation: JSON data, raw tokens by placeholder, and its labels."""

    kind: str
    device_id: str
    doc: Any
    raws: dict[str, bytes] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    indent: int | None = None
    ascii: bool = True
    spaced: bool = True
    prefix: bytes = b""
    suffix: bytes = b""

    def put(self, value: Any) -> Any:
        """``value`` as it goes into ``doc``: a Raw becomes a placeholder string."""
        if isinstance(value, Raw):
            key = f"@@raw{len(self.raws)}@@"
            self.raws[key] = value.token
            return key
        if isinstance(value, list):
            return [self.put(v) for v in value]
        if isinstance(value, dict):
            return {k: self.put(v) for k, v in value.items()}
        return value

    def render(self) -> bytes:
        seps = (", ", ": ") if self.spaced else (",", ":")
        text = json.dumps(self.doc, ensure_ascii=self.ascii, indent=self.indent, separators=seps)
        out = text.encode()
        for key, token in self.raws.items():
            out = out.replace(f'"{key}"'.encode(), token)
        return self.prefix + out + self.suffix


TIMESTAMPS: list[Any] = [
    "2026-11-25T01:30:05Z", "2026-11-25T01:30:05+00:00", "2026-11-25T09:30:05+08:00",
    "2026-11-25T01:30:05.5Z", "2026-11-25T01:30:05.123456-03:30", "2026-11-25T01:30:05-00:00",
    "2026-11-25T01:30:05",  # no offset
    "2026-11-25",  # date only
    1764034205, 1764034205.5, "1764034205",  # unix numbers
    "2026-11-25T01:30:05z", "2026-11-25t01:30:05Z", "2026-11-25 01:30:05Z",
    "2026-11-25T01:30:05.123456789Z", "2026-11-25T01:30:05.9999995Z",
    "2026-11-25T23:59:59.9999999+08:00", "2026-11-25T01:30:05.1234564Z",
    "2026-11-25T01:30:05.0000001Z", "2026-11-25T01:30:05.1200000000Z",
    "2026-11-25T01:30:05+14:00", "2026-11-25T01:30:05-12:00", "2026-11-25T01:30:05+23:59",
    "2026-11-25T01:30:05+24:00", "2026-11-25T01:30:05+0800", "2026-11-25T01:30:05+08",
    "2026-11-25T01:30Z", "2026-11-25T01:30:60Z", "2026-11-25T24:00:00Z",
    "2026-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.9999999Z",
    "2026-11-25T01:30:05,5Z", "2026-11-25T01:30:05.Z", "", "now", None,
]  # fmt: skip
UUIDS: list[Any] = [
    UUID_TEXT, UUID_TEXT.replace("-", ""), "{" + UUID_TEXT + "}", "urn:uuid:" + UUID_TEXT,
    UUID_TEXT.upper(), "00000000-0000-0000-0000-000000000000", UUID_TEXT[:-1],
    UUID_TEXT + "0", UUID_TEXT.replace("-", "", 1) + "-", "not-a-uuid", 12, None,
    " " + UUID_TEXT,
]  # fmt: skip
TEXTS: list[Any] = [
    "a\u0000b", "tab\there", "line\nbreak", "cr\rhere", "back\\slash", 'say "hi"',
    "区域内有人", "😀 emoji", "\u007f", "\u2028", "\ufeff", "\uffff", "x" * 128, "x" * 129,
    "区" * 128, "区" * 129, "😀" * 128, "x" * 1000, "x" * 1001, "", " ", "NaN", "Infinity",
    Raw(b'"lone \\ud800"'), Raw(b'"low \\uDC00"'), Raw(b'"pair \\ud83d\\ude00"'),
    Raw(b'"nul \\u0000"'), Raw(b'"\\u00e9\\/\\b\\f"'), Raw(b'"\\u0041"'), 1, True, [], {},
    Raw(b'"bad \xff byte"'), Raw(b'"cesu \xed\xa0\x80"'), Raw(b'"cut \xe5\x8c"'),
]  # fmt: skip
SEQS: list[Any] = [-1, 0, 1, 2**63 - 1, 2**63, 2**64, 18.0, "18", True, Raw(b"1e1"), Raw(b"-0")]
FLOATS: list[Any] = [
    0, 1, -0.0, 0.5, 5e-324, 1e308, 1.7976931348623157e308, 2**64, "0.5", True,
    Raw(b"1e400"), Raw(b"-1e400"), Raw(b"NaN"), Raw(b"Infinity"), Raw(b"-Infinity"),
    Raw(b"1E-2"), Raw(b"0.5e0"), Raw(b"1" + b"0" * 30), Raw(b"-0"),
]  # fmt: skip
POOLS: dict[str, list[Any]] = {
    "v": ["1.0", "1", "1.5", "1.", "1.0.0", "2.0", "0.9", "", "01.0", " 1.0", 1.0, 1, "1x"],
    "kind": ["event", "batch", "reading", "status", "ack", "Event", "", 1],
    "event_id": UUIDS,
    "seq": SEQS,
    "ts": TIMESTAMPS,
    "start": TIMESTAMPS,
    "end": TIMESTAMPS,
    "severity": [0, 1, 2, 3, 4, 5, 2.0, "2", True, Raw(b"2e0"), Raw(b"-0")],
    "phase": ["start", "update", "end", "START", "", "stop"],
    "score": [0, 1, 0.0, 1.0, 1.0000001, -0.0, -1e-9, 0.5, 5e-324, "0.5", True,
              Raw(b"1e400"), Raw(b"NaN"), Raw(b"1E0"), Raw(b"0.5e0"), Raw(b"-0")],
    "track_id": [0, -1, 7, 2**63 - 1, 2**63, 2**64, 12.0, "12", True],
    "box": [
        [0, 0, 0, 0], [10, 20, 5, 30], [10, 20, 30, 5], [1, 2, 3], [1, 2, 3, 4, 5],
        [1.5, 2.5, 3.5, 4.5], [-1e308, -1e308, 1e308, 1e308], ["1", 2, 3, 4],
        [1, 2, 3, Raw(b"1e400")], [0, 0, 2**64, 2**64], [-0.0, -0.0, 0, 0],
        [0, 0, Raw(b"1" + b"0" * 30), 1], [True, 0, 1, 1], {"x1": 1}, "1,2,3,4", [],
    ],
    "point": [
        {"lon": 180, "lat": 90}, {"lon": 180.0001, "lat": 0}, {"lon": -180, "lat": -90},
        {"lon": -180.0001, "lat": 0}, {"lon": 0, "lat": 90.0001}, {"lon": 1.5},
        {"lon": "1.5", "lat": 2}, {"lon": -0.0, "lat": -0.0}, [119.0, 25.0], "119,25",
        {"lon": 119.0075, "lat": 25.4541, "alt": 12.5},
    ],
    "lon": [180, 180.0, 180.0001, -180, -180.0001, 0, -0.0, "119.0", 1e308, Raw(b"1e400")],
    "lat": [90, 90.0, 90.0001, -90, -90.0001, 0, -0.0, "25.0", Raw(b"-0")],
    "snapshot": [
        {"sha256": "ab" * 32, "ref": "r"}, {"sha256": "ab" * 32}, {"ref": "r"},
        {"sha256": "ab" * 32, "ref": "r", "frame": 0, "width": 1, "height": 16384},
        {"sha256": "ab" * 32, "ref": "r", "codec": "jpeg"}, "ab" * 32, [],
    ],
    "sha256": ["ab" * 32, "AB" * 32, "Ab" * 32, "ab" * 31 + "a", "ab" * 32 + "a",
               "g" + "a" * 63, "", 123, Raw(b'"' + b"\\u0061" * 64 + b'"')],
    "ref": ["", "x" * 1024, "x" * 1025, "区" * 1024, "区" * 1025, "a\u0000b", "a\tb"],
    "frame": [0, -1, 1, 2**63, 2**64, 300.0, "300", True, Raw(b"3e2")],
    "width": [0, 1, 16384, 16385, -1, 768.0, "768", True],
    "height": [0, 1, 16384, 16385, -1, 576.0, "576", True],
    "device_id": ["cam-002", "", "cam 001", "CAM-001", "box-7", BENCH_NAME, 1],
    "value": FLOATS,
    "items": [[], {}, "[]", 1],
}  # fmt: skip
for _name in ("rule", "category", "cls", "zone", "summary", "sensor", "unit"):
    POOLS[_name] = TEXTS
WRONG_TYPES: list[Any] = [
    "0.5", 2.0, True, False, [], {}, [1], {"a": 1}, 2**64, -1, 0, "", "x", -0.0,
    Raw(b"1e400"), Raw(b"NaN"), Raw(b"-Infinity"), Raw(b"-0.0"), Raw(b"1" + b"0" * 30),
    Raw(HUGE_INT), Raw(DEEP[:100] + DEEP[-100:]), Raw(b'"\\u0000"'),
]  # fmt: skip
UNKNOWN_KEYS = ["heading_deg", "x", "extra", "Seq", "snapshot_url", "_v", "kind2", "区"]
UNKNOWN_VALUES: list[Any] = [
    270.5, "jpeg", None, True, [1, 2, {"a": None}], {"nested": {"deep": [1.5]}},
    Raw(b"1e400"), Raw(b"NaN"), Raw(b'"\\ud800"'), Raw(b'"\\u0000"'), "区域", 2**64, -0.0,
    Raw(HUGE_INT), Raw(DEEP), Raw(b'"\xff"'), Raw(b'"\xed\xa0\x80"'), Raw(b"[1, 1e400]"),
]  # fmt: skip
FIELDS: dict[str, list[str]] = {
    "event": ["v", "kind", "event_id", "device_id", "seq", "ts", "rule", "category", "severity",
              "phase", "cls", "score", "track_id", "zone", "box", "point", "start", "end",
              "snapshot", "summary"],
    "reading": ["v", "kind", "device_id", "seq", "ts", "sensor", "value", "unit"],
    "batch": ["v", "kind", "device_id", "seq", "ts", "items"],
    "point": ["lon", "lat"],
    "snapshot": ["sha256", "ref", "frame", "width", "height"],
}  # fmt: skip


def _role(obj: dict[str, Any], sample: Sample) -> str:
    if obj is sample.doc:
        return sample.kind
    if "lon" in obj or "lat" in obj:
        return "point"
    if "sha256" in obj or "ref" in obj:
        return "snapshot"
    return "reading" if obj.get("kind") == "reading" else "event"


def _objects(sample: Sample) -> list[dict[str, Any]]:
    """Every JSON object of the message that a mutation may touch."""
    out: list[dict[str, Any]] = []
    doc = sample.doc
    if not isinstance(doc, dict):
        return out
    out.append(doc)
    items = doc.get("items") if sample.kind == "batch" else [doc]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if item is not doc:
            out.append(item)
        for key in ("point", "snapshot"):
            if isinstance(item.get(key), dict):
                out.append(item[key])
    return out


def _pick(rnd: random.Random, sample: Sample) -> dict[str, Any] | None:
    objs = _objects(sample)
    return rnd.choice(objs) if objs else None


def _pick_field(rnd: random.Random, sample: Sample) -> tuple[dict[str, Any], str] | None:
    """An object of the sample and one of the fields its role defines."""
    obj = _pick(rnd, sample)
    if obj is None:
        return None
    return obj, rnd.choice(FIELDS[_role(obj, sample)])


def _with_key(obj: dict[str, Any], key: str, value: Any, first: bool) -> None:
    """Add ``key`` first or last (object order matters to duplicate keys)."""
    if first:
        rest = dict(obj)
        obj.clear()
        obj[key] = value
        obj.update(rest)
    else:
        obj[key] = value


Mutation = Callable[[random.Random, Sample], str | None]


def m_drop(rnd: random.Random, s: Sample) -> str | None:
    obj = _pick(rnd, s)
    if not obj:
        return None
    key = rnd.choice(list(obj))
    del obj[key]
    return f"drop {key}"


def m_null(rnd: random.Random, s: Sample) -> str | None:
    picked = _pick_field(rnd, s)
    if picked is None:
        return None
    obj, key = picked
    obj[key] = None
    return f"null {key}"


def _set_field(
    rnd: random.Random, s: Sample, values: Callable[[str], list[Any]], op: str
) -> str | None:
    picked = _pick_field(rnd, s)
    if picked is None:
        return None
    obj, key = picked
    value = rnd.choice(values(key))
    obj[key] = s.put(copy.deepcopy(value))
    return f"{key}{op}{value!r}"[:80]


def m_value(rnd: random.Random, s: Sample) -> str | None:
    return _set_field(rnd, s, POOLS.__getitem__, "=")


def m_wrong_type(rnd: random.Random, s: Sample) -> str | None:
    return _set_field(rnd, s, lambda _key: WRONG_TYPES, ":=")


def m_unknown_key(rnd: random.Random, s: Sample) -> str | None:
    obj = _pick(rnd, s)
    if obj is None:
        return None
    key, value = rnd.choice(UNKNOWN_KEYS), rnd.choice(UNKNOWN_VALUES)
    _with_key(obj, key, s.put(copy.deepcopy(value)), rnd.random() < 0.3)
    return f"unknown {key}={value!r}"


def m_duplicate_key(rnd: random.Random, s: Sample) -> str | None:
    obj = _pick(rnd, s)
    if not obj:
        return None
    key = rnd.choice(list(obj))
    pool = POOLS.get(key, WRONG_TYPES)
    value = copy.deepcopy(obj[key] if rnd.random() < 0.3 else rnd.choice(pool))
    placeholder = s.put(Raw(json.dumps(key).encode()))
    _with_key(obj, placeholder, s.put(value), rnd.random() < 0.5)
    return f"duplicate {key}={value!r}"[:80]


def m_escaped_key(rnd: random.Random, s: Sample) -> str | None:
    obj = _pick(rnd, s)
    if not obj:
        return None
    key = rnd.choice(list(obj))
    if not key or key.startswith("@@"):
        return None
    i = rnd.randrange(len(key))
    escaped = key[:i] + f"\\u{ord(key[i]):04x}" + key[i + 1 :]
    value = obj.pop(key)
    obj[s.put(Raw(json.dumps(escaped).replace("\\\\u", "\\u").encode()))] = value
    return f"escaped key {escaped}"


#: Ends around a start of 01:30:05Z: before it, equal to it, after it.
ENDS = ["2026-11-25T01:30:04.999999Z", "2026-11-25T09:30:05+08:00",
        "2026-11-25T09:30:04+08:00", "2026-11-25T01:30:05.000001Z"]  # fmt: skip


def m_end_before_start(rnd: random.Random, s: Sample) -> str | None:
    obj = _pick(rnd, s)
    if obj is None or _role(obj, s) != "event":
        return None
    obj["start"] = "2026-11-25T01:30:05Z"
    obj["end"] = rnd.choice(ENDS)
    return f"start/end {obj['end']}"


def _items(s: Sample) -> list[Any] | None:
    if s.kind != "batch" or not isinstance(s.doc, dict):
        return None
    items = s.doc.get("items")
    return items if isinstance(items, list) and items else None


def m_batch(rnd: random.Random, s: Sample) -> str | None:
    items = _items(s)
    if items is None:
        return None
    doc = s.doc
    op = rnd.choice(["other device", "swap seqs", "repeat seq", "seq+1", "seq-1", "empty",
                     "kind swap", "kind missing", "not an object", "duplicate item"])  # fmt: skip
    if rnd.random() < 0.05:  # rare: a full batch costs a hundred small ones
        op = rnd.choice(["1001 items", "1000 items"])
    item = rnd.choice(items)
    if op == "other device" and isinstance(item, dict):
        item["device_id"] = "cam-002"
    elif op == "swap seqs" and len(items) > 1:
        i, j = rnd.sample(range(len(items)), 2)
        if isinstance(items[i], dict) and isinstance(items[j], dict):
            items[i]["seq"], items[j]["seq"] = items[j].get("seq"), items[i].get("seq")
    elif op == "repeat seq" and len(items) > 1 and isinstance(items[0], dict):
        if isinstance(items[1], dict):
            items[1]["seq"] = items[0].get("seq")
    elif op in ("seq+1", "seq-1") and isinstance(doc.get("seq"), int):
        doc["seq"] += 1 if op == "seq+1" else -1
    elif op == "empty":
        doc["items"] = []
    elif op in ("1001 items", "1000 items"):
        n = 1001 if op == "1001 items" else 1000
        many = json.loads(big_batch(n))
        for it in many["items"]:
            it["device_id"] = doc.get("device_id")
        doc["items"], doc["seq"] = many["items"], many["seq"]
    elif op == "kind swap" and isinstance(item, dict):
        item["kind"] = "event" if item.get("kind") == "reading" else "reading"
    elif op == "kind missing" and isinstance(item, dict):
        item.pop("kind", None)
    elif op == "not an object":
        items[items.index(item)] = rnd.choice([None, 1, "item", []])
    elif op == "duplicate item":
        items.append(copy.deepcopy(item))
    else:
        return None
    return f"batch {op}"


def m_envelope(rnd: random.Random, s: Sample) -> str | None:
    op = rnd.choice(["indent", "compact", "unicode", "bom", "garbage", "whitespace", "list",
                     "nul byte", "kind mismatch"])  # fmt: skip
    if op == "indent":
        s.indent = rnd.choice([0, 2])
    elif op == "compact":
        s.spaced = False
    elif op == "unicode":
        s.ascii = False
    elif op == "bom":
        s.prefix = b"\xef\xbb\xbf"
    elif op == "garbage":
        s.suffix = rnd.choice([b"x", b"}", b",", b"{}", b"\x00"])
    elif op == "whitespace":
        s.prefix, s.suffix = b" \r\n\t", b"\n "
    elif op == "list":
        s.doc = [s.doc]
    elif op == "nul byte":
        s.prefix = b"\x00"
    elif op == "kind mismatch":
        s.kind = "event" if s.kind == "batch" else "batch"
    return f"envelope {op}"


MUTATIONS: list[tuple[Mutation, int]] = [
    (m_drop, 3), (m_null, 3), (m_value, 12), (m_wrong_type, 4), (m_unknown_key, 3),
    (m_duplicate_key, 3), (m_escaped_key, 2), (m_end_before_start, 1), (m_batch, 3),
    (m_envelope, 1),
]  # fmt: skip


def base_messages() -> list[tuple[str, str, Any]]:
    """(kind, topic device, JSON) of the valid messages mutations start from."""
    full = json.loads(fixture("event_full.json"))
    full_both = dict(full, start="2026-11-25T01:30:00Z", end="2026-11-25T09:31:00+08:00")
    bench = json.loads(bench_batch(100, 4))
    mixed = json.loads(fixture("batch_mixed.json"))
    mixed["items"].append(dict(full_both, device_id="box-7", seq=103))
    mixed["items"].append({"kind": "reading", "device_id": "box-7", "seq": 104,
                           "ts": "2026-11-25T01:31:00Z", "sensor": "rain", "value": 0})  # fmt: skip
    mixed["seq"] = 104
    return [
        ("event", "cam-001", json.loads(fixture("event_minimal.json"))),
        ("event", "cam-001", full),
        ("event", "cam-001", full_both),
        ("event", BENCH_NAME, bench["items"][0]),
        ("batch", "box-7", json.loads(fixture("batch_mixed.json"))),
        ("batch", "box-7", mixed),
        ("batch", BENCH_NAME, bench),
    ]


def mutated(rnd: random.Random, count: int) -> Iterator[Sample]:
    bases = base_messages()
    funcs, weights = zip(*MUTATIONS, strict=True)
    for _ in range(count):
        kind, device, doc = rnd.choice(bases)
        s = Sample(kind, device, copy.deepcopy(doc))
        for _ in range(rnd.choice([1, 1, 1, 2, 2, 3])):
            for _attempt in range(5):
                label = rnd.choices(funcs, weights)[0](rnd, s)
                if label is not None:
                    s.labels.append(label)
                    break
        yield s


SAMPLES = 6000


def test_generated_mutations_accepted_by_the_fast_path_match_the_contract() -> None:
    rnd = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for s in mutated(rnd, SAMPLES):
        payload = s.render()
        outcome, diff = check_against_contract(s.kind, payload, s.device_id)
        outcomes[outcome] += 1
        if diff.problems:
            failures.append(f"{s.kind} {s.labels}: {diff.problems[:3]} payload={payload[:300]!r}")
    print(f"\nfast path vs contract over {SAMPLES} mutations: {dict(outcomes)}")
    assert not failures, f"{len(failures)} divergences:\n" + "\n".join(failures[:20])
    # Neither side of the comparison is vacuous.
    assert outcomes["fast"] >= SAMPLES // 10, outcomes
    assert outcomes["rejected"] >= SAMPLES // 10, outcomes
    assert outcomes["fallback"] >= SAMPLES // 50, outcomes


def test_every_base_message_takes_the_fast_path_unchanged() -> None:
    for kind, device, doc in base_messages():
        outcome, diff = check_against_contract(kind, json.dumps(doc).encode(), device)
        assert outcome == "fast" and not diff.problems, (kind, doc, diff.problems)


def test_classify_of_generated_mutations_is_the_same_with_and_without_the_fast_path() -> None:
    rnd = random.Random(SEED + 1)
    messages: list[tuple[Received, bytes]] = []
    for s in mutated(rnd, 1500):
        payload = s.render()
        if fast_parse(s.kind, payload, s.device_id) is not None:  # the rest is one path
            messages.append((received(s.kind, s.device_id, payload), payload))
    assert len(messages) >= 150
    failures = []
    for msg, payload in messages:
        diff = compare_classified(*classify_both([msg]), payload)
        if diff.problems:
            failures.append(f"{diff.problems[:3]} payload={payload[:300]!r}")
    assert not failures, f"{len(failures)} differences:\n" + "\n".join(failures[:20])
    # One call with all of them: groups, readings and seqs in the same order.
    diff = compare_classified(
        *classify_both([m for m, _ in messages]), b"".join(p for _, p in messages)
    )
    assert not diff.problems, diff.problems[:5]
