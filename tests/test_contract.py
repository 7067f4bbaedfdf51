"""The MQTT contract: sample v1 payloads keep validating, bad ones are named."""

from __future__ import annotations

import json
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
