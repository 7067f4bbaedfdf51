"""Dispatch speed: bulk routing through the town locator, and event-to-case latency.

    python bench/dispatch.py --json [--points 200000] [--e2e-seconds 20] [--no-e2e]
                                    [--capacity-events 30000] [--no-capacity] [--load 1]

On a synthesized town of 1,114 units (Zhongmen's size):

- ``locate_points_per_s``: points per second through ``Hierarchy.locate_many``
  (bulk: one vectorised query for all points, then the unit's grid, village, town);
  baseline in the same run: shapely's ``STRtree.query(points, predicate="within")``
  on the same units and points (``baseline_strtree_points_per_s``);
- ``capacity_events_per_s``: one ``gridwatch dispatch`` process draining a backlog of
  ``--capacity-events`` queued events committed at once (``bench/_dispatch_capacity.py``);
  baseline in the same run: the same dispatcher with one event per transaction;
- ``e2e_p50_ms`` / ``e2e_p99_ms``: from an event published over MQTT (QoS 1) to the
  NOTIFY of its case on ``gridwatch_live``, with a real ``gridwatch gateway`` and
  ``gridwatch dispatch`` as separate processes, under a background load of
  ``--rate`` events/s (default 1,000) that also open and merge cases.

``box_ref`` (``bench/_boxref.py``) is timed in the same run, with the ``--load``
processes already running: throughputs scale roughly with 1 / ``box_ref``. ``--load N``
runs N CPU-bound processes (a pure Python loop each) through the whole benchmark, for
the "busy box" run. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref, start_load
from bench._dispatch_capacity import capacity
from bench._pg import admin_dsn

ZHONGMEN = {"seed": 7, "villages": 20, "grids": 61, "units": 1114}


def make_town(out: Path) -> Any:
    from gridwatch.town import load_town
    from gridwatch.town.synth import SynthSpec, synth_town, write_config

    spec = SynthSpec(**ZHONGMEN)
    write_config(synth_town(spec), out, spec)
    repo_config = Path(__file__).resolve().parent.parent / "config"
    for name in ("deadlines.yaml", "routing.yaml"):  # the shipped dispatch tables
        (out / name).write_text((repo_config / name).read_text(encoding="utf-8"))
    return load_town(out)


def bench_locate(town: Any, points: int, repeat: int = 3) -> dict[str, Any]:
    import numpy as np

    minx, miny, maxx, maxy = town.hierarchy.geometries[town.hierarchy.town_id].bounds
    rng = np.random.default_rng(1)
    lons = rng.uniform(minx, maxx, points)
    lats = rng.uniform(miny, maxy, points)
    best = float("inf")
    found = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        locs = town.hierarchy.locate_many(lons, lats)
        best = min(best, time.perf_counter() - t0)
        found = sum(1 for loc in locs if loc is not None)
    t0 = time.perf_counter()
    for i in range(1000):
        town.hierarchy.locate(float(lons[i]), float(lats[i]))
    one_us = (time.perf_counter() - t0) / 1000 * 1e6
    return {
        "locate_points_per_s": round(points / best),
        "baseline_strtree_points_per_s": strtree_rate(town, lons, lats, repeat),
        "locate_points": points,
        "locate_in_a_unit": found,
        "locate_one_point_us": round(one_us, 1),
    }


def strtree_rate(town: Any, lons: Any, lats: Any, repeat: int) -> int:
    """The baseline: shapely's STRtree over the units, bulk ``within`` on the same points."""
    import shapely

    units = list(town.hierarchy.unit_ids)
    tree = shapely.STRtree([town.hierarchy.geometries[u] for u in units])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        pts = shapely.points(lons, lats)
        tree.query(pts, predicate="within")
        best = min(best, time.perf_counter() - t0)
    return round(len(lons) / best)


# --------------------------------------------------------------------------- e2e


def bench_e2e(town: Any, config_dir: Path, seconds: float, rate: float) -> dict[str, Any]:
    import numpy as np
    import paho.mqtt.client as mqtt
    import psycopg
    from paho.mqtt.enums import CallbackAPIVersion

    from gateway.contract import Event, dumps, topic
    from gateway.db.migrate import migrate
    from gridwatch.retained import clear_retained
    from gridwatch.services import create_database, drop_database, free_port

    name = f"gwbench_dispatch_{uuid.uuid4().hex[:8]}"
    admin = admin_dsn()
    dsn = create_database(admin, name)
    prefix = f"gwbench/{uuid.uuid4().hex[:8]}"
    mqtt_host = os.environ.get("GRIDWATCH_MQTT_HOST", "127.0.0.1")
    mqtt_port = int(os.environ.get("GRIDWATCH_MQTT_PORT", "1883"))
    env = {
        **os.environ,
        "GRIDWATCH_DATABASE_URL": dsn,
        "GRIDWATCH_CONFIG_DIR": str(config_dir),
        "GRIDWATCH_TOPIC_PREFIX": prefix,
        "GRIDWATCH_SHARE_GROUP": f"gwbench{uuid.uuid4().hex[:6]}",
        "GRIDWATCH_MQTT_HOST": mqtt_host,
        "GRIDWATCH_MQTT_PORT": str(mqtt_port),
        "GRIDWATCH_HTTP_PORT": str(free_port()),
    }
    procs: list[subprocess.Popen[bytes]] = []
    latencies: list[float] = []
    try:
        migrate(dsn)
        cli = [sys.executable, "-m", "gridwatch.cli"]
        procs.append(
            subprocess.Popen(
                [*cli, "gateway", "--no-api"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        procs.append(
            subprocess.Popen(
                [*cli, "dispatch", "--batch", "200"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        cams = sorted(d.id for d in town.devices.values())
        units = list(town.hierarchy.unit_ids)
        rng = np.random.default_rng(2)
        geoms = town.hierarchy.geometries
        pts = [geoms[u].representative_point() for u in units]
        sent: dict[tuple[float, float], float] = {}
        seq = {c: 0 for c in cams}
        lock = threading.Lock()

        listener = psycopg.connect(dsn, autocommit=True)
        listener.execute("LISTEN gridwatch_live")

        def listen(stop: threading.Event) -> None:
            while not stop.is_set():
                for note in listener.notifies(timeout=0.2, stop_after=100):
                    got = time.perf_counter()
                    msg = json.loads(note.payload)
                    if msg.get("type") != "case" or msg.get("lon") is None:
                        continue
                    key = (round(msg["lon"], 7), round(msg["lat"], 7))
                    with lock:
                        t = sent.pop(key, None)
                    if t is not None:
                        latencies.append((got - t) * 1000)

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(1000)
        client.connect(mqtt_host, mqtt_port)
        client.loop_start()
        stop = threading.Event()
        t_listen = threading.Thread(target=listen, args=(stop,), daemon=True)
        t_listen.start()
        time.sleep(6)  # gateway and dispatcher load the town and connect

        def publish(category: str, lon: float, lat: float) -> None:
            cam = cams[int(rng.integers(len(cams)))]
            seq[cam] += 1
            ev = Event.model_validate(
                {
                    "event_id": str(uuid.uuid4()),
                    "device_id": cam,
                    "seq": seq[cam],
                    "ts": datetime.now(UTC).isoformat(),
                    "rule": category,
                    "category": category,
                    "severity": 2,
                    "point": {"lon": lon, "lat": lat},
                    "cls": "person",
                    "score": 0.8,
                }
            )
            client.publish(topic(prefix, cam, "event"), dumps(ev), qos=1)

        t_end = time.perf_counter() + seconds
        n = 0
        probe_every = max(1, int(rate // 10))  # ten probes a second
        start = time.perf_counter()
        while time.perf_counter() < t_end:
            n += 1
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if n % probe_every == 0:
                # A probe: camera_tamper merges only at distance 0 (routing.yaml), so a
                # probe at a fresh random point always opens a new case.
                p = pts[int(rng.integers(len(pts)))]
                lon = round(float(p.x) + float(rng.uniform(-1e-4, 1e-4)), 7)
                lat = round(float(p.y) + float(rng.uniform(-1e-4, 1e-4)), 7)
                with lock:
                    sent[(lon, lat)] = time.perf_counter()
                publish("camera_tamper", lon, lat)
            else:
                # Background: loitering and crowding around unit points; they open and merge.
                p = pts[int(rng.integers(len(pts)))]
                publish("loitering" if n % 2 else "crowding", float(p.x), float(p.y))
        time.sleep(3)
        stop.set()
        t_listen.join()
        client.loop_stop()
        client.disconnect()
        listener.close()
        with psycopg.connect(dsn) as c:
            cases = c.execute("SELECT count(*), coalesce(sum(recurrence), 0) FROM cases").fetchone()
            events = c.execute("SELECT count(*) FROM events").fetchone()
            probe_cases = c.execute(
                "SELECT count(*) FROM cases WHERE category = 'camera_tamper'"
            ).fetchone()
            # Where the time goes, per probe: edge -> stored, stored -> case opened.
            lags = c.execute(
                """
                SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
                           ORDER BY extract(epoch FROM e.received_at - e.ts) * 1000),
                       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
                           ORDER BY extract(epoch FROM c.opened_at - e.received_at) * 1000)
                FROM cases c JOIN case_events ce ON ce.case_id = c.id
                JOIN events e ON e.event_id = ce.event_id AND e.ts = ce.ts
                WHERE c.category = 'camera_tamper'
                """
            ).fetchone()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        drop_database(admin, name)
        clear_retained(mqtt_host, mqtt_port, prefix)  # the gateway's acks, on a shared broker
    lat_sorted = sorted(latencies)

    def pct(q: float) -> float | None:
        if not lat_sorted:
            return None
        return round(lat_sorted[min(len(lat_sorted) - 1, int(q * len(lat_sorted)))], 1)

    return {
        "e2e_p50_ms": round(statistics.median(lat_sorted), 1) if lat_sorted else None,
        "e2e_p99_ms": pct(0.99),
        "e2e_probes": len(lat_sorted),
        "e2e_probes_lost": n // probe_every - len(lat_sorted),
        "probe_cases": probe_cases[0] if probe_cases else None,
        "background_rate_per_s": rate,
        "events_stored": events[0] if events else None,
        "ingest_lag_ms_p50_p99": [round(x, 1) for x in lags[0]] if lags and lags[0] else None,
        "dispatch_lag_ms_p50_p99": [round(x, 1) for x in lags[1]] if lags and lags[1] else None,
        "cases": cases[0] if cases else None,
        "case_recurrence_total": cases[1] if cases else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print only the JSON result line")
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--e2e-seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=1000.0, help="background events/s")
    ap.add_argument("--no-capacity", action="store_true")
    ap.add_argument("--capacity-events", type=int, default=30_000)
    ap.add_argument("--baseline-events", type=int, default=2_000)
    ap.add_argument("--capacity-batch", type=int, default=2000, help="the dispatcher's --batch")
    ap.add_argument("--load", type=int, default=0, help="CPU-bound processes running alongside")
    args = ap.parse_args(argv)
    load = start_load(args.load)
    try:
        if load:
            time.sleep(1.0)  # the load processes are up before box_ref is timed
        result = _measure(args)
    finally:
        for p in load:
            p.terminate()
    if not args.json:
        for key, value in result.items():
            print(f"{key}: {value}")
    print(json.dumps(result))
    return 0


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "box_ref": box_ref(),
        "load_processes": args.load,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="gwbench-town-") as tmp:
        town = make_town(Path(tmp))
        result["town_units"] = len(town.hierarchy.unit_ids)
        result.update(bench_locate(town, args.points))
        if not args.no_capacity:
            try:
                result.update(
                    capacity(
                        town,
                        Path(tmp),
                        args.capacity_events,
                        args.baseline_events,
                        args.capacity_batch,
                    )
                )
            except Exception as exc:  # needs PostgreSQL
                result["capacity_error"] = f"{type(exc).__name__}: {exc}"
        if not args.no_e2e:
            try:
                result.update(bench_e2e(town, Path(tmp), args.e2e_seconds, args.rate))
            except Exception as exc:  # the e2e part needs the gateway and services
                result["e2e_error"] = f"{type(exc).__name__}: {exc}"
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = {
        "locate_points_per_s": ">= 500000",
        "e2e_p99_ms": "< 300",
        "capacity_events_per_s": ">= 10000",
    }
    return result


if __name__ == "__main__":
    sys.exit(main())
