"""Gateway and dispatcher together: an event published twice is stored once and opens one case."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gateway.process import Gateway
from gridwatch.town import Town
from tests.gateway.conftest import Publisher, dispatch_all, scalar, wait_for

CONFIG = Path(__file__).parent.parent.parent / "config"


def test_duplicate_publish_becomes_one_stored_event_and_one_case(
    town_gateway: Gateway, publisher: Publisher, town: Town
) -> None:
    areas = town.hierarchy.areas
    device_id = min(
        d
        for d, dev in town.devices.items()
        if dev.kind == "camera" and areas[dev.unit].leader is not None
    )
    unit = town.devices[device_id].unit
    leader = areas[unit].leader
    assert leader is not None
    body = {
        "v": "1.0",
        "kind": "event",
        "event_id": str(uuid.uuid4()),
        "device_id": device_id,
        "seq": 1,
        "ts": datetime.now(UTC).isoformat(),
        "rule": "intrusion",
        "category": "intrusion",
        "score": 0.8,
    }
    for _ in range(2):
        publisher.send(device_id, "event", json.dumps(body).encode())
    dsn = town_gateway.settings.database_url
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM events"), what="the event")
    wait_for(
        lambda: town_gateway.consumer and town_gateway.consumer.stats.received >= 2,
        what="both deliveries",
    )
    wait_for(
        lambda: town_gateway.consumer and town_gateway.consumer.stats.duplicate_events >= 1,
        what="the duplicate to be committed",
    )
    assert scalar(dsn, "SELECT count(*) FROM events") == 1
    assert scalar(dsn, "SELECT count(*) FROM dispatch_queue") == 1

    cases = dispatch_all(dsn, town, town_gateway.settings)
    assert [c[:2] for c in cases] == [(unit, leader.person_id)]
    assert scalar(dsn, "SELECT count(*) FROM dispatch_queue") == 0
