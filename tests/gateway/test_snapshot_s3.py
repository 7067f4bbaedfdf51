"""Evidence in an S3-compatible bucket (GRIDWATCH_SNAPSHOT_STORE=s3), against moto's S3."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from gateway.contract import SnapshotAck, parse, topic
from gateway.evidence.retention import run_retention
from gateway.evidence.s3 import S3Store
from gateway.evidence.store import EvidenceError
from gateway.evidence.stores import open_store
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings, get_settings
from gridwatch.town import Town
from tests.gateway.auth_support import bearer, token_for
from tests.gateway.conftest import REGISTRY, Publisher
from tests.gateway.seed_support import seed_unit
from tests.gateway.test_snapshots import GRID_LEADER_A, _jpeg, _message, _tampered

REGION = "us-east-1"


@pytest.fixture
def bucket() -> Iterator[tuple[Any, str]]:
    """A fresh bucket in moto's S3 (in process: nothing leaves the machine)."""
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    with moto.mock_aws():
        name = f"gw-evidence-{uuid.uuid4().hex[:12]}"
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=name)
        yield client, name


@pytest.fixture
def s3_settings(gw_settings: Settings, bucket: tuple[Any, str]) -> Settings:
    return gw_settings.model_copy(
        update={
            "snapshot_store": "s3",
            "snapshot_s3_bucket": bucket[1],
            "snapshot_s3_region": REGION,
        }
    )


def _keys(client: Any, name: str) -> set[str]:
    listing = client.list_objects_v2(Bucket=name)
    return {o["Key"] for o in listing.get("Contents", [])}


def test_the_bucket_holds_each_snapshot_under_its_hash_and_only_under_it(
    bucket: tuple[Any, str],
) -> None:
    client, name = bucket
    s3 = S3Store(name, prefix="town/snaps", client=client)
    data = _jpeg(7)
    sha = hashlib.sha256(data).hexdigest()
    s3.put(sha, data)
    s3.put(sha, data)  # the same bytes again: one object
    assert _keys(client, name) == {f"town/snaps/{sha[:2]}/{sha[2:4]}/{sha}.jpg"}
    assert s3.get(sha) == data
    with pytest.raises(EvidenceError, match=f"snapshot {'0' * 64}: its bytes hash to {sha}"):
        s3.put("0" * 64, data)
    assert s3.get("1" * 64) is None
    assert s3.remove(sha) and not s3.remove(sha)
    assert _keys(client, name) == set()


def test_settings_refuse_an_s3_store_without_a_bucket() -> None:
    with pytest.raises(ValueError, match="GRIDWATCH_SNAPSHOT_STORE=s3 needs"):
        get_settings(snapshot_store="s3")


def test_with_an_s3_store_the_gateway_keeps_serves_and_retires_snapshots_in_the_bucket(
    s3_settings: Settings, bucket: tuple[Any, str], publisher: Publisher, town: Town
) -> None:
    client, name = bucket
    good, bad = _jpeg(11), _jpeg(12)
    good_sha, bad_sha = hashlib.sha256(good).hexdigest(), hashlib.sha256(bad).hexdigest()
    acks: list[SnapshotAck] = []
    publisher.client.on_message = lambda c, u, m: acks.append(
        parse("snapshot_ack", m.payload)  # type: ignore[arg-type]
    )
    prefix = s3_settings.topic_prefix
    publisher.client.subscribe(topic(prefix, "cam-001", "snapshot_ack"), qos=1)
    dsn = s3_settings.database_url
    with Gateway(s3_settings, town=town, registry=REGISTRY) as gw:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        time.sleep(0.2)
        publisher.send("cam-001", "snapshot", _message("cam-001", good))
        publisher.send("cam-001", "snapshot", _message("cam-001", _tampered(bad), sha256=bad_sha))
        deadline = time.monotonic() + 15
        while len(acks) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(a.stored, a.refused) for a in acks] == [([good_sha], []), ([], [bad_sha])]
        assert _keys(client, name) == {f"snapshots/{good_sha[:2]}/{good_sha[2:4]}/{good_sha}.jpg"}

        # A case's snapshot, in the bucket only, served by the API with its hash.
        seeded = seed_unit(dsn, prefix, "V01-G01-U02", "cam-0001", None, open_store(s3_settings))
        headers = bearer(token_for(s3_settings, GRID_LEADER_A, Role.GRID_LEADER))
        with httpx.Client(base_url=gw.url, timeout=10, headers=headers) as http:
            got = http.get(f"/api/v1/snapshots/{seeded.snapshot_sha256}")
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == seeded.snapshot_sha256

    # Retention: the unheld one goes from the bucket, the open case's stays.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE snapshots SET taken_at = %s", (datetime.now(UTC) - timedelta(days=400),)
        )
        result = run_retention(conn, open_store(s3_settings), datetime.now(UTC))
    assert result.deleted == (good_sha,) and result.held == (seeded.snapshot_sha256,)
    sha = seeded.snapshot_sha256
    assert _keys(client, name) == {f"snapshots/{sha[:2]}/{sha[2:4]}/{sha}.jpg"}
