"""A broker of the test's own from ``gridwatch broker config``, with a CA made here by openssl."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gridwatch.cli import main
from gridwatch.mqtt_tls import MqttTls, apply_login
from gridwatch.services import EmbeddedMosquitto, free_port, make_workdir

PREFIX = "gw"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(tls: Path) -> None:
    """ca.crt, and server.crt for 127.0.0.1 signed by it."""
    tls.mkdir(parents=True, exist_ok=True)
    key, crt = str(tls / "ca.key"), str(tls / "ca.crt")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=gridwatch test CA", "-keyout", key, "-out", crt)  # fmt: skip
    (tls / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sign(tls, "server", "127.0.0.1", ext=tls / "san.ext")


def sign(tls: Path, name: str, cn: str, ext: Path | None = None) -> MqttTls:
    """A key and certificate with common name ``cn``, signed by the CA in ``tls``."""
    key, csr, crt = (tls / f"{name}.{x}" for x in ("key", "csr", "crt"))
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
             "-keyout", str(key), "-out", str(csr))  # fmt: skip
    extra = ["-extfile", str(ext)] if ext else []
    ca = ["-CA", str(tls / "ca.crt"), "-CAkey", str(tls / "ca.key"), "-CAcreateserial"]
    _openssl("x509", "-req", "-in", str(csr), *ca, "-days", "2", "-out", str(crt), *extra)
    return MqttTls(tls / "ca.crt", crt, key)


@dataclass
class SecuredBroker:
    dir: Path
    tls_port: int
    mtls_port: int
    proc: EmbeddedMosquitto | None = None
    creds: dict[str, str] = field(default_factory=dict)

    @property
    def ca(self) -> MqttTls:
        return MqttTls(self.dir / "tls" / "ca.crt")

    def generate(self, *extra: str) -> dict[str, str]:
        args = ["broker", "config", "--out", str(self.dir), "--town", str(CONFIG_DIR)]
        args += ["--prefix", PREFIX, "--tls-port", str(self.tls_port)]
        assert main([*args, "--mtls-port", str(self.mtls_port), *extra]) == 0
        self.creds = yaml.safe_load((self.dir / "credentials.yaml").read_text())
        return self.creds


@pytest.fixture
def secured_broker() -> Iterator[SecuredBroker]:
    """A Mosquitto of this test's own, started from the generated mosquitto.conf."""
    if shutil.which("mosquitto") is None or shutil.which("openssl") is None:
        pytest.skip("needs Debian's mosquitto and openssl")
    work = make_workdir("gridwatch-broker-")
    # Mosquitto started as root drops to its own user before it reads the files.
    os.chmod(work, 0o755)
    b = SecuredBroker(work, free_port(), free_port())
    make_ca(work / "tls")
    b.generate()
    if os.geteuid() == 0:
        pw = pwd.getpwnam("mosquitto")
        os.chown(work / "tls" / "server.key", pw.pw_uid, pw.pw_gid)
    b.proc = EmbeddedMosquitto(work, port=b.tls_port, config=work / "mosquitto.conf").start()
    try:
        yield b
    finally:
        b.proc.stop()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Session:
    """One MQTT client and what it saw: the CONNACK, SUBACKs and messages."""

    client: Any
    connack: str | None = None
    subacks: list[str] = field(default_factory=list)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)

    def subscribe(self, filt: str) -> str:
        self.event.clear()
        self.client.subscribe(filt, qos=1)
        assert self.event.wait(5), f"no SUBACK for {filt}"
        return self.subacks[-1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    port: int,
    user: str | None,
    password: str | None,
    tls: MqttTls | None,
    *,
    client_id: str | None = None,
    wait_s: float = 5.0,
) -> Session:
    """Connect and wait for the CONNACK (``connack`` None: none came within ``wait_s``)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or user or "", protocol=mqtt.MQTTv311
    )
    s = Session(client)
    connected = threading.Event()

    def on_connect(c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        s.connack = str(rc)
        connected.set()

    def on_subscribe(c: Any, u: Any, mid: int, rcs: Any, props: Any) -> None:
        s.subacks.extend(str(r) for r in rcs)
        s.event.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda c, u, m: s.received.append((m.topic, bytes(m.payload)))
    apply_login(client, username=user, password=password, tls=tls)
    client.connect_async("127.0.0.1", port)
    client.loop_start()
    connected.wait(wait_s)
    return s


def wait_until(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())
