"""Every long-running command stops cleanly on SIGTERM and on SIGINT within 10 s.

systemd, Docker and ``timeout`` stop a program with SIGTERM, a person with Ctrl-C
(SIGINT). Each command here runs as a real process against this run's own database and
topic prefix, is sent the signal once it serves its metrics (so it is past start-up and
in its loop), and must exit by itself: with code 0 or 130, not killed by the signal, and
with no traceback in its log.
"""

from __future__ import annotations

import shutil
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from gateway.db.migrate import migrate
from gridwatch.services import free_port
from gridwatch.settings import Settings
from tests.metrics_support import Service, service_env

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
#: The budget a service manager gives between SIGTERM and SIGKILL (systemd's default is
#: 90 s, Docker's 10 s: the tighter one).
STOP_BUDGET_S = 10.0

#: The commands; all but the gateway (whose /metrics is on its HTTP port) with
#: ``--metrics-port 0``, whose log line says they are up.
COMMANDS = {
    "gateway": ["gateway", "--session-expiry", "0"],
    "gateway --no-api": ["gateway", "--no-api", "--session-expiry", "0"],
    "dispatch": ["dispatch", "--metrics-port", "0"],
    "deliver": ["deliver", "--worker", "signals", "--metrics-port", "0"],
    "edge": ["edge", "--town", str(CONFIG), "--camera", "cam-demo-1", "--metrics-port", "0"],
}


def _wait_healthy(url: str, svc: Service, timeout_s: float = 90) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert svc.proc.poll() is None, f"exited {svc.proc.returncode}: {svc.lines[-20:]}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not healthy within {timeout_s} s: {svc.lines[-20:]}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_long_running_command_stops_on_a_signal_within_ten_seconds(
    command: str,
    sig: signal.Signals,
    fresh_db: str,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
    share_group: str,
    tmp_path: Path,
) -> None:
    migrate(fresh_db)
    http_port = free_port()
    env = service_env(fresh_db, mqtt_broker, topic_prefix, share_group, CONFIG) | {
        "GRIDWATCH_HTTP_PORT": str(http_port),
        "GRIDWATCH_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "GRIDWATCH_JWT_SECRET": "signals-test-secret-of-at-least-32-bytes",
    }
    args = COMMANDS[command]
    box = f"edge-signals-{uuid.uuid4().hex[:8]}"
    if command == "edge":
        # Its own box id: its outbox and counters under the cache folder, removed after.
        args = [*args, "--box-id", box, "--snapshot-dir", str(tmp_path / "edge-snapshots")]
    svc = Service(args, env)
    try:
        if command == "gateway":
            _wait_healthy(f"http://127.0.0.1:{http_port}/health", svc)
        else:
            svc.metrics_url(timeout_s=90)
        time.sleep(1.0)  # into its loop: a batch, a frame or a poll under way
        sent = time.monotonic()
        svc.proc.send_signal(sig)
        try:
            code = svc.proc.wait(STOP_BUDGET_S)
        except Exception:
            svc.proc.kill()
            raise AssertionError(
                f"{command} still running {STOP_BUDGET_S} s after {sig.name}: "
                + "\n".join(svc.lines[-20:])
            ) from None
        took = time.monotonic() - sent
    finally:
        svc.stop()
        shutil.rmtree(Path(Settings().cache_dir) / "edge" / box, ignore_errors=True)
    log = "\n".join(svc.lines)
    assert code in (0, 130), f"{command} exited {code} after {sig.name}:\n{log[-3000:]}"
    assert "Traceback" not in log, log[-3000:]
    print(f"{command} stopped {took:.2f} s after {sig.name}, exit {code}")
