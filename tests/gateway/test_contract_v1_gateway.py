"""A gateway of this version accepts the v1 messages recorded from the first release's edge.

tests/fixtures/contract_v1/ holds them byte for byte; they are published unchanged (old
timestamps included) to a running gateway over a real broker, as an edge box not yet
upgraded would send them. tests/test_contract.py checks that they parse; this checks that
they are stored, none dead-lettered, and that the acks the gateway sends back carry every
field of the recorded v1 ack, so an old edge can read them.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway import contract as c
from gateway.process import Gateway
from tests.gateway.conftest import Publisher, scalar, wait_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"


def recorded(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_a_gateway_of_this_version_stores_the_recorded_v1_messages_and_acks_them(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    dsn = running_gateway.settings.database_url
    for device in ("cam-001", "box-7"):
        publisher.watch_acks(device)
    sent = {
        "status_online": "cam-001",
        "event_minimal": "cam-001",
        "event_full": "cam-001",
        "batch_mixed": "box-7",
    }
    for name, device in sent.items():
        publisher.send(device, name.split("_")[0], recorded(name))
    event_ids = [
        json.loads(recorded("event_minimal"))["event_id"],
        json.loads(recorded("event_full"))["event_id"],
        *(i["event_id"] for i in json.loads(recorded("batch_mixed"))["items"] if "event_id" in i),
    ]
    wait_for(
        lambda: (
            scalar(dsn, "SELECT count(*) FROM events WHERE event_id::text = ANY(%s)", (event_ids,))
            == len(event_ids)
        ),
        what="the recorded events",
    )
    assert scalar(dsn, "SELECT count(*) FROM dead_letters") == 0
    assert scalar(dsn, "SELECT count(*) FROM readings WHERE device_id = 'box-7'") == 2
    full = json.loads(recorded("event_full"))
    stored = scalar(
        dsn,
        "SELECT json_build_array(device_id, seq, category, severity, zone, snapshot_sha256)"
        " FROM events WHERE event_id = %s",
        (full["event_id"],),
    )
    assert stored == ["cam-001", 18, "intrusion", 2, "gate", full["snapshot"]["sha256"]]
    wait_for(
        lambda: scalar(dsn, "SELECT sw_version FROM device_status WHERE device_id = 'cam-001'"),
        what="the recorded status",
    )

    old_ack = json.loads(recorded("ack_mark"))
    for device, last in (("cam-001", 18), ("box-7", 102)):
        name = c.topic(publisher.prefix, device, "ack")
        wait_for(
            lambda name=name, last=last: (
                name in publisher.received  # type: ignore[misc]
                and json.loads(publisher.received[name])["committed_seq"] == last
            ),
            what=f"{device}'s ack of seq {last}",
        )
        ack = json.loads(publisher.received[name])
        assert set(old_ack) <= set(ack), f"the v1 edge reads {sorted(old_ack)}; got {ack}"
        parsed = c.parse("ack", publisher.received[name])
        assert parsed.kind == "ack" and parsed.device_id == device
        assert ack["v"].split(".")[0] == old_ack["v"].split(".")[0]
