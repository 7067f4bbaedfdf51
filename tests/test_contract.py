"""The MQTT contract: sample v1 payloads keep validating, bad ones are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import contract as c

FIXTURES = Path(__file__).parent / "fixtures" / "contract_v1"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_v1_samples_validate(path: Path) -> None:
    kind = path.stem.split("_")[0]
    msg = c.parse(kind, path.read_bytes())
    assert msg.kind == kind


def test_unknown_optional_fields_are_accepted() -> None:
    data = json.loads((FIXTURES / "event_minimal.json").read_text())
    data["future_field"] = {"nested": True}
    data["v"] = "1.7"
    msg = c.parse("event", json.dumps(data).encode())
    assert msg.kind == "event"


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(v="2.0"), "major 1"),
        (lambda d: d.update(score=1.5), "score"),
        (lambda d: d.update(rule="a\x00b"), "NUL"),
        (lambda d: d.update(ts="2026-11-25T10:00:00"), "UTC offset"),
        (lambda d: d.pop("event_id"), "event_id"),
        (lambda d: d.update(box=[10, 10, 5, 20]), "x2 < x1"),
    ],
)
def test_bad_events_name_the_field(mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((FIXTURES / "event_minimal.json").read_text())
    mutate(data)
    with pytest.raises(c.ContractError) as info:
        c.parse("event", json.dumps(data).encode())
    assert needle in info.value.reason


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b'{"score": NaN}', "NaN"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "expected an object"),
        (b"{" + b" " * (70 * 1024) + b"}", "exceeds"),
    ],
)
def test_bad_payloads(payload: bytes, needle: str) -> None:
    with pytest.raises(c.ContractError) as info:
        c.parse("event", payload)
    assert needle in info.value.reason


def test_nan_is_named_as_such_not_as_malformed_json() -> None:
    # Operators sort dead letters by reason: NaN from a sensor is not a broken encoder.
    with pytest.raises(c.ContractError) as info:
        c.parse("event", b'{"score": NaN}')
    assert info.value.reason == "number NaN (NaN or Infinity) is not valid JSON"


def test_topic_device_must_match_payload() -> None:
    raw = (FIXTURES / "event_minimal.json").read_bytes()
    with pytest.raises(c.ContractError, match="does not match topic device"):
        c.parse("event", raw, device_id="someone-else")


def test_topics_round_trip_and_acl_friendly() -> None:
    t = c.topic("gw/town1", "cam-01", "batch")
    assert t == "gw/town1/v1/dev/cam-01/batch"
    assert c.parse_topic("gw/town1", t) == ("cam-01", c.MessageKind.BATCH)
    assert c.subscription("gw/town1", "event", "g") == "$share/g/gw/town1/v1/dev/+/event"
    with pytest.raises(c.ContractError):
        c.topic("gw", "cam/+", "event")


def test_batch_seq_must_increase() -> None:
    data = json.loads((FIXTURES / "batch_mixed.json").read_text())
    data["items"][1]["seq"] = data["items"][0]["seq"]
    with pytest.raises(c.ContractError, match="does not increase"):
        c.parse("batch", json.dumps(data).encode())


def test_schema_export_covers_every_kind() -> None:
    schemas = c.json_schemas()
    assert {"event", "batch", "status", "ack"} <= schemas.keys()
    assert "event_id" in schemas["event"]["properties"]


def _minimal_plus(raw: bytes) -> bytes:
    """event_minimal.json with ``raw`` (JSON text of key-value pairs) as its first fields."""
    return (FIXTURES / "event_minimal.json").read_bytes().replace(b"{", b"{" + raw + b", ", 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'"note": "a\\u0000b"', "note: NUL character in string"),
        (b'"note": {"deep": ["ok", "\\ud800"]}', "note.deep[1]: lone surrogate in string"),
        (b'"note": [1, 1e400]', "note[1]: number out of range (infinite)"),
        (b'"note": -1e400', "note: number out of range (infinite)"),
    ],
    ids=["NUL", "lone surrogate", "1e400", "-1e400"],
)
def test_unknown_fields_are_checked_too_and_named_by_path(raw: bytes, reason: str) -> None:
    with pytest.raises(c.ContractError) as info:
        c.parse("event", _minimal_plus(raw), device_id="cam-001")
    assert info.value.reason == reason
    assert (info.value.kind, info.value.device_id) == ("event", "cam-001")


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (_minimal_plus(b'"note": "\xed\xa0\x80"'), "not JSON: not UTF-8"),  # CESU-8 surrogate
        (_minimal_plus(b'"note": "\xff"'), "not JSON: not UTF-8"),
        (_minimal_plus(b'"note": 1' + b"0" * 5000), "not JSON: Exceeds the limit (4300 digits)"),
        (_minimal_plus(b'"note": ' + b"[" * 5000 + b"]" * 5000), "not JSON: nested too deeply"),
    ],
    ids=["CESU surrogate bytes", "invalid byte", "5000-digit integer", "5000 nested arrays"],
)
def test_payloads_json_loads_would_choke_on_are_contract_errors(
    payload: bytes, needle: str
) -> None:
    with pytest.raises(c.ContractError) as info:
        c.parse("event", payload)
    assert info.value.reason.startswith(needle), info.value.reason


def test_load_walks_keys_and_values_and_keeps_valid_escapes() -> None:
    assert c.load(b'{"a": ["\\ud83d\\ude00", {"b\\u00e9": 1e308}]}') == {
        "a": ["\U0001f600", {"b\u00e9": 1e308}]
    }
    with pytest.raises(c.ContractError, match=r"^a\[1\]: NUL character in string$"):
        c.load(b'{"a": [1, {"\\u0000": 1}]}')  # a key: named by its object's path
    with pytest.raises(c.ContractError, match="expected an object"):
        c.load(b"[1e400]")


def test_timestamps_beyond_microseconds_round_half_up() -> None:
    data = json.loads((FIXTURES / "event_minimal.json").read_text())
    data["ts"] = "2026-11-25T01:30:05.9999995Z"
    msg = c.parse("event", json.dumps(data).encode())
    assert msg.ts == datetime(2026, 11, 25, 1, 30, 6, tzinfo=UTC)
    data["ts"] = "2026-11-25T01:30:05.12345649Z"
    assert c.parse("event", json.dumps(data).encode()).ts.microsecond == 123456
