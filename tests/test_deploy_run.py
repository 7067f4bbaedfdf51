"""docker-compose.yml's services, run here without Docker: the deployment starts.

Docker cannot run on this machine, so each service's own command and environment, read
from the compose file, runs as a local process instead; what Docker would provide is put
in its place: each container path becomes a folder of the test (volumes, the TLS files,
/app/config the tree's config), the host names db and mqtt become 127.0.0.1, the ports
free ones, and the database roles of init-roles.sh get names of this test (roles are
shared by the whole PostgreSQL cluster). The broker is Debian's Mosquitto started by the
mqtt service's own command from the files the broker-config service writes. Then every
healthcheck of the file must pass, a camera's event over TLS must become a case and an
ack, and SIGTERM must stop every process within the file's stop_grace_period.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gateway.db.migrate import migrate
from gridwatch.mqtt_tls import MqttTls, apply_login
from gridwatch.services import free_port, make_workdir
from gridwatch.settings import default_cache_dir
from tests.broker_support import make_ca
from tests.deploy_support import Image, Report, check_dockerfile, role_split_db
from tests.gateway.conftest import event_body

pytestmark = [pytest.mark.slow, pytest.mark.services]

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("gateway", "dispatch", "deliver", "edge")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([?-])([^}]*))?\}")


class Deployment:
    """The compose file's services as local processes, with their paths and ports mapped."""

    def __init__(self, work: Path, db_dsn: str, roles: dict[str, str]) -> None:
        self.work = work
        self.doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        self.image: Image = check_dockerfile(ROOT, Report())
        self.tls_port = free_port()
        self.roles = roles
        self.db = psycopg.conninfo.conninfo_to_dict(db_dsn)
        self.secrets: dict[str, str] = {
            "POSTGRES_PASSWORD": "unused",
            "GRIDWATCH_OWNER_DB_PASSWORD": "trust",
            "GRIDWATCH_APP_DB_PASSWORD": "trust",
            "GRIDWATCH_JWT_SECRET": uuid.uuid4().hex * 2,
            "GRIDWATCH_WEBHOOK_SECRETS": "{}",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[bytes]] = []
        #: Per process (replicas apart): container port -> local port.
        self.ports: dict[str, dict[int, int]] = {}

    def service(self, name: str) -> dict[str, Any]:
        svc: dict[str, Any] = self.doc["services"][name]
        return svc

    def paths(self, name: str) -> list[tuple[str, str]]:
        """Container path -> local path for one service, longest first."""
        out = {
            "/app/config": str(ROOT / "config"),
            "/opt/gridwatch/cache": str(default_cache_dir()),
            "/tmp/gridwatch.conf": str(self.work / "mqtt.conf"),
        }
        for spec in self.service(name).get("volumes", []):
            src, target = str(spec).split(":")[:2]
            if src.startswith("./secrets/tls"):
                out[target] = str(self.work / "tls" / src.removeprefix("./secrets/tls").lstrip("/"))
            elif src.startswith("."):
                out[target] = str(ROOT / src)
            else:
                local = self.work / "volumes" / src
                local.mkdir(parents=True, exist_ok=True)
                out[target] = str(local)
        return sorted(out.items(), key=lambda kv: -len(kv[0]))

    def mapped(self, name: str, text: str, key: str | None = None) -> str:
        """``text`` of service ``name`` (process ``key``) with what Docker gives put here."""
        for container, local in self.paths(name):
            text = text.replace(container, local)
        host = f"{self.db.get('host', '127.0.0.1')}:{self.db.get('port', 5432)}"
        text = re.sub(r"@db:5432/gridwatch$", f"@{host}/{self.db['dbname']}", text)
        for role, local_role in self.roles.items():
            text = text.replace(role, local_role)
        text = text.replace("-h mqtt", "-h 127.0.0.1").replace("8883", str(self.tls_port))
        for container_port, local_port in self.ports.get(key or name, {}).items():
            text = text.replace(str(container_port), str(local_port))
        return text

    def env(self, name: str, key: str | None = None) -> dict[str, str]:
        def sub(m: re.Match[str]) -> str:
            var, op, arg = m.group(1), m.group(2), m.group(3)
            return arg if op == "-" else self.secrets[var]

        raw = {**self.image.env, **(self.service(name).get("environment") or {})}
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
        for k, v in raw.items():
            env[k] = self.mapped(name, _VAR.sub(sub, str(v)), key)
        if env.get("GRIDWATCH_MQTT_HOST") == "mqtt":
            env["GRIDWATCH_MQTT_HOST"] = "127.0.0.1"
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        return env

    def argv(self, name: str, key: str | None = None) -> list[str]:
        command = self.service(name)["command"]
        words = shlex.split(command) if isinstance(command, str) else list(command)
        return [self.mapped(name, w, key) for w in words]

    def run(self, name: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self.argv(name), *extra], env=self.env(name), capture_output=True, timeout=120
        )

    def log(self, key: str) -> IO[bytes]:
        f = (self.work / f"{key}.log").open("wb")
        self.logs.append(f)
        return f

    def start(self, name: str, key: str, *extra: str) -> None:
        log = self.log(key)
        self.procs[key] = subprocess.Popen(
            [*self.argv(name, key), *extra],
            env=self.env(name, key),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def healthy(self, name: str, key: str) -> bool:
        test = self.service(name)["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            cmd = ["sh", "-c", self.mapped(name, test[1], key)]
        else:
            cmd = [self.mapped(name, w, key) for w in test[1:]]
            cmd = [sys.executable if w == "python" else w for w in cmd]
        proc = self.procs.get(key)
        if proc is not None and proc.poll() is not None:
            log = (self.work / f"{key}.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"{key} exited with {proc.returncode} before it was healthy:\n{log}")
        done = subprocess.run(cmd, env=self.env(name, key), capture_output=True, timeout=30)
        return done.returncode == 0

    def why(self, dsn: str) -> str:
        """What the database and the logs say, for a failure message."""
        with psycopg.connect(dsn) as conn:
            events = conn.execute("SELECT count(*) FROM events").fetchone()
            dead = conn.execute("SELECT reason FROM dead_letters LIMIT 3").fetchall()
        logs = {
            k: (self.work / f"{k}.log").read_text(errors="replace")[-1500:]
            for k in self.procs
            if k != "mqtt"
        }
        return f"events {events}, dead letters {dead}, logs {logs}"

    def stop_all(self, grace: float) -> dict[str, tuple[int | None, float]]:
        t0 = time.monotonic()
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        out: dict[str, tuple[int | None, float]] = {}
        for key, p in self.procs.items():
            try:
                p.wait(max(0.1, grace - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
                out[key] = (None, time.monotonic() - t0)
                continue
            out[key] = (p.returncode, time.monotonic() - t0)
        for f in self.logs:
            f.close()
        return out


@pytest.fixture
def deployment(pg_admin_url: str) -> Iterator[Deployment]:
    # Not under pytest's 0700 folder: Mosquitto, once it drops root, must reach its files.
    work = make_workdir("gridwatch-deploy-")
    os.chmod(work, 0o755)
    try:
        with role_split_db(pg_admin_url, ROOT) as (dsn, roles):
            d = Deployment(work, dsn, roles)
            try:
                yield d
            finally:
                d.stop_all(5)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _grace(svc: dict[str, Any]) -> float:
    return float(str(svc.get("stop_grace_period", "10s")).rstrip("s"))


def test_the_compose_services_start_become_healthy_carry_an_event_and_stop(
    deployment: Deployment,
) -> None:
    d = deployment
    tls = d.work / "tls"
    make_ca(tls)  # ca.crt, server.crt for 127.0.0.1, server.key: ./secrets/tls
    root = os.geteuid() == 0
    if root:
        pw = pwd.getpwnam("mosquitto")
        os.chown(tls / "server.key", pw.pw_uid, pw.pw_gid)

    # docker compose --profile setup run --rm broker-config
    done = d.run("broker-config")
    assert done.returncode == 0, done.stderr.decode()
    creds = yaml.safe_load((d.work / "volumes/mqttconf/credentials.yaml").read_text())
    # The TLS files it names are the broker container's paths: put here as mqtt sees them.
    conf = d.work / "volumes/mqttconf/mosquitto.conf"
    conf.write_text(d.mapped("mqtt", conf.read_text()))
    d.secrets["GRIDWATCH_GATEWAY_MQTT_PASSWORD"] = creds["gridwatch-gateway"]
    d.secrets["GRIDWATCH_DELIVER_MQTT_PASSWORD"] = creds["gridwatch-deliver"]

    # docker compose up -d mqtt: the service's own shell command. Mosquitto's data folder
    # is in persistence.conf, which the container mounts; here a copy names the test's.
    persistence = d.work / "persistence.conf"
    text = (ROOT / "deploy/mosquitto/persistence.conf").read_text()
    (d.work / "volumes/mqttdata").mkdir(parents=True, exist_ok=True)
    if root:
        os.chown(d.work / "volumes/mqttdata", pw.pw_uid, pw.pw_gid)
    persistence.write_text(text.replace("/mosquitto/data/", f"{d.work}/volumes/mqttdata/"))
    command = d.mapped("mqtt", d.service("mqtt")["command"])
    command = command.replace(str(ROOT / "deploy/mosquitto/persistence.conf"), str(persistence))
    if not root:  # no user to hand passwd to: Mosquitto stays this user and reads it
        command = re.sub(r"chown \S+ \S+ &&", "", command)
    log = d.log("mqtt")
    d.procs["mqtt"] = subprocess.Popen(["sh", "-c", command], stdout=log, stderr=subprocess.STDOUT)

    # docker compose --profile setup run --rm migrate: its command, as the owner role. The
    # owner role's name is a constant of the migrator, so the CLI would use the real one;
    # the same migration runs through migrate() with this test's names.
    env = d.env("migrate")
    assert d.argv("migrate") == ["gridwatch", "db", "migrate"]
    owner_dsn = env["GRIDWATCH_MIGRATE_DATABASE_URL"]
    assert psycopg.conninfo.conninfo_to_dict(owner_dsn)["user"] == d.roles["gridwatch_owner"]
    assert migrate(
        owner_dsn,
        owner_role=d.roles["gridwatch_owner"],
        service_role=env["GRIDWATCH_SERVICE_ROLE"],
        api_role=d.roles["gridwatch_api"],
        tz=env["GRIDWATCH_TZ"],
    )

    # docker compose up -d gateway dispatch deliver edge
    replicas = int(d.service("gateway")["deploy"]["replicas"])
    for i in range(replicas):
        d.ports[f"gateway-{i}"] = {8080: free_port()}
        # Containers have hostnames of their own; here the replicas share one, so each
        # gets the client id its container's hostname would give it.
        d.start("gateway", f"gateway-{i}", "--client-id", f"gridwatch-gw-replica{i}-gridwatch")
    for name in ("dispatch", "deliver"):
        d.ports[name] = {9100: free_port()}
        d.start(name, name)
    edge_port = free_port()
    edge_yaml = d.work / "edge.yaml"
    edge_text = d.mapped("edge", (ROOT / "config/edge.yaml").read_text())
    edge_yaml.write_text(edge_text.replace("metrics_port: 9100", f"metrics_port: {edge_port}"))
    d.ports["edge"] = {9100: edge_port}
    d.service("edge")["command"] = d.service("edge")["command"].replace(
        "/app/config/edge.yaml", str(edge_yaml)
    )
    d.start("edge", "edge")

    deadline = time.monotonic() + 90
    waiting = {"mqtt": "mqtt", **{f"gateway-{i}": "gateway" for i in range(replicas)}}
    waiting.update({n: n for n in ("dispatch", "deliver", "edge")})
    while waiting and time.monotonic() < deadline:
        for key, name in list(waiting.items()):
            if d.healthy(name, key):
                del waiting[key]
        time.sleep(0.5)
    assert not waiting, f"not healthy after 90 s: {sorted(waiting)}"

    # A camera of config/edge.yaml logs in as itself over TLS and publishes an event.
    camera = "cam-0001"
    got: dict[str, bytes] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{camera}-test")
    client.on_message = lambda c, u, m: got.__setitem__(m.topic, bytes(m.payload))
    apply_login(client, username=camera, password=creds[camera], tls=MqttTls(tls / "ca.crt"))
    client.connect("127.0.0.1", d.tls_port)
    client.loop_start()
    try:
        client.subscribe(f"gw/v1/dev/{camera}/ack", qos=1)
        event = event_body(camera, 1_000_000, score=0.9)
        client.publish(f"gw/v1/dev/{camera}/event", json.dumps(event), qos=1).wait_for_publish(5)
        service_dsn = d.env("dispatch")["GRIDWATCH_DATABASE_URL"]
        case = None
        while time.monotonic() < deadline + 30 and case is None:
            with psycopg.connect(service_dsn) as conn:
                case = conn.execute(
                    "SELECT c.unit_id FROM cases c JOIN case_events ce ON ce.case_id = c.id"
                    " WHERE ce.event_id = %s",
                    (event["event_id"],),
                ).fetchone()
            time.sleep(0.3)
        assert case is not None, f"the camera's event did not become a case: {d.why(service_dsn)}"
        ack_topic = f"gw/v1/dev/{camera}/ack"
        while ack_topic not in got and time.monotonic() < deadline + 40:
            time.sleep(0.1)
        assert ack_topic in got, "no ack came back to the camera"
    finally:
        client.loop_stop()
        client.disconnect()

    grace = _grace(d.service("gateway"))
    stopped = d.stop_all(grace)
    print(f"stopped within {grace} s: {stopped}")
    for key, (rc, took) in stopped.items():
        assert rc is not None, f"{key} did not stop on SIGTERM within {grace} s"
        if key != "mqtt":
            assert rc == 0, f"{key} exited {rc} on SIGTERM"
        assert took <= grace
