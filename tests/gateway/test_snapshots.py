"""Evidence on the gateway: verified on receipt, served within scope, kept while disputed."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest

from gateway.contract import SnapshotAck, parse, topic
from gateway.evidence.retention import run_retention
from gateway.evidence.store import snapshot_path, store
from gateway.ingest.snapshots import SnapshotRefused, verify
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from tests.gateway.auth_support import bearer, token_for
from tests.gateway.conftest import Publisher
from tests.gateway.seed_support import seed_unit

GRID_LEADER_A = "P00003"  # leads V01-G01


def _jpeg(seed: int) -> bytes:
    import cv2

    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def _message(device: str, data: bytes, *, sha256: str | None = None) -> bytes:
    return json.dumps(
        {
            "v": "1.0",
            "kind": "snapshot",
            "device_id": device,
            "ts": datetime.now(UTC).isoformat(),
            "sha256": sha256 or hashlib.sha256(data).hexdigest(),
            "event_id": str(uuid.uuid4()),
            "role": "frame",
            "category": "intrusion",
            "data": base64.b64encode(data).decode(),
        }
    ).encode()


def _tampered(data: bytes) -> bytes:
    """One byte changed in the middle of the JPEG."""
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1 :]


def test_verify_refuses_one_changed_byte_and_names_both_hashes() -> None:
    data = _jpeg(1)
    msg, out = verify(_message("cam-001", data), "cam-001")
    assert out == data and msg.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(SnapshotRefused) as err:
        verify(_message("cam-001", _tampered(data), sha256=msg.sha256), "cam-001")
    assert err.value.sha256 == msg.sha256
    assert msg.sha256 in err.value.reason and "does not match" in err.value.reason


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_gateway_stores_a_snapshot_by_hash_and_refuses_a_tampered_one(
    running_gateway: Gateway, gw_settings: Settings, publisher: Publisher
) -> None:
    good, bad = _jpeg(2), _jpeg(3)
    good_sha, bad_sha = hashlib.sha256(good).hexdigest(), hashlib.sha256(bad).hexdigest()
    acks: list[SnapshotAck] = []
    publisher.client.on_message = lambda c, u, m: acks.append(
        parse("snapshot_ack", m.payload)  # type: ignore[arg-type]
    )
    publisher.client.subscribe(topic(gw_settings.topic_prefix, "cam-001", "snapshot_ack"), qos=1)
    time.sleep(0.2)
    publisher.send("cam-001", "snapshot", _message("cam-001", good))
    publisher.send("cam-001", "snapshot", _message("cam-001", _tampered(bad), sha256=bad_sha))
    _wait(lambda: len(acks) >= 2)
    assert [a.stored for a in acks] == [[good_sha], []]
    assert [a.refused for a in acks] == [[], [bad_sha]]

    root = gw_settings.snapshot_root
    assert snapshot_path(root, good_sha).read_bytes() == good
    assert not snapshot_path(root, bad_sha).exists()
    with psycopg.connect(gw_settings.database_url) as conn:
        stored = [r[0] for r in conn.execute("SELECT sha256 FROM snapshots")]
        letters = conn.execute("SELECT kind, device_id, reason FROM dead_letters").fetchall()
    assert stored == [good_sha]
    assert len(letters) == 1 and letters[0][:2] == ("snapshot", "cam-001")
    assert bad_sha in letters[0][2] and "does not match" in letters[0][2]


def test_the_api_serves_a_snapshot_in_scope_with_its_hash_and_404s_it_outside(
    api: Gateway, gw_settings: Settings
) -> None:
    dsn, prefix = gw_settings.database_url, gw_settings.topic_prefix
    root = gw_settings.snapshot_root
    a = seed_unit(dsn, prefix, "V01-G01-U02", "cam-0001", None, root)
    b = seed_unit(dsn, prefix, "V02-G03-U02", "cam-0013", "police", root)
    headers = bearer(token_for(gw_settings, GRID_LEADER_A, Role.GRID_LEADER))
    with httpx.Client(base_url=api.url, timeout=10, headers=headers) as client:
        mine = client.get(f"/api/v1/snapshots/{a.snapshot_sha256}")
        assert mine.status_code == 200 and mine.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(mine.content).hexdigest() == a.snapshot_sha256
        assert client.get(f"/api/v1/snapshots/{b.snapshot_sha256}").status_code == 404
        assert client.get(f"/api/v1/snapshots/{'0' * 64}").status_code == 404
        detail = client.get(f"/api/v1/cases/{a.case_id}").json()
    [event] = detail["events"]
    assert event["snapshot_sha256"] == a.snapshot_sha256
    assert event["held"] == [a.snapshot_sha256]
    with psycopg.connect(dsn) as conn:
        views = conn.execute(
            "SELECT subject, target FROM audit_log WHERE action = 'snapshot.view'"
        ).fetchall()
    assert views == [(GRID_LEADER_A, f"snapshot:{a.snapshot_sha256}")]


def test_a_snapshot_that_arrives_after_its_event_shows_in_the_case_when_it_does(
    api: Gateway, gw_settings: Settings
) -> None:
    dsn, prefix = gw_settings.database_url, gw_settings.topic_prefix
    a = seed_unit(dsn, prefix, "V01-G01-U02", "cam-0001", None)
    headers = bearer(token_for(gw_settings, GRID_LEADER_A, Role.GRID_LEADER))
    with psycopg.connect(dsn) as conn:
        # The event names a crop the gateway has not received yet.
        crop = hashlib.sha256(b"crop").hexdigest()
        conn.execute(
            "UPDATE events SET extra = jsonb_build_object('crop', jsonb_build_object("
            "'sha256', %s::text, 'ref', 'c.jpg')) WHERE event_id = %s",
            (crop, a.event_id),
        )
    with httpx.Client(base_url=api.url, timeout=10, headers=headers) as client:
        [before] = client.get(f"/api/v1/cases/{a.case_id}").json()["events"]
        assert before["crop_sha256"] == crop and before["held"] == [a.snapshot_sha256]
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "INSERT INTO snapshots (sha256, device_id, event_id, role, nbytes, taken_at)"
                " VALUES (%s, 'cam-0001', %s, 'crop', 4, now())",
                (crop, a.event_id),
            )
        [after] = client.get(f"/api/v1/cases/{a.case_id}").json()["events"]
    assert after["held"] == [a.snapshot_sha256, crop]


def test_retention_deletes_expired_snapshots_except_those_of_open_cases(
    migrated_db: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    old, young = now - timedelta(days=200), now - timedelta(days=10)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("INSERT INTO snapshot_retention VALUES ('noise', interval '7 days')")
        open_case = seed_unit(migrated_db, "gw", "V01-G01-U02", "cam-0001", None, tmp_path)
        closed_case = seed_unit(migrated_db, "gw", "V01-G01-U04", "cam-0002", None, tmp_path)
        conn.execute(
            "UPDATE cases SET status = 'closed', closed_at = now() WHERE id = %s",
            (closed_case.case_id,),
        )
        conn.execute("UPDATE snapshots SET taken_at = %s", (old,))
        loose = {}
        for name, taken, category in [
            ("old", old, "intrusion"),  # past the default 180 days, no case
            ("young", young, "intrusion"),  # within 180 days
            ("noisy", young, "noise"),  # past its category's 7 days
        ]:
            data = name.encode()
            sha = hashlib.sha256(data).hexdigest()
            store(tmp_path, sha, data)
            conn.execute(
                "INSERT INTO snapshots (sha256, device_id, role, category, nbytes, taken_at)"
                " VALUES (%s, 'cam-0003', 'frame', %s, %s, %s)",
                (sha, category, len(data), taken),
            )
            loose[name] = sha
        result = run_retention(conn, tmp_path, now)
        left = {r[0] for r in conn.execute("SELECT sha256 FROM snapshots")}
    deleted = {closed_case.snapshot_sha256, loose["old"], loose["noisy"]}
    assert set(result.deleted) == deleted
    assert result.held == (open_case.snapshot_sha256,)
    assert left == {open_case.snapshot_sha256, loose["young"]}
    for sha in deleted:
        assert not snapshot_path(tmp_path, sha).exists()
    assert snapshot_path(tmp_path, open_case.snapshot_sha256).exists()


def test_an_events_crop_is_kept_alike_by_the_fast_and_the_contract_path() -> None:
    from gateway.ingest.extra import extra_of, fast_extra
    from gateway.ingest.fastpath import parse_event

    crop = {"sha256": "c" * 64, "ref": "cam-001/20261204/e-1-crop.jpg", "width": 40, "height": 90}
    body = {
        "v": "1.0",
        "kind": "event",
        "event_id": str(uuid.uuid4()),
        "device_id": "cam-001",
        "seq": 3,
        "ts": datetime.now(UTC).isoformat(),
        "rule": "intrusion",
        "category": "intrusion",
        "snapshot": {"sha256": "a" * 64, "ref": "cam-001/20261204/e-1.jpg", "frame": 7},
        "crop": crop,
    }
    fast = parse_event(json.dumps(body).encode(), "cam-001")
    assert fast is not None, "the fast path must model the crop, not fall back"
    encoded = fast_extra(fast.items[0])  # type: ignore[arg-type]
    assert encoded is not None
    assert json.loads(encoded) == extra_of(body) == {"snapshot": {"frame": 7}, "crop": crop}


def test_the_retain_command_deletes_what_is_past_retention(
    migrated_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gridwatch.cli import main

    data = b"\xff\xd8old\xff\xd9"
    sha = hashlib.sha256(data).hexdigest()
    store(tmp_path, sha, data)
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "INSERT INTO snapshots (sha256, device_id, role, nbytes, taken_at)"
            " VALUES (%s, 'cam-0003', 'frame', %s, now() - interval '1 year')",
            (sha, len(data)),
        )
    monkeypatch.setenv("GRIDWATCH_SNAPSHOT_DIR", str(tmp_path))
    assert main(["snapshots", "retain", "--dsn", migrated_db]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": 1, "held": 0}
    assert not snapshot_path(tmp_path, sha).exists()
