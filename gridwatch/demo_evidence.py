"""The demo's evidence check, run against its live gateway before it stops.

Three things a disputed case depends on (docs/evidence.md): every snapshot that a
case's events name (frame and crop) is held by the gateway; the API serves each
one with bytes that hash to that name; and a snapshot with one byte changed is
refused by the gateway and logged. The counts go into the demo's summary.
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: A case's events and every hash they name: the frame's, and the crop's in ``extra``.
CASE_HASHES = """
SELECT DISTINCT e.device_id, h.sha256
FROM cases c
JOIN case_events ce ON ce.case_id = c.id
JOIN events e ON e.event_id = ce.event_id AND e.ts = ce.ts
CROSS JOIN LATERAL (VALUES (e.snapshot_sha256), (e.extra -> 'crop' ->> 'sha256')) AS h (sha256)
WHERE h.sha256 IS NOT NULL
ORDER BY 1, 2
"""


class EvidenceCheckError(RuntimeError):
    """The check could not run at all; the message says which step failed."""


@dataclass(frozen=True, slots=True)
class EvidenceReport:
    #: Distinct hashes the cases' events name.
    case_snapshots: int
    #: Of those, the ones in the gateway's ``snapshots`` table.
    held: int
    #: Of those, the ones the API served with bytes that hash to their name.
    served_matching: int
    #: The hashes named but never held or not served as named (empty when all is well).
    missing: tuple[str, ...]
    #: The gateway answered the tampered upload with ``refused`` naming it.
    tampered_refused: bool
    #: A dead letter of kind ``snapshot`` and the gateway's log both name it.
    tampered_logged: bool

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["missing"] = list(self.missing)
        return out


def flip_one_byte(data: bytes) -> bytes:
    """The same bytes with one bit of the middle byte changed."""
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1 :]


def case_hashes(dsn: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [(str(d), str(h)) for d, h in conn.execute(CASE_HASHES)]


def _held(dsn: str, shas: list[str]) -> set[str]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT sha256 FROM snapshots WHERE sha256 = ANY(%s)", (shas,))
        return {str(r[0]) for r in rows}


def wait_held(dsn: str, shas: list[str], timeout: float) -> set[str]:
    """The hashes the gateway holds, waiting up to ``timeout`` for late arrivals."""
    deadline = time.monotonic() + timeout
    held = _held(dsn, shas)
    while len(held) < len(set(shas)) and time.monotonic() < deadline:
        time.sleep(0.5)
        held = _held(dsn, shas)
    return held


def fetch(api_url: str, token: str, sha256: str) -> bytes | None:
    """The API's bytes for one snapshot, or None when it does not serve them."""
    req = urllib.request.Request(
        f"{api_url}api/v1/snapshots/{sha256}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read()) if resp.status == 200 else None
    except urllib.error.HTTPError:
        return None


def send_tampered(
    host: str, port: int, prefix: str, device_id: str, sha256: str, data: bytes, timeout: float
) -> bool:
    """Upload ``data`` with one byte changed under ``sha256``, as ``device_id`` would;
    True when the gateway's ``SnapshotAck`` names the hash as refused."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from gateway.contract import MessageKind, SnapshotAck, SnapshotUpload, dumps, parse, topic

    refused = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        ack = parse(MessageKind.SNAPSHOT_ACK, msg.payload)
        if isinstance(ack, SnapshotAck) and sha256 in ack.refused:
            refused.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"demo-tamper-{device_id}-{sha256[:8]}"
    )
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(topic(prefix, device_id, MessageKind.SNAPSHOT_ACK), qos=1)
        if not subscribed.wait(10):
            raise EvidenceCheckError(f"broker {host}:{port} did not confirm the subscription")
        upload = SnapshotUpload(
            device_id=device_id,
            ts=datetime.now(UTC),
            sha256=sha256,
            data=base64.b64encode(flip_one_byte(data)).decode("ascii"),
        )
        client.publish(topic(prefix, device_id, MessageKind.SNAPSHOT), dumps(upload), qos=1)
        return refused.wait(timeout)
    finally:
        client.loop_stop()
        client.disconnect()


def tamper_logged(dsn: str, sha256: str, gateway_log: Path, timeout: float = 10.0) -> bool:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM dead_letters WHERE kind = 'snapshot' AND reason LIKE %s",
                (f"%{sha256}%",),
            ).fetchone()
        lettered = row is not None and int(row[0]) > 0
        logged = sha256 in gateway_log.read_text(errors="replace")
        if (lettered and logged) or time.monotonic() >= deadline:
            return lettered and logged
        time.sleep(0.3)


def check_evidence(
    dsn: str,
    api_url: str,
    token: str,
    mqtt: tuple[str, int, str],
    gateway_log: Path,
    *,
    timeout: float = 20.0,
) -> EvidenceReport:
    """Run the three checks against a running gateway (``api_url`` ends in ``/``)."""
    named = case_hashes(dsn)
    shas = sorted({sha for _, sha in named})
    held = wait_held(dsn, shas, timeout)
    served: dict[str, bytes] = {}
    for sha in sorted(held):
        data = fetch(api_url, token, sha)
        if data is not None and hashlib.sha256(data).hexdigest() == sha:
            served[sha] = data
    refused = logged = False
    if served:
        sha = min(served)
        device = next(d for d, s in named if s == sha)
        host, port, prefix = mqtt
        refused = send_tampered(host, port, prefix, device, sha, served[sha], timeout)
        logged = tamper_logged(dsn, sha, gateway_log)
    return EvidenceReport(
        case_snapshots=len(shas),
        held=len(held),
        served_matching=len(served),
        missing=tuple(s for s in shas if s not in served),
        tampered_refused=refused,
        tampered_logged=logged,
    )
