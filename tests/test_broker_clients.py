"""The gateway, an edge box and the delivery worker log in to the secured broker over TLS.

A camera's event travels edge -> broker -> gateway -> database with each side on
its own account, and the gateway's ack comes back to that camera only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatch.delivery.retry import Outcome
from dispatch.delivery.senders import PahoPublisher
from edge.config import EdgeConfigError, parse_edge_config
from edge.login import camera_logins, camera_tls
from edge.publisher import Publisher
from gateway.contract import Event, notice_topic
from gateway.db.migrate import migrate
from gateway.process import Gateway
from gridwatch.broker import DELIVERY_USER, GATEWAY_USER
from gridwatch.settings import get_settings
from tests.broker_support import PREFIX, SecuredBroker, connect, secured_broker, wait_until
from tests.gateway.conftest import event_body, scalar

pytestmark = pytest.mark.services
__all__ = ["secured_broker"]

A, B = "cam-demo-1", "cam-demo-2"


def _box(b: SecuredBroker, tmp_path: Path, cameras: list[str], **mqtt: Any) -> Any:
    return parse_edge_config(
        {
            "box_id": "box-1",
            "snapshot_dir": str(tmp_path),
            "mqtt": {"tls_ca": str(b.ca.ca), **mqtt},
            "cameras": [{"id": c, "stream": "rtsp://x/1"} for c in cameras],
        }
    )


def test_an_edge_event_reaches_the_database_and_its_ack_the_camera(
    secured_broker: SecuredBroker, fresh_db: str, tmp_path: Path
) -> None:
    b = secured_broker
    migrate(fresh_db)
    migrated_db = fresh_db
    settings = get_settings(
        database_url=migrated_db,
        mqtt_port=b.tls_port,
        mqtt_username=GATEWAY_USER,
        mqtt_password=b.creds[GATEWAY_USER],
        mqtt_tls_ca=b.ca.ca,
        topic_prefix=PREFIX,
        share_group="sec",
        http_port=0,
    )
    # This box's part of credentials.yaml: its cameras only.
    creds = tmp_path / "box-credentials.yaml"
    creds.write_text(yaml.safe_dump({A: b.creds[A]}))
    cfg = _box(b, tmp_path, [A], credentials_file=str(creds))
    user, password = camera_logins(cfg, settings)[A]
    assert user == A
    watcher = connect(b.tls_port, B, b.creds[B], b.ca)
    watcher.subscribe(f"{PREFIX}/v1/dev/{A}/ack")  # B may not read A's ack
    with Gateway(settings, registry={A: None, B: None}) as gw:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        pub = Publisher(
            A,
            host="127.0.0.1",
            port=b.tls_port,
            prefix=PREFIX,
            username=user,
            password=password,
            tls=camera_tls(cfg, settings, A),
        )
        pub.start()
        try:
            assert pub.wait_connected(10), pub.connect_error
            body = event_body(A, 1)
            assert pub.publish(Event.model_validate(body))
            assert wait_until(
                lambda: (
                    scalar(migrated_db, "SELECT count(*) FROM events WHERE device_id = %s", (A,))
                    == 1
                ),
                timeout=10,
            )
            assert wait_until(lambda: pub.last_ack is not None, timeout=10)
            assert pub.last_ack is not None and pub.last_ack.committed_seq == 1
        finally:
            pub.stop()
    assert watcher.received == []
    watcher.close()


def test_the_delivery_worker_may_publish_notices_and_nothing_else(
    secured_broker: SecuredBroker,
) -> None:
    b = secured_broker
    sender = PahoPublisher(
        "gridwatch-deliver-test",
        "127.0.0.1",
        b.tls_port,
        username=DELIVERY_USER,
        password=b.creds[DELIVERY_USER],
        tls=b.ca,
    ).start()
    try:
        assert sender.wait_connected(10), sender.connect_error
        # Taken: 0, or 16 "no matching subscribers" while no field app listens.
        ok = sender.publish(notice_topic(PREFIX, "P01349"), b"{}", 5)
        assert ok.answer in ("PUBACK 0", "PUBACK 16"), ok
        # MQTT 5 clients hear the refusal: PUBACK 135, not authorised.
        forged = sender.publish(f"{PREFIX}/v1/dev/{A}/ack", b"{}", 5)
        assert forged.answer == "PUBACK 135"
        assert forged.outcome is Outcome.REFUSED
    finally:
        sender.stop()


def test_an_edge_box_names_a_camera_missing_from_its_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "c.yaml"
    creds.write_text(yaml.safe_dump({A: "x"}))
    cfg = parse_edge_config(
        {
            "box_id": "box-1",
            "snapshot_dir": str(tmp_path),
            "mqtt": {"credentials_file": str(creds)},
            "cameras": [{"id": c, "stream": "rtsp://x/1"} for c in (A, B)],
        }
    )
    with pytest.raises(EdgeConfigError, match=rf"no password for camera\(s\) \['{B}'\]"):
        camera_logins(cfg, get_settings())
    with pytest.raises(EdgeConfigError, match=r"credentials_file .* and mqtt.username"):
        parse_edge_config(
            {
                "box_id": "box-1",
                "snapshot_dir": str(tmp_path),
                "mqtt": {"credentials_file": str(creds), "username": "u"},
                "cameras": [{"id": A, "stream": "rtsp://x/1"}],
            }
        )
