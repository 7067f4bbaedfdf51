"""Edge, broker and gateway together: a Modbus sensor opens a case, a killed box goes
offline in device_status, and a line crossing's start and end are both stored."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from edge.config import EdgeConfig, config_from_town
from gateway.process import Gateway
from gridwatch.services import free_port
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.gateway.conftest import Publisher, dispatch_all, scalar, wait_for

CONFIG = Path(__file__).parent.parent.parent / "config"
#: Modbus holding register of the water level, in centimetres.
LEVEL_REGISTER = 10


class ModbusServer:
    """A real pymodbus TCP server on a thread of its own, with 100 holding registers."""

    def __init__(self) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        self.port = free_port()
        self._device = SimDevice(
            id=1, simdata=SimData(address=0, count=100, values=0, datatype=DataType.REGISTERS)
        )
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the Modbus server did not start"

    def _run(self) -> None:
        from pymodbus.server import ModbusTcpServer

        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            self._server = ModbusTcpServer(self._device, address=("127.0.0.1", self.port))
            self._loop.call_later(0.2, self._ready.set)
            await self._server.serve_forever()

        self._loop.run_until_complete(serve())

    def write(self, address: int, value: int) -> None:
        """What the field device does: put a new value in its register."""
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient("127.0.0.1", port=self.port, timeout=2, retries=0)
        try:
            assert client.connect()  # type: ignore[no-untyped-call]
            assert not client.write_register(address, value, device_id=1).isError()
        finally:
            client.close()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def modbus() -> Iterator[ModbusServer]:
    server = ModbusServer()
    try:
        yield server
    finally:
        server.close()


def mqtt_section(settings: Settings, **extra: Any) -> dict[str, Any]:
    return {
        "host": settings.mqtt_host,
        "port": settings.mqtt_port,
        "prefix": settings.topic_prefix,
        # Client ids are global on the broker: keep them apart from concurrent runs.
        "client_id_suffix": "-" + settings.topic_prefix.replace("/", "-"),
        **extra,
    }


def water_sensor(town: Town) -> str:
    """A water-level sensor of the town whose unit has a leader to assign a case to."""
    areas = town.hierarchy.areas
    return min(
        d
        for d, dev in town.devices.items()
        if dev.sensor_type == "water_level" and areas[dev.unit].leader is not None
    )


def sensor_box(
    town_dir: Path, sensor_id: str, settings: Settings, tmp_path: Path, source: dict[str, Any]
) -> EdgeConfig:
    cfg = config_from_town(
        town_dir,
        [sensor_id],
        sensor_sources={sensor_id: source},
        snapshot_dir=tmp_path / "snaps",
        state_dir=tmp_path / "state",
        status_interval_s=0.5,
        mqtt=mqtt_section(settings, keepalive_s=5),
    )
    fast = [s.model_copy(update={"interval_s": 0.2}) for s in cfg.sensors]
    return cfg.model_copy(update={"sensors": fast})


def test_modbus_register_past_its_threshold_opens_a_case_for_the_sensors_unit(
    town_gateway: Gateway, town: Town, modbus: ModbusServer, tmp_path: Path
) -> None:
    from edge.agent import EdgeAgent

    sid = water_sensor(town)
    unit = town.devices[sid].unit
    source = {
        "type": "modbus",
        "host": "127.0.0.1",
        "port": modbus.port,
        "address": LEVEL_REGISTER,
        "scale": 0.01,
    }
    cfg = sensor_box(CONFIG, sid, town_gateway.settings, tmp_path, source)
    dsn = town_gateway.settings.database_url
    modbus.write(LEVEL_REGISTER, 40)  # 0.40 m: well below the 1.0 m threshold
    agent = EdgeAgent(cfg)
    agent.start()
    try:
        wait_for(
            lambda: scalar(dsn, "SELECT count(*) FROM readings WHERE device_id = %s", (sid,)) >= 3,
            what="readings of the quiet level",
        )
        assert scalar(dsn, "SELECT count(*) FROM events") == 0
        modbus.write(LEVEL_REGISTER, 135)  # 1.35 m
        wait_for(
            lambda: scalar(dsn, "SELECT count(*) FROM events WHERE device_id = %s", (sid,)),
            what="the threshold event",
        )
    finally:
        agent.stop()
    with psycopg.connect(dsn) as conn:
        rule, category, phase, summary = conn.execute(
            "SELECT rule, category, phase, summary FROM events WHERE device_id = %s", (sid,)
        ).fetchone() or (None, None, None, None)
        values = [
            r[0]
            for r in conn.execute(
                "SELECT value FROM readings WHERE device_id = %s AND sensor = 'water_level'"
                " ORDER BY ts",
                (sid,),
            )
        ]
    assert (rule, category, phase) == ("sensor_threshold", "flood", "start")
    assert summary is not None and "1.35" in summary
    assert values[0] == pytest.approx(0.40) and values[-1] == pytest.approx(1.35)

    cases = dispatch_all(dsn, town, town_gateway.settings)
    leader = town.hierarchy.areas[unit].leader
    assert leader is not None
    assert cases == [(unit, leader.person_id, "flood")]


def test_edge_killed_with_sigkill_is_offline_in_device_status_within_the_keepalive(
    town_gateway: Gateway, town: Town, tmp_path: Path
) -> None:
    sid = water_sensor(town)
    cfg = sensor_box(
        CONFIG, sid, town_gateway.settings, tmp_path, {"type": "simulated", "start": 0.3}
    )
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    dsn = town_gateway.settings.database_url
    state = "SELECT state FROM device_status WHERE device_id = %s"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridwatch.cli", "edge", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        wait_for(lambda: scalar(dsn, state, (sid,)) == "online", timeout=60, what="online")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    killed = time.monotonic()
    # The broker gives up on a silent client after 1.5 keep-alives (MQTT 3.1.1, 3.1.2.10).
    wait_for(lambda: scalar(dsn, state, (sid,)) == "offline", timeout=7.5, what="offline")
    assert time.monotonic() - killed <= 7.5
    detail = scalar(dsn, "SELECT detail FROM device_status WHERE device_id = %s", (sid,))
    assert detail == "connection lost (last will)"


def test_a_line_crossing_stores_both_its_start_and_its_end(
    town_gateway: Gateway, town: Town, publisher: Publisher
) -> None:

    from detectors.rules.line import LineCrossing
    from detectors.tracking import Track
    from edge.camera import EventIds, hit_to_event
    from gateway.contract import dumps
    from gridwatch.camera_rules import LineRule

    cam = min(d for d, dev in town.devices.items() if dev.kind == "camera")
    rule = LineRule.model_validate({"line": [[200, 0], [200, 400]]})
    crossing = LineCrossing(rule, "line0", town_gateway.settings.zone)
    t0 = datetime.now(UTC)
    hits = []
    for i, x in enumerate((150.0, 180.0, 220.0, 250.0)):
        ts = t0 + timedelta(seconds=i * 0.2)
        box = (x - 20, 120.0, x + 20, 200.0)
        hits += crossing.step(ts, [Track(1, "person", 0.9, box, t0, ts, 0.9)])
    assert [h.phase for h in hits] == ["start", "end"]
    ids = EventIds()
    for seq, hit in enumerate(hits, start=1):
        event = hit_to_event(hit, device_id=cam, seq=seq, event_id=ids.for_hit(hit))
        publisher.send(cam, "event", dumps(event))
    dsn = town_gateway.settings.database_url
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM events") >= 2, what="start and end")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT event_id, phase FROM events ORDER BY ts").fetchall()
    assert [r[1] for r in rows] == ["start", "end"]
    assert rows[0][0] == rows[1][0]
