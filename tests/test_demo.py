"""The walking skeleton's acceptance: ``gridwatch demo`` end to end on real parts.

Each run is a real ``gridwatch demo`` subprocess: edge, gateway and dispatcher
processes, PostgreSQL and Mosquitto. One run uses the machine's services, the
other points settings at closed ports so the demo must start embedded ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gridwatch.services import free_port
from gridwatch.settings import Settings
from gridwatch.town import load_town

ROOT = Path(__file__).resolve().parent.parent
DURATION = "90"


class SseClient(threading.Thread):
    """A plain server-push client, like a browser's EventSource, collecting frames."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.connected = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=120) as resp:
                self.connected.set()
                kind, data = "message", ""
                for raw in resp:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif line == "":
                        if data:
                            self.frames.append((kind, json.loads(data)))
                        kind, data = "message", ""
        except Exception as exc:  # the demo closing the stream ends the client
            self.error = exc


def local_services_env() -> dict[str, str]:
    """This process's environment with the settings' defaults: the machine's services."""
    env = dict(os.environ)
    env.pop("GRIDWATCH_DATABASE_URL", None)
    env.pop("GRIDWATCH_MQTT_PORT", None)
    return env


def start_demo(env: dict[str, str], duration: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridwatch.cli", "demo", "--duration", duration],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_demo(env: dict[str, str]) -> tuple[dict[str, Any], SseClient | None, str]:
    client: SseClient | None = None
    lines: list[str] = []
    with start_demo(env, DURATION) as proc:
        assert proc.stdout is not None
        token = ""
        for line in proc.stdout:
            lines.append(line)
            if "token:" in line and not token:
                token = line.split("token:", 1)[1].strip()
            if "/ console:" in line and client is None:
                url = line.split("console:", 1)[1].strip()
                client = SseClient(f"{url}api/v1/live?access_token={token}")
                client.start()
                assert client.connected.wait(10), "console /live did not answer"
        code = proc.wait(timeout=60)
    output = "".join(lines)
    assert code == 0, output[-4000:]
    return json.loads(lines[-1]), client, output


def check_evidence(result: dict[str, Any]) -> None:
    """Every case's snapshots are held and served as named; one byte changed is refused."""
    ev = result["evidence"]
    assert ev["case_snapshots"] >= 2 * len(result["cameras"]), ev  # a frame and a crop each
    assert ev["missing"] == [], ev
    assert ev["held"] == ev["served_matching"] == ev["case_snapshots"], ev
    assert ev["tampered_refused"] and ev["tampered_logged"], ev


def check_cameras(result: dict[str, Any]) -> None:
    town = load_town(ROOT / "config")
    check_evidence(result)
    assert len(result["cameras"]) >= 2
    for cam, stats in result["cameras"].items():
        assert stats["events"] >= 1, f"{cam} produced no stored event"
        assert stats["events_with_evidence"] >= 1, f"{cam}: no event with score and snapshot"
        assert stats["snapshots_held"] >= 1, f"{cam}: the gateway holds none of its snapshots"
        unit = town.devices[cam].unit
        leader = town.hierarchy.areas[unit].leader
        assert leader is not None, f"sample unit {unit} of {cam} has no leader"
        assert any(
            c["unit_id"] == unit and c["assignee"] == leader.person_id for c in stats["cases"]
        ), f"{cam}: no case for unit {unit} assigned to its leader {leader.person_id}"


@pytest.mark.slow
@pytest.mark.services
def test_demo_with_local_services_every_camera_reaches_its_unit_leader() -> None:
    result, client, output = run_demo(local_services_env())
    assert result["events"] >= 1 and result["cases"] >= 1
    (water,) = result["sensors"].values()
    assert water["readings"] >= 10 and water["events"] >= 1, result["sensors"]
    assert result["database"] == "settings" and result["broker"] == "settings", output[-2000:]
    check_cameras(result)
    assert client is not None
    client.join(5)
    seen_events = {d["device_id"] for k, d in client.frames if k == "event"}
    seen_cases = {str(d["id"]) for k, d in client.frames if k == "case"}
    assert set(result["cameras"]) <= seen_events, f"live feed lacked events of {result['cameras']}"
    for cam, stats in result["cameras"].items():
        assert {c["id"] for c in stats["cases"]} & seen_cases, f"live feed lacked {cam}'s case"


@pytest.mark.slow
@pytest.mark.services  # embedded ones: the mosquitto and postgres binaries
def test_demo_with_no_services_reachable_starts_its_own() -> None:
    env = dict(os.environ)
    env["GRIDWATCH_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/gridwatch"
    env["GRIDWATCH_MQTT_HOST"] = "127.0.0.1"
    env["GRIDWATCH_MQTT_PORT"] = str(free_port())
    result, _client, output = run_demo(env)
    assert result["database"] == "embedded" and result["broker"] == "embedded", output[-2000:]
    assert result["events"] >= 1 and result["cases"] >= 1
    check_cameras(result)


def _children(pid: int) -> set[int]:
    """Every live process descended from ``pid`` (read from /proc)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parent[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.services
def test_demo_stopped_with_sigterm_leaves_no_process_and_no_database() -> None:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with start_demo(local_services_env(), "600") as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        dbname = ""
        for line in proc.stdout:
            lines.append(line)
            if "/ database:" in line:  # said once the gateway and dispatcher answer
                dbname = line.split("/ database:", 1)[1].split(",")[0].split()[-1]
                break
        assert dbname.startswith("gridwatch_demo_"), "".join(lines)[-3000:]
        time.sleep(3)  # the edge starts next
        children = _children(proc.pid)
        assert len(children) >= 3, f"gateway and dispatcher expected, found {children}"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        rest = proc.stdout.read()
    assert code == 130, "".join(lines)[-2000:] + rest[-2000:]
    left = {p for p in children if _alive(p)}
    assert not left, f"processes left behind after SIGTERM: {left}"
    maintenance = make_conninfo(Settings().database_url, dbname="postgres")
    with psycopg.connect(maintenance) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (dbname,))
        assert row.fetchone() == (0,), f"database {dbname} left behind"


def test_the_demo_box_simulates_a_water_level_that_crosses_its_threshold(tmp_path: Path) -> None:
    import yaml

    from edge.config import load_edge_config
    from edge.sensor_config import SimulatedSource
    from edge.sensor_sources import simulated_value
    from gridwatch.demo import DemoRun
    from gridwatch.settings import get_settings

    run = DemoRun(settings=get_settings(), duration=1.0)
    cfg = load_edge_config(run.edge_config(tmp_path, "127.0.0.1", 1883, "demo-test"))
    assert yaml.safe_load((tmp_path / "edge.yaml").read_text())["sensors"]
    (water,) = cfg.sensors
    assert water.sensor == "water_level" and water.interval_s == 1.0
    assert isinstance(water.source, SimulatedSource)
    (rule,) = water.rules
    assert rule.type == "threshold" and rule.above is not None
    crossed = next(t for t in range(120) if simulated_value(water.source, t) > rule.above)
    assert crossed <= 30, "the demo's level must cross well within a short run"


@pytest.mark.services  # the machine's PostgreSQL, where the demo's database must not stay
def test_demo_without_a_broker_or_mosquitto_says_to_install_it_and_leaves_no_database() -> None:
    import psycopg
    from psycopg.conninfo import make_conninfo

    env = local_services_env()
    env["GRIDWATCH_MQTT_HOST"] = "127.0.0.1"
    env["GRIDWATCH_MQTT_PORT"] = str(free_port())  # nothing answers there
    env["GRIDWATCH_MOSQUITTO"] = "mosquitto-not-installed"
    maintenance = make_conninfo(Settings().database_url, dbname="postgres")
    count = "SELECT count(*) FROM pg_database WHERE datname LIKE 'gridwatch_demo_%'"
    with psycopg.connect(maintenance) as conn:
        before = conn.execute(count).fetchone()
    assert before is not None
    with start_demo(env, "30") as proc:
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out[-2000:]
    assert "install Debian's mosquitto package" in out, out[-2000:]
    assert "'mosquitto-not-installed' not found" in out
    with psycopg.connect(maintenance) as conn:
        after = conn.execute(count).fetchone()
    # Other runs on this machine may hold demo databases of their own: none more now.
    assert after is not None and after[0] <= before[0]
