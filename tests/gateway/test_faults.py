"""Crashes during a 100,000-event stream: the table ends with exactly the events published.

The test starts its own Mosquitto (shipped config) and its own PostgreSQL on free
ports, runs the real ``gridwatch gateway --no-api`` in a subprocess with a stable
client id and session expiry, and meanwhile:

- kills the gateway with SIGKILL 5 times at random points of the stream, once
  while it sleeps inside a transaction (``GRIDWATCH_TEST_COMMIT_DELAY_S``: the
  writer logs "mid-commit" and sleeps just before COMMIT);
- kills the broker with SIGKILL once and starts it again on the same port and
  persistence folder;
- restarts PostgreSQL once.

The publisher is a small edge stand-in: it keeps every event until the
gateway's retained Ack mark covers it and resends from the mark when the mark
stalls (the real outbox is ``edge/outbox.py``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.contract import topic
from gateway.db.migrate import migrate
from gridwatch.services import EmbeddedMosquitto, LocalPostgres, ServiceError, make_workdir

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ["cam-0001", "cam-0002", "cam-0003", "cam-0004"]  # registered in config/devices.yaml
PER_DEVICE = 25_000
BATCH = 100
BASE_TS = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

# Its PostgreSQL and Mosquitto are its own, started from the installed binaries.
pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.services]


def event_id(dev: int, seq: int) -> str:
    return f"{dev:08x}-0000-4000-8000-{seq:012x}"


def batch(dev: int, first: int) -> bytes:
    """Events first..first+BATCH-1 of a device; the same bytes every time they are resent."""
    name = DEVICES[dev]
    last = min(first + BATCH, PER_DEVICE) - 1
    items = [
        {
            "kind": "event",
            "event_id": event_id(dev, s),
            "device_id": name,
            "seq": s,
            # Deterministic: a resent event must have the same (event_id, ts) key.
            "ts": (BASE_TS + timedelta(milliseconds=s)).isoformat(),
            "rule": "intrusion",
            "category": "intrusion",
            "score": 0.7,
        }
        for s in range(first, last + 1)
    ]
    body = {"v": "1.0", "kind": "batch", "device_id": name, "seq": last,
            "ts": datetime.now(UTC).isoformat(), "items": items}  # fmt: skip
    return json.dumps(body).encode()


class EdgeStandIn:
    """Publishes every device's events, keeps them until acked, resends from a stalled mark."""

    WINDOW = 3_000
    STALL_S = 4.0

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.marks = [-1] * len(DEVICES)
        self.moved = [time.monotonic()] * len(DEVICES)
        self.next = [0] * len(DEVICES)
        self.resends = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"fault-edge-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async(host, port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe([(topic(self.prefix, d, "ack"), 1) for d in DEVICES])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        dev = DEVICES.index(msg.topic.split("/")[-2])
        mark = int(json.loads(msg.payload)["committed_seq"])
        with self._lock:
            if mark > self.marks[dev]:
                self.marks[dev] = mark
                self.moved[dev] = time.monotonic()

    def committed(self) -> int:
        return sum(m + 1 for m in self.marks)

    def done(self) -> bool:
        return all(m == PER_DEVICE - 1 for m in self.marks)

    def _run(self) -> None:
        while not self._stop.is_set() and not self.done():
            busy = False
            for dev in range(len(DEVICES)):
                with self._lock:
                    mark, moved = self.marks[dev], self.moved[dev]
                    if self.next[dev] <= mark:
                        self.next[dev] = mark + 1
                    if self.next[dev] > mark + 1 and time.monotonic() - moved > self.STALL_S:
                        # Nothing committed for a while: resend everything above the mark.
                        self.next[dev] = mark + 1
                        self.moved[dev] = time.monotonic()
                        self.resends += 1
                    first = self.next[dev]
                if first >= PER_DEVICE or first - mark > self.WINDOW:
                    continue
                if not self.client.is_connected():
                    break
                self.client.publish(topic(self.prefix, DEVICES[dev], "batch"), batch(dev, first), 1)
                with self._lock:
                    self.next[dev] = first + BATCH
                busy = True
            if not busy:
                time.sleep(0.02)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()


class GatewayProcess:
    """``gridwatch gateway --no-api`` with a stable client id; killed with SIGKILL."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "gateway-0.log"

    def start(self, commit_delay_s: float = 0.0) -> None:
        env = dict(self.env)
        if commit_delay_s:
            env["GRIDWATCH_TEST_COMMIT_DELAY_S"] = str(commit_delay_s)
        self.runs += 1
        self.log = self.workdir / f"gateway-{self.runs}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gridwatch.cli", "gateway", "--no-api",
                 "--client-id", "fault-gw", "--session-expiry", "600"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def services() -> Iterator[tuple[LocalPostgres, EmbeddedMosquitto, Path]]:
    workdir = make_workdir("gridwatch-faults-")
    # Its own top folder: run as root, the cluster belongs to the postgres user.
    pgdir = make_workdir("gridwatch-faults-pg-")
    pg = LocalPostgres(pgdir)
    broker = EmbeddedMosquitto(workdir / "mosquitto")
    try:
        try:
            pg.start()
        except ServiceError as exc:
            pytest.skip(f"cannot start a PostgreSQL of the test's own: {exc}")
        broker.start()
        yield pg, broker, workdir
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(pgdir, ignore_errors=True)


def wait_until(check: Any, timeout: float, what: str, state: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            detail = state() if state else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}; {detail}")
        time.sleep(0.05)


def test_kills_and_restarts_during_a_stream_lose_and_duplicate_nothing(
    services: tuple[LocalPostgres, EmbeddedMosquitto, Path],
) -> None:
    pg, broker, workdir = services
    migrate(pg.dsn)
    rng = random.Random(int(os.environ.get("GRIDWATCH_FAULT_SEED", "5")))
    prefix = f"fault/{uuid.uuid4().hex[:6]}"
    env = dict(
        os.environ,
        GRIDWATCH_DATABASE_URL=pg.dsn,
        GRIDWATCH_MQTT_HOST=broker.host,
        GRIDWATCH_MQTT_PORT=str(broker.port),
        GRIDWATCH_TOPIC_PREFIX=prefix,
        GRIDWATCH_SHARE_GROUP="faults",
        GRIDWATCH_CONFIG_DIR=str(ROOT / "config"),
        PYTHONUNBUFFERED="1",
    )
    total = PER_DEVICE * len(DEVICES)
    # Random points of the stream (fraction committed) for the 7 faults.
    points = sorted(rng.uniform(0.05, 0.85) for _ in range(7))
    faults = ["gateway"] * 5 + ["broker", "postgres"]
    rng.shuffle(faults)
    mid_commit_at = faults.index("gateway")  # the first gateway kill lands mid-commit
    gw = GatewayProcess(env, workdir)
    gw.start()
    edge = EdgeStandIn(broker.host, broker.port, prefix)
    log: list[str] = []

    def state() -> str:
        return (
            f"faults so far {log}; marks {edge.marks}; next {edge.next}; resends {edge.resends};"
            f" gateway log tail:\n{gw.text()[-3000:]}"
        )

    try:
        edge.start()
        last = 0
        for i, (point, fault) in enumerate(zip(points, faults, strict=True)):
            # Some progress between faults, so each lands on a stream that is moving.
            # ...and every fault before the stream's end.
            goal = min(max(point * total, last + 2 * BATCH * len(DEVICES)),
                       total - 2_000 * (len(faults) - i))  # fmt: skip
            wait_until(lambda g=goal: edge.committed() >= g, 240, f"{goal:.0f} acked", state)
            last = edge.committed()
            if fault == "gateway" and i == mid_commit_at:
                gw.kill()
                gw.start(commit_delay_s=1.0)
                wait_until(lambda: "mid-commit" in gw.text(), 60, "a commit in progress", state)
                gw.kill()
                log.append(f"gateway killed mid-commit at {edge.committed()}")
                time.sleep(rng.uniform(0, 0.5))
                gw.start()
            elif fault == "gateway":
                time.sleep(rng.uniform(0, 0.3))
                gw.kill()
                log.append(f"gateway killed at {edge.committed()}")
                time.sleep(rng.uniform(0, 0.5))
                gw.start()
            elif fault == "broker":
                broker.kill()
                log.append(f"broker killed at {edge.committed()}")
                time.sleep(0.5)
                broker.start()
            else:
                pg.restart("fast")
                log.append(f"postgres restarted at {edge.committed()}")
        wait_until(edge.done, 240, "every event acknowledged", state)
    finally:
        edge.close()
        gw.stop()
    print("\n".join(log), f"resends: {edge.resends}", sep="\n")
    assert sum("mid-commit" in line for line in log) == 1
    assert len(log) == 7
    with psycopg.connect(pg.dsn) as conn:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone() or (0, 0)
        expected = {event_id(d, s) for d in range(len(DEVICES)) for s in range(PER_DEVICE)}
        stored = {str(r[0]) for r in conn.execute("SELECT event_id FROM events")}
        queued = conn.execute("SELECT count(*) FROM dispatch_queue").fetchone()
    assert rows == distinct == total
    assert stored == expected
    assert queued == (total,)
