"""``gridwatch demo``: the whole pipeline on one machine, on real parts.

Edge (OpenCV + YOLOX-Nano on replayed footage) -> MQTT -> gateway (ingest,
API, console) -> PostgreSQL -> dispatcher -> cases, each stage its own process,
exactly as in production. It uses the PostgreSQL and broker named in settings
when they answer, else starts embedded ones and stops them on exit. Every run
has its own database, topic prefix and share group, so runs never meet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import SecretStr

from gridwatch.services import (
    EmbeddedMosquitto,
    EmbeddedPostgres,
    create_database,
    drop_database,
    free_port,
    make_workdir,
    mqtt_reachable,
    pg_reachable,
)
from gridwatch.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between the replay start points of consecutive cameras.
STAGGER_S = 20.0
#: The demo's water level: from 0.6 m by 5 cm/s, past the 1.0 m threshold after 8 s.
DEMO_WATER = {"type": "simulated", "start": 0.6, "per_s": 0.05, "stop": 1.5}


class DemoError(RuntimeError):
    """The demo could not run; the message says which stage failed."""


@dataclass
class Stage:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]


@dataclass
class DemoRun:
    settings: Settings
    duration: float
    cameras: list[str] | None = None
    http_port: int | None = None
    keep: bool = False
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # ------------------------------------------------------------------ services

    @contextlib.contextmanager
    def database(self, workdir: Path) -> Iterator[tuple[str, str]]:
        """Yield (dsn of this run's own database, where it lives)."""
        import psycopg

        admin = self.settings.database_url
        embedded: EmbeddedPostgres | None = None
        where = "settings"
        if not pg_reachable(admin):
            # The named database may not exist yet; the server's maintenance
            # database is enough to create this run's own.
            maintenance = _with_dbname(admin, "postgres")
            if pg_reachable(maintenance):
                admin = maintenance
        if not pg_reachable(admin):
            self.say(f"PostgreSQL 不可达 / not reachable at {_redact(admin)}: starting embedded")
            embedded = EmbeddedPostgres(workdir / "pg")
            admin = embedded.start()
            where = "embedded"
        name = f"gridwatch_demo_{self.run_id}"
        try:
            yield create_database(admin, name), where
        finally:
            if not self.keep or embedded is not None:
                with contextlib.suppress(psycopg.Error):
                    drop_database(admin, name)
            if embedded is not None:
                embedded.stop()

    @contextlib.contextmanager
    def broker(self, workdir: Path) -> Iterator[tuple[str, int, str]]:
        host, port = self.settings.mqtt_host, self.settings.mqtt_port
        if mqtt_reachable(host, port):
            yield host, port, "settings"
            return
        self.say(f"MQTT broker 不可达 / not reachable at {host}:{port}: starting embedded")
        broker = EmbeddedMosquitto(workdir / "mqtt", binary=self.settings.mosquitto).start()
        try:
            yield broker.host, broker.port, "embedded"
        finally:
            broker.stop()

    # ------------------------------------------------------------------ stages

    def start_stage(self, name: str, args: list[str], env: dict[str, str], workdir: Path) -> Stage:
        log_path = workdir / f"{name}.log"
        log_file = log_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridwatch.cli", *args],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return Stage(name, proc, log_path, log_file)

    def stop_stages(self, stages: list[Stage], timeout: float = 8.0) -> None:
        """SIGTERM to every stage at once, then SIGKILL to whatever outlives ``timeout``.

        Together, not one after another, so that the whole demo stops within the
        10 s that systemd and Docker give before their own SIGKILL.
        """
        for stage in stages:
            if stage.proc.poll() is None:
                stage.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for stage in stages:
            try:
                stage.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stage.proc.kill()
                stage.proc.wait()
            stage.log_file.close()

    def clear_retained(self, host: str, port: int, prefix: str) -> None:
        """Leave no retained status or ack of this run on a shared broker."""
        from gridwatch.retained import clear_retained

        try:
            n = clear_retained(host, port, prefix)
        except (OSError, TimeoutError) as exc:
            self.say(f"未能清除保留消息 / could not clear retained messages under {prefix}: {exc}")
        else:
            log.info("cleared %d retained messages under %s", n, prefix)

    def check_alive(self, stages: list[Stage]) -> None:
        for stage in stages:
            if stage.proc.poll() is not None:
                tail = stage.log_path.read_text(errors="replace")[-2000:]
                raise DemoError(
                    f"{stage.name} exited with code {stage.proc.returncode}; its log ends:\n{tail}"
                )

    def edge_config(self, workdir: Path, host: str, port: int, prefix: str) -> Path:
        from edge.config import config_from_town
        from gridwatch.town import load_town

        config_dir = self.settings.config_dir
        town = load_town(config_dir)
        cameras = self.cameras or demo_cameras(town.devices)
        if len(cameras) < 2:
            raise DemoError(
                f"{config_dir}: the demo needs two or more file cameras, found {cameras}"
            )
        water = demo_sensors(town)
        cfg = config_from_town(
            config_dir,
            cameras + water,
            sensor_sources=dict.fromkeys(water, DEMO_WATER),
            box_id=f"demo-box-{self.run_id}",
            snapshot_dir=workdir / "snapshots",
            start_offsets={c: i * STAGGER_S for i, c in enumerate(cameras)},
            mqtt={
                "host": host,
                "port": port,
                "prefix": prefix,
                "client_id_suffix": f".{self.run_id}",
            },
            state_dir=workdir / "edge-state",
        )
        # Read every second, so the demo's short run sees the level cross.
        sensors = [sen.model_copy(update={"interval_s": 1.0}) for sen in cfg.sensors]
        cfg = cfg.model_copy(update={"sensors": sensors})
        path = workdir / "edge.yaml"
        path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True))
        return path

    # ------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        from psycopg.conninfo import conninfo_to_dict

        from gateway.db.migrate import migrate

        workdir = make_workdir("gridwatch-demo-")
        stages: list[Stage] = []
        try:
            with (
                self.database(workdir) as (dsn, db_where),
                self.broker(workdir) as (
                    host,
                    port,
                    mq_where,
                ),
            ):
                prefix = f"{self.settings.topic_prefix}/demo-{self.run_id}"
                try:
                    http_port = self.http_port or free_port()
                    jwt_secret = secrets.token_urlsafe(48)
                    env = dict(os.environ)
                    env.update(
                        GRIDWATCH_DATABASE_URL=dsn,
                        GRIDWATCH_MQTT_HOST=host,
                        GRIDWATCH_MQTT_PORT=str(port),
                        GRIDWATCH_TOPIC_PREFIX=prefix,
                        GRIDWATCH_SHARE_GROUP=f"demo-{self.run_id}",
                        GRIDWATCH_HTTP_HOST="127.0.0.1",
                        GRIDWATCH_HTTP_PORT=str(http_port),
                        GRIDWATCH_CONFIG_DIR=str(Path(self.settings.config_dir).resolve()),
                        # A key of this run only: its tokens die with it.
                        GRIDWATCH_JWT_SECRET=jwt_secret,
                        # The gateway's evidence store, apart from the edge's snapshot_dir.
                        GRIDWATCH_SNAPSHOT_DIR=str(workdir / "gateway-snapshots"),
                        PYTHONUNBUFFERED="1",
                    )
                    migrate(dsn, service_role=self.settings.service_role)
                    token = self.duty_token(dsn, jwt_secret)
                    edge_yaml = self.edge_config(workdir, host, port, prefix)
                    stages.append(self.start_stage("gateway", ["gateway"], env, workdir))
                    stages.append(self.start_stage("dispatch", ["dispatch"], env, workdir))
                    url = f"http://127.0.0.1:{http_port}/"
                    self.wait_http(url + "health", stages)
                    self.say(f"值班令牌 / duty commander's token: {token}")
                    self.say(f"已登录控制台 / console, signed in: {url}#token={token}")
                    self.say(f"控制台 / console: {url}")
                    dbname = conninfo_to_dict(dsn).get("dbname")
                    self.say(
                        f"数据库 / database: {db_where} {dbname}, broker: {mq_where} {host}:{port}"
                    )
                    stages.append(
                        self.start_stage("edge", ["edge", "--config", str(edge_yaml)], env, workdir)
                    )
                    deadline = time.monotonic() + self.duration
                    while time.monotonic() < deadline:
                        self.check_alive(stages)
                        time.sleep(0.5)
                    self.stop_stages([stages.pop()])  # the edge: no new events, then drain
                    self.drain(dsn)
                    result = self.summary(dsn, edge_yaml)
                    result["evidence"] = self.evidence(
                        dsn, url, token, (host, port, prefix), stages
                    )
                    result.update(
                        console_url=url, database=db_where, broker=mq_where, run_id=self.run_id
                    )
                    return result
                finally:
                    # Inside the with: the stages go before their database and broker.
                    self.stop_stages(stages)
                    stages.clear()
                    if mq_where == "settings":
                        self.clear_retained(host, port, prefix)
        finally:
            self.stop_stages(stages)
            if not self.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                self.say(f"保留 / kept: {workdir}")

    def evidence(
        self, dsn: str, url: str, token: str, mqtt: tuple[str, int, str], stages: list[Stage]
    ) -> dict[str, Any]:
        """The evidence check (gridwatch/demo_evidence.py) against the running gateway."""
        from gridwatch.demo_evidence import check_evidence

        gateway_log = next(s.log_path for s in stages if s.name == "gateway")
        report = check_evidence(dsn, url, token, mqtt, gateway_log)
        self.say(
            f"存证 / evidence: {report.served_matching}/{report.case_snapshots} case snapshots"
            f" served with a matching sha256; tampered one refused: {report.tampered_refused},"
            f" logged: {report.tampered_logged}"
        )
        return report.as_dict()

    def duty_token(self, dsn: str, jwt_secret: str) -> str:
        """An account for the town's first duty commander, and a bearer token for it."""
        import psycopg

        from gateway.auth.config import token_config
        from gateway.auth.store import add_account
        from gateway.auth.tokens import issue_token
        from gridwatch.domain import Role
        from gridwatch.town import load_town

        town = load_town(self.settings.config_dir)
        commanders = sorted(
            p.id for p in town.people.values() if any(x.kind == "duty_commander" for x in p.posts)
        )
        if not commanders:
            raise DemoError("people.yaml names no duty commander for the demo's login")
        with psycopg.connect(dsn) as conn:
            add_account(conn, commanders[0], Role.DUTY_COMMANDER, secrets.token_urlsafe(24))
        settings = self.settings.model_copy(update={"jwt_secret": SecretStr(jwt_secret)})
        return issue_token(token_config(settings), commanders[0], ttl_s=int(self.duration) + 3600)

    def wait_http(self, url: str, stages: list[Stage], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(stages)
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise DemoError(f"the gateway did not answer {url} within {timeout:.0f} s")

    def drain(self, dsn: str, timeout: float = 20.0) -> None:
        """Wait until ingest has nothing in flight and the dispatcher's queue is empty."""
        import psycopg

        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM events), queued_for_dispatch()"
                ).fetchone()
            assert row is not None
            events, queued = int(row[0]), int(row[1])
            if queued == 0 and events == last:
                return
            last = events
            time.sleep(1.0)

    def summary(self, dsn: str, edge_yaml: Path) -> dict[str, Any]:
        """Counts from queries on this run's own rows."""
        import psycopg

        box = yaml.safe_load(edge_yaml.read_text())
        cameras = [c["id"] for c in box["cameras"]]
        per_camera: dict[str, dict[str, Any]] = {}
        per_sensor: dict[str, dict[str, Any]] = {}
        with psycopg.connect(dsn) as conn:
            events = conn.execute("SELECT count(*) FROM events").fetchone()
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()
            for cam in cameras:
                row = conn.execute(
                    """
                    SELECT count(*),
                           count(*) FILTER (WHERE score IS NOT NULL
                                            AND (snapshot_sha256 IS NOT NULL OR phase = 'end')),
                           count(*) FILTER (WHERE snapshot_sha256 IN (SELECT sha256 FROM snapshots))
                    FROM events WHERE device_id = %s
                    """,
                    (cam,),
                ).fetchone()
                case_rows = conn.execute(
                    """
                    SELECT DISTINCT c.id::text, c.unit_id, c.assignee
                    FROM cases c JOIN case_events ce ON ce.case_id = c.id
                    JOIN events e ON e.event_id = ce.event_id AND e.ts = ce.ts
                    WHERE e.device_id = %s
                    """,
                    (cam,),
                ).fetchall()
                assert row is not None
                per_camera[cam] = {
                    "events": int(row[0]),
                    "events_with_evidence": int(row[1]),
                    # Of those, the events whose snapshot the gateway holds (docs/evidence.md).
                    "snapshots_held": int(row[2]),
                    "cases": [{"id": r[0], "unit_id": r[1], "assignee": r[2]} for r in case_rows],
                }
            for sen in (s["id"] for s in box.get("sensors", [])):
                counts = conn.execute(
                    "SELECT (SELECT count(*) FROM readings WHERE device_id = %s),"
                    " (SELECT count(*) FROM events WHERE device_id = %s)",
                    (sen, sen),
                ).fetchone()
                assert counts is not None
                per_sensor[sen] = {"readings": int(counts[0]), "events": int(counts[1])}
        assert events is not None and cases is not None
        return {
            "events": int(events[0]),
            "cases": int(cases[0]),
            "cameras": per_camera,
            "sensors": per_sensor,
        }


def demo_cameras(devices: Any) -> list[str]:
    """The town's cameras that replay a file or bundled asset, in id order."""
    return sorted(
        d.id
        for d in devices.values()
        if d.kind == "camera" and (d.stream or "").startswith(("asset://", "file://"))
    )


def demo_sensors(town: Any) -> list[str]:
    """The demo's one simulated sensor: the first water level whose unit has a leader."""
    areas = town.hierarchy.areas
    return sorted(
        d.id
        for d in town.devices.values()
        if d.sensor_type == "water_level" and areas[d.unit].leader is not None
    )[:1]


def _with_dbname(dsn: str, dbname: str) -> str:
    import psycopg

    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)


def _redact(dsn: str) -> str:
    import psycopg

    if psycopg.conninfo.conninfo_to_dict(dsn).get("password"):
        return psycopg.conninfo.make_conninfo(dsn, password="***")
    return dsn


def main_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, sort_keys=True)
