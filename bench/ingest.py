"""Sustained ingest: batches over MQTT into committed rows, nothing lost or duplicated.

    python bench/ingest.py [--seconds 60] [--warmup 10] [--consumers 2] [--publishers 2]

Starts its own Mosquitto from the shipped ``config/mosquitto/mosquitto.conf`` and
a fresh database on the local PostgreSQL (``--admin-dsn``; dropped afterwards)
with every migration, so the production indexes, the dispatch queue
(``dispatch_batches``) and the live NOTIFY trigger are all there; durable
settings (the script prints them and refuses to run with ``synchronous_commit``
off or unlogged tables).

Publishers run in separate processes, each for its own devices, and send the
contract's bulk kind (``Batch`` of ``--batch`` events). Like an edge box, each
keeps at most ``--window`` items per device beyond the gateway's retained Ack
mark. Consumer processes (``--consumers``, the real ``gateway.ingest`` Consumer)
share one subscription. The rate is measured from the committed marks over
``--seconds`` of steady state after ``--warmup``; then the publishers stop, the
backlog drains and the table is checked against what was sent.

``baseline_events_per_s``: the same event rows stored one INSERT and one COMMIT
per message (the naive bridge), measured afterwards in the same run.
``copy_ceiling_events_per_s`` (``bench/_copy_ceiling.py``): the same rows, serialized
before the clock starts, COPYed straight into the same tables over ``--consumers``
connections, in transactions the size of a consumer's (its ``batch_bytes``): the
database's own limit here; ``share_of_copy_ceiling`` is ``events_per_s`` over it
(target >= 0.6). ``box_ref`` (``bench/_boxref.py``) is timed at the start, with the
``--load`` processes running. The last line is JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridwatch.domain import CATEGORIES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref, start_load
from bench._copy_ceiling import ceiling, serialized
from bench._pg import bench_database, parse_args

EVENT = (
    '{{"kind":"event","event_id":"{eid}","device_id":"{dev}","seq":{seq},"ts":"{ts}",'
    '"rule":"intrusion","category":"{cat}","severity":2,"cls":"person","score":0.81,'
    '"track_id":{seq},"box":[10.0,20.0,110.0,220.0],"point":{{"lon":119.0075,"lat":25.4541}},'
    '"snapshot":{{"sha256":"{sha}","ref":"snapshots/{dev}/{seq}.jpg"}}}}'
)
#: What a consumer takes into one transaction at most (its ConsumerConfig.batch_bytes).
CONSUMER_BATCH_BYTES = 2_500_000
#: The synthetic events cycle through the first five of the domain's categories.
BENCH_CATEGORIES = CATEGORIES[:5]


def device_name(i: int) -> str:
    return f"bench-{i:04d}"


def event_id(dev: int, seq: int) -> str:
    return f"{dev:08x}-0000-4000-8000-{seq:012x}"


@functools.cache
def _item_template(dev: int) -> str:
    """One device's event as a %-template: only seq, ids and category change per event.

    Publishers must not eat the box's CPU: str.format of the whole event cost
    about 3.6 us per event, this about a third of that.
    """
    name = device_name(dev)
    filled = EVENT.format(
        eid=f"{dev:08x}-0000-4000-8000-@EID@", dev=name, seq="@SEQ@", ts="@TS@", cat="@CAT@",
        sha="ab" * 32,
    )  # fmt: skip
    tpl = filled.replace("%", "%%").replace("@EID@", "%012x").replace("@SEQ@", "%d")
    return tpl.replace("@CAT@", "%s")


def make_batch(dev: int, first: int, count: int) -> bytes:
    name = device_name(dev)
    ts = datetime.now(UTC).isoformat()
    tpl = _item_template(dev).replace("@TS@", ts)
    # Argument order follows the template: event_id, seq, category, track_id, ref path.
    items = ",".join(
        tpl % (s, s, BENCH_CATEGORIES[s % 5], s, s) for s in range(first, first + count)
    )
    last = first + count - 1
    return (
        f'{{"v":"1.0","kind":"batch","device_id":"{name}","seq":{last},"ts":"{ts}",'
        f'"items":[{items}]}}'
    ).encode()


# ---------------------------------------------------------------------- processes


def publisher(
    host: str, port: int, prefix: str, devices: list[int], batch: int, window: int,
    stop: Any, sent: Any,
) -> None:  # fmt: skip
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from gateway.contract import topic

    marks = {d: -1 for d in devices}
    next_seq = {d: 0 for d in devices}
    inflight = threading.Semaphore(64)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )  # fmt: skip
    by_topic = {topic(prefix, device_name(d), "ack"): d for d in devices}

    def on_message(c: Any, u: Any, msg: Any) -> None:
        d = by_topic.get(msg.topic)
        if d is not None:
            marks[d] = max(marks[d], int(json.loads(msg.payload)["committed_seq"]))

    client.on_message = on_message
    client.on_publish = lambda *a: inflight.release()
    client.max_inflight_messages_set(64)
    client.connect(host, port)
    client.subscribe([(t, 1) for t in by_topic])
    client.loop_start()
    try:
        while not stop.is_set():
            busy = False
            for d in devices:
                if next_seq[d] - marks[d] > window:
                    continue
                busy = True
                inflight.acquire()
                client.publish(
                    topic(prefix, device_name(d), "batch"), make_batch(d, next_seq[d], batch), qos=1
                )
                next_seq[d] += batch
            if not busy:
                time.sleep(0.005)
        # Every publish acknowledged by the broker before counting it as sent.
        for _ in range(64):
            inflight.acquire(timeout=30)
    finally:
        for d in devices:
            sent[d] = next_seq[d]
        client.disconnect()
        client.loop_stop()


def consumer(
    dsn: str, host: str, port: int, prefix: str, group: str, client_id: str,
    registry: dict[str, str | None], stop: Any, out: Any,
) -> None:  # fmt: skip
    import logging

    from gateway.ingest.consumer import Consumer, ConsumerConfig

    logging.basicConfig(level=logging.WARNING)
    config = ConsumerConfig(
        dsn=dsn, mqtt_host=host, mqtt_port=port, topic_prefix=prefix, share_group=group,
        client_id=client_id, session_expiry_s=300, batch_size=200,
        batch_bytes=CONSUMER_BATCH_BYTES,
    )  # fmt: skip
    c = Consumer(config, registry)
    c.start()
    stop.wait()
    c.stop(30)
    out[client_id] = c.stats.as_dict()


# ---------------------------------------------------------------------- measuring


def committed_items(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT coalesce(sum(committed_seq + 1), 0) FROM ingest_marks")
        return int(row.fetchone()[0])  # type: ignore[index]


def durable_settings(dsn: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        out: dict[str, Any] = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("synchronous_commit", "fsync", "full_page_writes", "wal_level",
                         "server_version", "shared_buffers")
        }  # fmt: skip
        row = conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 'u'").fetchone()
        out["unlogged_tables"] = int(row[0]) if row else 0
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename IN ('events', 'dispatch_batches')"
        ).fetchone()
        out["indexes_on_events_and_dispatch_batches"] = int(row[0]) if row else 0
    return out


def backend_pids(dsn: str) -> list[int]:
    """The consumers' PostgreSQL backends (their connections' ``application_name``)."""
    import psycopg

    from gateway.ingest.consumer import APPLICATION_NAME

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APPLICATION_NAME,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of these processes, all threads, from /proc (0 where unreadable)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or a database on another machine
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def baseline(dsn: str, seconds: float) -> float:
    """One INSERT and one COMMIT per message, as a naive MQTT-to-SQL bridge does."""
    import psycopg

    from gateway.ingest.classify import Received, classify
    from gateway.ingest.writer import INSERT_EVENT

    dev = 9999
    name = device_name(dev)
    stored, seq, t0 = 0, 0, time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.perf_counter() - t0 < seconds:
            raw = make_batch(dev, seq, 100)
            rows = classify(
                [Received(f"b/v1/dev/{name}/batch", raw, datetime.now(UTC))],
                prefix="b", registry={name: None},
            )  # fmt: skip
            for ev in rows.event_rows():
                with conn.transaction():
                    conn.execute(INSERT_EVENT, tuple(getattr(ev, f.name) for f in fields(ev)))
                stored += 1
            seq += 100
    return stored / (time.perf_counter() - t0)


def copy_ceiling(args: argparse.Namespace) -> list[Any]:
    """The copy ceiling's transactions, serialized now (before its clock starts)."""
    if args.ceiling_events <= 0:
        return []
    size = len(make_batch(0, 0, args.batch))
    per_tx = max(1, CONSUMER_BATCH_BYTES // size)  # messages in one consumer transaction
    return serialized(make_batch, device_name, args.ceiling_events, args.batch, per_tx, 20_000)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="steady state measured")
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--consumers", type=int, default=2)
    p.add_argument("--publishers", type=int, default=2)
    p.add_argument("--devices", type=int, default=40)
    p.add_argument("--batch", type=int, default=1000, help="events per Batch message (<= 1000)")
    p.add_argument("--window", type=int, default=6000, help="items per device beyond its mark")
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--ceiling-events", type=int, default=300_000, help="0: no copy ceiling")
    p.add_argument("--load", type=int, default=0, help="CPU-bound processes running alongside")
    args = parse_args(p)

    load = start_load(args.load)
    try:
        if load:
            time.sleep(1.0)  # the load processes are up before box_ref is timed
        with bench_database(args.admin_dsn, "ingest") as dsn:
            return run(args, dsn)
    finally:
        for proc in load:
            proc.terminate()


def run(args: argparse.Namespace, dsn: str) -> int:
    """The benchmark on the empty database ``dsn``; prints the result, returns the exit code."""
    import psycopg

    from dispatch.pending import depth
    from gateway.db.migrate import migrate
    from gridwatch.services import EmbeddedMosquitto, make_workdir

    workdir = make_workdir("gridwatch-bench-ingest-")
    broker = EmbeddedMosquitto(workdir / "mosquitto").start()
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    stop_pub, stop_con = ctx.Event(), ctx.Event()
    sent, stats = manager.dict(), manager.dict()
    procs: list[Any] = []
    result: dict[str, Any] = {}
    started = {
        "box_ref": box_ref(),
        "load_processes": args.load,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        migrate(dsn)
        settings = durable_settings(dsn)
        print(json.dumps({"postgresql": settings}), flush=True)
        if settings["synchronous_commit"] != "on" or settings["unlogged_tables"]:
            print("refusing: the benchmark needs durable settings", file=sys.stderr)
            return 2
        prefix, group = f"bench/{uuid.uuid4().hex[:6]}", f"bench{uuid.uuid4().hex[:6]}"
        registry: dict[str, str | None] = {
            device_name(d): f"unit-{d % 50:03d}" for d in range(args.devices)
        }
        for i in range(args.consumers):
            cid = f"bench-gw-{i}-{group}"
            proc = ctx.Process(
                target=consumer,
                args=(dsn, broker.host, broker.port, prefix, group, cid, registry, stop_con, stats),
            )
            proc.start()
            procs.append(proc)
        time.sleep(2.0)  # consumers subscribed before anything is published
        for i in range(args.publishers):
            devs = list(range(i, args.devices, args.publishers))
            proc = ctx.Process(
                target=publisher,
                args=(broker.host, broker.port, prefix, devs, args.batch, args.window,
                      stop_pub, sent),
            )  # fmt: skip
            proc.start()
            procs.append(proc)
        time.sleep(args.warmup)
        # Where the CPU goes during the steady state, per role (same window as the rate).
        roles = {
            "postgresql_backends": backend_pids(dsn),
            "consumers": [p.pid for p in procs[: args.consumers]],
            "publishers": [p.pid for p in procs[args.consumers :]],
            "broker": [broker.proc.pid] if broker.proc else [],
        }
        cpu0 = {role: cpu_seconds(pids) for role, pids in roles.items()}
        c0, t0 = committed_items(dsn), time.perf_counter()
        samples = []
        while time.perf_counter() - t0 < args.seconds:
            time.sleep(5.0)
            samples.append((round(time.perf_counter() - t0, 1), committed_items(dsn)))
            rate = (samples[-1][1] - c0) / (time.perf_counter() - t0)
            print(json.dumps({"t": samples[-1][0], "events_per_s_so_far": round(rate)}), flush=True)
        c1, t1 = committed_items(dsn), time.perf_counter()
        cpu1 = {role: cpu_seconds(pids) for role, pids in roles.items()}
        events_per_s = (c1 - c0) / (t1 - t0)
        # Microseconds of CPU per committed event, by role (0 where /proc is not ours).
        cpu_us_per_event = {
            role: round(1e6 * (cpu1[role] - cpu0[role]) / max(c1 - c0, 1), 1) for role in roles
        }
        stop_pub.set()
        for proc in procs[args.consumers :]:
            proc.join(60)
        total_sent = sum(sent.values())
        deadline = time.monotonic() + 120
        while committed_items(dsn) < total_sent and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)
        stop_con.set()
        for proc in procs[: args.consumers]:
            proc.join(60)
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
            rows, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
            queued = depth(conn)
            # Every event sent has a box, a point and a snapshot: each must be in its columns.
            odd = conn.execute(
                "SELECT count(*) FROM events WHERE box IS NULL OR lon IS NULL"
                " OR snapshot_sha256 IS NULL OR unit_id IS NULL"
            ).fetchone()
        per_consumer = {k: v["new_events"] for k, v in stats.items()}
        base = baseline(dsn, args.baseline_seconds) if args.baseline_seconds > 0 else None
        txs = copy_ceiling(args)
        top = ceiling(dsn, txs, args.consumers) if txs else None
        del txs
        top_rate = top["copy_ceiling_events_per_s"] if top else None
        result = {
            **started,
            "events_per_s": round(events_per_s),
            "baseline_events_per_s": round(base) if base is not None else None,
            "copy_ceiling_events_per_s": top_rate,
            "share_of_copy_ceiling": round(events_per_s / top_rate, 3) if top_rate else None,
            "copy_ceiling": top or None,
            "lost": total_sent - distinct,
            "duplicated": rows - distinct,
            "sent": total_sent,
            "stored": rows,
            "queued_for_dispatch": queued,
            "rows_missing_columns": int(odd[0]) if odd else 0,
            "consumers": args.consumers,
            "new_events_per_consumer": per_consumer,
            "consumer_stats": dict(stats),
            "cpu_us_per_event": cpu_us_per_event,
            "steady_seconds": round(t1 - t0, 1),
            "samples": samples,
            "batch_items": args.batch,
            "publishers": args.publishers,
            "devices": args.devices,
            "cpus": os.cpu_count(),
            "postgresql": settings,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        stop_pub.set()
        stop_con.set()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        manager.shutdown()
        broker.stop()
        # The broker was this run's own: its persistence (retained acks) goes with it.
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result and result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
