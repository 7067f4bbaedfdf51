"""Fuzz: thousands of bad messages of every kind, interleaved with valid ones.

Every bad message becomes a dead letter with its reason, the gateway keeps
running, and every valid event is stored.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.contract import MAX_BYTES, topic
from gateway.ingest.classify import Received, classify
from gateway.process import Gateway
from gridwatch.services import EmbeddedMosquitto, make_workdir
from gridwatch.settings import Settings
from tests.gateway.conftest import REGISTRY, event_body, scalar, wait_for

BAD_PER_KIND = 1_700  # x 6 kinds > 10,000
#: Kind of bad message -> a phrase its dead-letter reason must contain.
REASONS = {
    "malformed": "not JSON",
    "schema": "",  # names the field; checked below as "not one of the others"
    "oversize": "exceeds",
    "device": "device '",  # unknown device 'x' | does not match topic device 'y'
    "nan": "NaN",
    "nul": "NUL",
}


def _status(device: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": "1.0",
        "kind": "status",
        "device_id": device,
        "seq": 1,
        "ts": datetime.now(UTC).isoformat(),
        "state": "online",
    }
    body.update(extra)
    return body


def _batch(device: str, seq: int, **item_extra: Any) -> dict[str, Any]:
    return {
        "v": "1.0",
        "kind": "batch",
        "device_id": device,
        "seq": seq,
        "ts": datetime.now(UTC).isoformat(),
        "items": [event_body(device, seq, **item_extra)],
    }


def bad_message(kind: str, rng: random.Random) -> tuple[str, str, bytes]:
    """(device in topic, message kind, payload) of one generated bad message."""
    dev = rng.choice(["cam-001", "cam-002", "box-7"])
    mk = rng.choice(["event", "status", "batch"])
    valid = {"event": event_body(dev, 1), "status": _status(dev), "batch": _batch(dev, 1)}[mk]
    text = json.dumps(valid)
    if kind == "malformed":
        choice = rng.randrange(4)
        if choice == 0:
            return dev, mk, text[: rng.randrange(1, len(text) - 1)].encode()
        if choice == 1:
            return dev, mk, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        if choice == 2:
            return dev, mk, b"\xff\xfe" + text.encode()
        return dev, mk, b""
    if kind == "schema":
        choice = rng.randrange(5)
        body = dict(valid)
        if choice == 0:
            body.pop("ts")
        elif choice == 1:
            body["seq"] = rng.choice([-1, "x", None, 1.5])
        elif choice == 2:
            body["v"] = "2.0"
        elif choice == 3:
            return dev, mk, json.dumps(rng.choice([[1, 2], "text", 42, None])).encode()
        else:
            body["ts"] = "2026-11-25T10:00:00"  # no UTC offset
        return dev, mk, json.dumps(body).encode()
    if kind == "oversize":
        # Valid but for its size: padded with an ignored field past the kind's cap.
        size = MAX_BYTES[mk] + rng.randrange(1, 2048)
        body = dict(valid, pad="x" * size)
        return dev, mk, json.dumps(body).encode()
    if kind == "device":
        if rng.random() < 0.5:
            ghost = f"ghost-{rng.randrange(10_000)}"
            body = {
                "event": event_body(ghost, 1),
                "status": _status(ghost),
                "batch": _batch(ghost, 1),
            }
            return ghost, mk, json.dumps(body[mk]).encode()
        spoofed = "cam-002" if dev != "cam-002" else "cam-001"
        return spoofed, mk, text.encode()
    if kind == "nan":
        token = rng.choice(["NaN", "Infinity", "-Infinity"])
        field = {"event": '"score": 0.5', "status": '"seq": 1', "batch": '"score": 0.5'}[mk]
        if mk == "status":
            return dev, mk, json.dumps(_status(dev, fps=1.0)).replace("1.0}", token + "}").encode()
        return dev, mk, text.replace(field, field.split(":")[0] + ": " + token, 1).encode()
    if kind == "nul":
        key = {"event": "summary", "status": "detail", "batch": "summary"}[mk]
        evil = "a\u0000b" if rng.random() < 0.5 else "\u0000"
        body = (
            _batch(dev, 1, summary=evil)
            if mk == "batch"
            else {
                "event": event_body(dev, 1, **{key: evil}),
                "status": _status(dev, **{key: evil}),
            }[mk]
        )
        return dev, mk, json.dumps(body).encode()
    raise AssertionError(kind)


def _kinds(reasons: list[str]) -> Counter[str]:
    return Counter(
        next((k for k, phrase in REASONS.items() if phrase and phrase in r), "schema")
        for r in reasons
    )


def generate(seed: int = 7) -> tuple[list[tuple[str, str, bytes, str]], list[dict[str, Any]]]:
    """Bad messages (device, kind, payload, fuzz kind) and valid events, shuffled together."""
    rng = random.Random(seed)
    bad = [(*bad_message(k, rng), k) for k in REASONS for _ in range(BAD_PER_KIND)]
    rng.shuffle(bad)
    return bad, []


def test_generated_bad_messages_are_all_rejected_by_classification() -> None:
    """The generator itself: each message fails, for the reason of its kind (no services)."""
    bad, _ = generate()
    now = datetime.now(UTC)
    msgs = [Received(topic("gw", d, k), p, now) for d, k, p, _ in bad]
    rows = classify(msgs, prefix="gw", registry=REGISTRY)
    assert (rows.event_count(), len(rows.readings), len(rows.statuses)) == (0, 0, 0)
    assert len(rows.dead_letters) == len(bad)
    for (_, _, _, kind), dl in zip(bad, rows.dead_letters, strict=True):
        assert REASONS[kind] in dl.reason, (kind, dl.reason)


@pytest.fixture
def own_gateway(gw_settings: Settings) -> Iterator[Gateway]:
    """A gateway on a broker of its own, from the shipped config: the machine's shared
    Mosquitto runs with the defaults (1,000 queued messages per client) and would
    drop part of a burst this size before the gateway sees it."""
    workdir = make_workdir("gridwatch-fuzz-")
    broker = EmbeddedMosquitto(workdir).start()
    settings = gw_settings.model_copy(update={"mqtt_port": broker.port, "mqtt_host": broker.host})
    gw = Gateway(settings, registry=REGISTRY)
    try:
        gw.start()
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        time.sleep(0.2)
        yield gw
    finally:
        gw.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.slow
def test_fuzz_stream_dead_letters_every_bad_message_and_stores_every_valid_one(
    own_gateway: Gateway,
) -> None:
    running_gateway = own_gateway
    settings = running_gateway.settings
    dsn = settings.database_url
    bad, _ = generate()
    rng = random.Random(11)
    valid: list[dict[str, Any]] = []
    stream: list[tuple[str, bytes]] = []
    seq = 0
    for i, (dev, mk, payload, _) in enumerate(bad):
        stream.append((topic(settings.topic_prefix, dev, mk), payload))
        if i % 10 == 0:
            body = event_body(rng.choice(["cam-001", "cam-002"]), seq)
            seq += 1
            valid.append(body)
            stream.append((topic(settings.topic_prefix, body["device_id"], "event"),
                           json.dumps(body).encode()))  # fmt: skip

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"gwtest-fuzz-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    window = threading.Semaphore(500)
    client.on_publish = lambda *a: window.release()
    client.max_inflight_messages_set(500)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        for name, payload in stream:
            assert window.acquire(timeout=30), "broker stopped acknowledging publishes"
            client.publish(name, payload, qos=1)
        for _ in range(500):
            assert window.acquire(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()

    deadline = time.monotonic() + 120
    while scalar(dsn, "SELECT count(*) FROM dead_letters") < len(bad):
        if time.monotonic() > deadline:
            got = scalar(dsn, "SELECT array_agg(reason) FROM dead_letters") or []
            sent = Counter(k for *_, k in bad)
            pytest.fail(f"{len(got)} of {len(bad)} dead letters; sent {sent}; got {_kinds(got)}")
        time.sleep(0.2)
    wait_for(
        lambda: scalar(dsn, "SELECT count(*) FROM events") >= len(valid),
        timeout=60,
        what=f"{len(valid)} valid events",
    )
    assert scalar(dsn, "SELECT count(*) FROM dead_letters") == len(bad)
    assert scalar(dsn, "SELECT count(*) FROM dead_letters WHERE reason = ''") == 0
    stored = scalar(dsn, "SELECT array_agg(event_id::text) FROM events")
    assert sorted(stored) == sorted(v["event_id"] for v in valid)
    reasons = scalar(dsn, "SELECT array_agg(reason) FROM dead_letters")
    found = _kinds(reasons)
    # Every kind reaches the table with its own reason.
    assert found == Counter(dict.fromkeys(REASONS, BAD_PER_KIND))
    assert scalar(dsn, "SELECT max(payload_size) FROM dead_letters") > MAX_BYTES["batch"]
    assert scalar(dsn, "SELECT max(length(payload)) FROM dead_letters") <= 64 * 1024
    consumer = running_gateway.consumer
    assert consumer is not None and consumer.writer_alive and consumer.mqtt_connected
    health = httpx.get(f"{running_gateway.url}/health", timeout=5)
    assert health.status_code == 200
