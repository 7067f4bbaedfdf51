"""Soak: the gateway and the dispatcher under a steady stream; memory and queues stay flat.

    gridwatch bench soak --minutes 10 --rate 1000 --json [--warmup-s 60] [--mqtt HOST:PORT]

Runs ``gridwatch gateway --no-api`` and ``gridwatch dispatch`` as real processes on a new
database and (by default) a Mosquitto of its own, and a publisher process that sends
``--rate`` events per second as contract v1 Batch messages from the town's cameras
(QoS 1, 10 messages a second). After ``--warmup-s`` (default: a sixth of the run, at
most 60 s) it takes the RSS of every process (gateway, dispatcher, publisher, broker) and
every queue depth (the gateway's ingest queue from its /metrics, the dispatch queue from
the database), samples them every 10 s, and takes them again at the end. The last line
is one JSON object: ``start`` and ``end`` per process and queue, ``rss_within_20pct``
(every process's end RSS within 20% of its value after warm-up), events sent, stored
and lost, and ``box_ref`` (``bench/_boxref.py``).

With ``--mqtt`` on a shared broker the run clears the retained messages it published
(the gateway's acks) and reports ``retained_cleared`` and ``retained_left``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref
from bench._pg import bench_database, parse_args
from bench._procs import rss_kib

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
#: Cameras of the shipped town, so the gateway knows them and the dispatcher routes them.
DEVICES = [f"cam-{i:04d}" for i in range(1, 11)]
TICK_S = 0.1


def publish(host: str, port: int, prefix: str, rate: float, seconds: float) -> int:
    """Send ``rate`` events/s for ``seconds``; print how many were sent; the process's body."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from gateway.contract import topic

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"soak-pub-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )  # fmt: skip
    client.max_inflight_messages_set(200)
    client.connect(host, port)
    client.loop_start()
    seqs = dict.fromkeys(DEVICES, 0)
    sent, owed, tick = 0, 0.0, 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            owed += rate * TICK_S
            n, owed = int(owed), owed - int(owed)
            # One Batch per tick, from the devices in turn.
            device = DEVICES[tick % len(DEVICES)]
            now = datetime.now(UTC).isoformat()
            first = seqs[device]
            items = [
                {"kind": "event", "event_id": str(uuid.uuid4()), "device_id": device,
                 "seq": first + i, "ts": now, "rule": "intrusion", "category": "intrusion",
                 "score": 0.7}
                for i in range(n)
            ]  # fmt: skip
            if items:
                body = {"v": "1.0", "kind": "batch", "device_id": device,
                        "seq": first + n - 1, "ts": now, "items": items}  # fmt: skip
                client.publish(topic(prefix, device, "batch"), json.dumps(body), qos=1)
                seqs[device] += n
                sent += n
            tick += 1
            delay = t0 + tick * TICK_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        time.sleep(1.0)
        client.disconnect()
        client.loop_stop()
    print(json.dumps({"sent": sent}), flush=True)
    return 0


def scrape(url: str) -> dict[str, float]:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return out
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.labels:
                out[s.name] = s.value
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=1000.0, help="events per second")
    p.add_argument("--warmup-s", type=float, help="default: a sixth of the run, at most 60 s")
    p.add_argument("--mqtt", help="HOST:PORT of a broker to use (default: one of its own)")
    p.add_argument("--publish", help=argparse.SUPPRESS)  # the publisher process: HOST:PORT:PREFIX
    args = parse_args(p)
    if args.publish:
        host, port, prefix = args.publish.split(":", 2)
        return publish(host, int(port), prefix, args.rate, args.minutes * 60)
    with bench_database(args.admin_dsn, "soak") as dsn:
        return run(args, dsn)


def run(args: argparse.Namespace, dsn: str) -> int:
    import psycopg

    from dispatch.pending import depth
    from gateway.db.migrate import migrate
    from gridwatch.retained import clear_retained
    from gridwatch.services import EmbeddedMosquitto, free_port, make_workdir

    seconds = args.minutes * 60
    warmup = args.warmup_s if args.warmup_s is not None else min(60.0, seconds / 6)
    workdir = make_workdir("gridwatch-bench-soak-")
    broker = None
    if args.mqtt:
        host, _, port_text = args.mqtt.rpartition(":")
        port = int(port_text)
    else:
        broker = EmbeddedMosquitto(workdir / "mosquitto").start()
        host, port = broker.host, broker.port
    prefix = f"gwbench/soak-{uuid.uuid4().hex[:8]}"
    gw_metrics = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "GRIDWATCH_DATABASE_URL": dsn,
        "GRIDWATCH_CONFIG_DIR": str(CONFIG),
        "GRIDWATCH_TOPIC_PREFIX": prefix,
        "GRIDWATCH_SHARE_GROUP": f"gwsoak{uuid.uuid4().hex[:6]}",
        "GRIDWATCH_MQTT_HOST": host,
        "GRIDWATCH_MQTT_PORT": str(port),
    }
    cli = [sys.executable, "-m", "gridwatch.cli"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: (workdir / f"{name}.log").open("wb") for name in ("gateway", "dispatcher")}
    result: dict[str, Any] = {
        "box_ref": box_ref(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "prefix": prefix,
    }
    try:
        migrate(dsn)
        procs["gateway"] = subprocess.Popen(
            [*cli, "gateway", "--no-api", "--session-expiry", "0"],
            env={**env, "GRIDWATCH_METRICS_PORT": str(gw_metrics)},
            stdout=logs["gateway"], stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        procs["dispatcher"] = subprocess.Popen(
            [*cli, "dispatch", "--config-dir", str(CONFIG), "--database-url", dsn],
            env=env, stdout=logs["dispatcher"], stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{gw_metrics}/metrics"
        deadline = time.monotonic() + 60
        while scrape(url).get("gridwatch_ingest_mqtt_connected") != 1:
            if time.monotonic() > deadline or procs["gateway"].poll() is not None:
                raise RuntimeError(f"the gateway did not connect; see {workdir}/gateway.log")
            time.sleep(0.2)
        time.sleep(0.5)  # the subscription granted before anything is published
        procs["publisher"] = subprocess.Popen(
            [sys.executable, __file__, "--publish", f"{host}:{port}:{prefix}",
             "--rate", str(args.rate), "--minutes", str(args.minutes)],
            env=env, stdout=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        pids = {name: proc.pid for name, proc in procs.items()}
        if broker is not None and broker.proc is not None:
            pids["broker"] = broker.proc.pid

        def sample() -> dict[str, Any]:
            m = scrape(url)
            with psycopg.connect(dsn) as conn:
                queued = depth(conn)
                stored = conn.execute("SELECT count(*) FROM events").fetchone()
            return {
                "t_s": round(time.monotonic() - t0, 1),
                "rss_mib": {n: round(rss_kib(pid) / 1024, 1) for n, pid in pids.items()},
                "queues": {
                    "ingest": m.get("gridwatch_ingest_queue_depth"),
                    "dispatch": queued,
                },
                "stored": int(stored[0]) if stored else 0,
            }

        t0 = time.monotonic()
        time.sleep(warmup)
        start = sample()
        print(json.dumps({"after_warmup": start}), flush=True)
        samples = [start]
        while (remaining := seconds - (time.monotonic() - t0)) > 1.5:
            # The last sample about a second before the stream ends.
            time.sleep(min(10.0, remaining - 1.0))
            samples.append(sample())
            print(json.dumps(samples[-1]), flush=True)
        end = samples[-1]
        procs["publisher"].wait(60)
        out = procs["publisher"].stdout
        sent = json.loads(out.read().decode().strip().splitlines()[-1])["sent"] if out else 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s = sample()
            if s["stored"] >= sent and s["queues"]["dispatch"] == 0:
                break
            time.sleep(0.5)
        drained = sample()
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()
        rows, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
        rss = {
            name: {"start_mib": start["rss_mib"][name], "end_mib": end["rss_mib"][name],
                   "ratio": round(end["rss_mib"][name] / max(start["rss_mib"][name], 0.1), 3)}
            for name in pids
        }  # fmt: skip
        result |= {
            "minutes": args.minutes,
            "rate": args.rate,
            "warmup_s": warmup,
            "rss": rss,
            "rss_within_20pct": all(abs(v["ratio"] - 1) <= 0.2 for v in rss.values()),
            "queues": {
                q: {
                    "start": start["queues"][q],
                    "end": end["queues"][q],
                    "after_drain": drained["queues"][q],
                }
                for q in ("ingest", "dispatch")
            },
            "sent": sent,
            "stored": rows,
            "lost": sent - distinct,
            "duplicated": rows - distinct,
            "cases": int(cases[0]) if cases else 0,
            "events_per_s_stored": round(rows / max(seconds, 1e-9)),
            "samples": len(samples),
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for f in logs.values():
            f.close()
        if broker is None:
            # A shared broker: leave none of this run's retained messages behind.
            result["retained_cleared"] = clear_retained(host, port, prefix)
            result["retained_left"] = clear_retained(host, port, prefix)
        else:
            broker.stop()
        if result.get("lost") == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            result["logs"] = str(workdir)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result.get("lost") == 0 and result.get("duplicated") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
