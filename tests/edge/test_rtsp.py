"""A camera on a real RTSP server on loopback: offline when the stream stops, back after."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config import parse_edge_config
from gateway.contract import MessageKind, Status, parse
from gridwatch.services import free_port
from tests.edge.conftest import Collector

RTSP_SERVER = Path(sys.executable).parent / "rtsp-server"


@pytest.fixture(scope="module")
def h264_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 s H.264 clip (320x240, 10 fps, a square moving on noise) for the server."""
    import av

    folder = tmp_path_factory.mktemp("rtsp")
    rng = np.random.default_rng(1)
    base = rng.integers(0, 80, (240, 320, 3), dtype=np.uint8)
    with av.open(str(folder / "cam.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(600):
            img = base.copy()
            x = (i * 4) % 280
            img[100:140, x : x + 40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return folder


class RtspServer:
    def __init__(self, folder: Path, port: int, control: int, log_dir: Path) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [str(RTSP_SERVER), "-d", str(folder), "-H", "127.0.0.1", "-p", str(port),
             "-cp", str(control), "-ld", str(log_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import socket

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"rtsp-server did not listen on {port}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def rtsp(h264_dir: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"port": free_port(), "control": free_port()}
    state["start"] = lambda: RtspServer(h264_dir, state["port"], state["control"], tmp_path)
    state["server"] = state["start"]()
    try:
        yield state
    finally:
        state["server"].stop()


def _status(
    collector: Collector, state: str, after: float, timeout: float, *, moving: bool = False
) -> Status | None:
    def pred(m: Any) -> bool:
        if not m.topic.endswith("cam-r/status") or m.at < after:
            return False
        s = parse(MessageKind.STATUS, m.payload)
        ok = isinstance(s, Status) and s.state == state
        # The first online status comes with the first frame, before any rate is known.
        return ok and (not moving or (isinstance(s, Status) and (s.fps or 0) > 0))

    got = collector.wait_for(pred, timeout)
    if got is None:
        return None
    s = parse(MessageKind.STATUS, got.payload)
    assert isinstance(s, Status)
    return s


@pytest.mark.slow
@pytest.mark.faults
def test_rtsp_camera_reported_offline_when_the_stream_stops_and_back_when_it_returns(
    rtsp: dict[str, Any],
    tmp_path: Path,
    collector: Collector,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
) -> None:
    from edge.agent import EdgeAgent

    host, port = mqtt_broker
    cfg = parse_edge_config(
        {
            "box_id": "box-rtsp",
            "mqtt": {"host": host, "port": port, "prefix": topic_prefix,
                     "client_id_suffix": "-" + topic_prefix.replace("/", "-")},
            "snapshot_dir": str(tmp_path / "snaps"),
            "state_dir": str(tmp_path / "state"),
            "status_interval_s": 0.5,
            "detector": {"name": "motion"},
            "cameras": [{"id": "cam-r", "stream": f"rtsp://127.0.0.1:{rtsp['port']}/cam.mp4"}],
        }
    )  # fmt: skip
    agent = EdgeAgent(cfg)
    agent.start()
    try:
        t0 = time.time()
        online = _status(collector, "online", t0, 30, moving=True)
        assert online is not None, "never online"
        assert online.fps is not None and online.fps > 0 and online.last_frame_ts is not None
        rtsp["server"].stop()
        t1 = time.time()
        offline = _status(collector, "offline", t1, 30)
        assert offline is not None, "still online after the RTSP server stopped"
        assert offline.detail is not None and "cam-r" in offline.detail
        rtsp["server"] = rtsp["start"]()
        again = _status(collector, "online", time.time(), 45)
        assert again is not None, "did not reconnect when the stream returned"
        assert agent.cameras[0].source is not None
        assert agent.cameras[0].source.stats().reconnects >= 1
    finally:
        agent.stop()
