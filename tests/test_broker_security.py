"""The broker that ``gridwatch broker config`` sets up lets only the right boxes in.

Each test runs a real Mosquitto of its own from the generated files, over TLS
with a CA made by the test. The gateway's own check, that a payload's device owns
its topic, is tested in tests/gateway/test_ingest.py and tests/gateway/test_classify.py.
"""

from __future__ import annotations

import socket
import ssl
import stat

import pytest

from gridwatch.broker import DELIVERY_USER, GATEWAY_USER
from gridwatch.services import mqtt_reachable
from tests.broker_support import (
    PREFIX,
    SecuredBroker,
    connect,
    make_ca,
    secured_broker,
    sign,
    wait_until,
)

pytestmark = pytest.mark.services
__all__ = ["secured_broker"]

A, B = "cam-demo-1", "cam-demo-2"


def dev(device: str, kind: str) -> str:
    return f"{PREFIX}/v1/dev/{device}/{kind}"


@pytest.mark.parametrize(
    ("user", "password"),
    [("cam-unknown-7", "whatever"), (A, "wrong-password"), (None, None), (A, None)],
    ids=["unknown device", "wrong password", "anonymous", "no password"],
)
def test_the_broker_refuses_a_login_it_does_not_know(
    secured_broker: SecuredBroker, user: str | None, password: str | None
) -> None:
    s = connect(secured_broker.tls_port, user, password, secured_broker.ca)
    assert s.connack == "Not authorized"
    s.close()
    ok = connect(secured_broker.tls_port, A, secured_broker.creds[A], secured_broker.ca)
    assert ok.connack == "Success"
    ok.close()


def test_a_device_publishes_only_on_its_own_topics(secured_broker: SecuredBroker) -> None:
    b = secured_broker
    gw = connect(b.tls_port, GATEWAY_USER, b.creds[GATEWAY_USER], b.ca)
    assert gw.connack == "Success"
    assert gw.subscribe(f"$share/gridwatch/{PREFIX}/v1/dev/+/event") == "Granted QoS 1"
    cam = connect(b.tls_port, A, b.creds[A], b.ca)
    # The client id is the client's to choose: taking B's does not give B's topics.
    spoof = connect(b.tls_port, A, b.creds[A], b.ca, client_id=B)
    assert cam.connack == spoof.connack == "Success"
    # Mosquitto drops an unauthorised QoS 1 publish silently (a PUBACK all the same).
    cam.client.publish(dev(B, "event"), b"as B", qos=1).wait_for_publish(5)
    spoof.client.publish(dev(B, "event"), b"as B by client id", qos=1).wait_for_publish(5)
    cam.client.publish(dev(A, "event"), b"as A", qos=1).wait_for_publish(5)
    assert wait_until(lambda: any(p == b"as A" for _, p in gw.received))
    assert gw.received == [(dev(A, "event"), b"as A")]
    for s in (gw, cam, spoof):
        s.close()


def test_a_device_reads_only_its_own_ack_and_refusal(secured_broker: SecuredBroker) -> None:
    b = secured_broker
    cam = connect(b.tls_port, A, b.creds[A], b.ca)
    # Mosquitto 2.0 grants any subscription and checks read rights per message.
    for filt in (dev(A, "ack"), dev(B, "ack"), f"{PREFIX}/v1/dev/+/event", dev(B, "refusal")):
        cam.subscribe(filt)
    cam.subscribe(dev(A, "refusal"))
    gw = connect(b.tls_port, GATEWAY_USER, b.creds[GATEWAY_USER], b.ca)
    other = connect(b.tls_port, B, b.creds[B], b.ca)
    other.client.publish(dev(B, "event"), b"B's event", qos=1).wait_for_publish(5)
    gw.client.publish(dev(B, "ack"), b"for B", qos=1).wait_for_publish(5)
    gw.client.publish(dev(A, "ack"), b"for A", qos=1).wait_for_publish(5)
    assert wait_until(lambda: bool(cam.received))
    assert cam.received == [(dev(A, "ack"), b"for A")]
    # The delivery worker writes notices, not acks.
    deliver = connect(b.tls_port, DELIVERY_USER, b.creds[DELIVERY_USER], b.ca)
    deliver.client.publish(dev(A, "ack"), b"forged", qos=1).wait_for_publish(5)
    gw.client.publish(dev(A, "ack"), b"again", qos=1).wait_for_publish(5)
    assert wait_until(lambda: len(cam.received) == 2)
    assert [p for _, p in cam.received] == [b"for A", b"again"]
    gw.client.publish(dev(B, "refusal"), b"why B", qos=1).wait_for_publish(5)
    gw.client.publish(dev(A, "refusal"), b"why A", qos=1).wait_for_publish(5)
    assert wait_until(lambda: len(cam.received) == 3)
    assert cam.received[2] == (dev(A, "refusal"), b"why A")
    for s in (cam, gw, deliver, other):
        s.close()


def test_the_tls_port_refuses_a_client_without_tls(secured_broker: SecuredBroker) -> None:
    b = secured_broker
    assert not mqtt_reachable("127.0.0.1", b.tls_port)
    plain = connect(b.tls_port, A, b.creds[A], None, wait_s=2)
    assert plain.connack is None
    plain.close()
    # A client checks the broker too: under another CA the handshake fails.
    make_ca(b.dir / "other")
    ctx = ssl.create_default_context(cafile=str(b.dir / "other" / "ca.crt"))
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", b.tls_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass


def test_a_client_certificate_logs_in_as_its_common_name(secured_broker: SecuredBroker) -> None:
    b = secured_broker
    tls = b.dir / "tls"
    gw = connect(b.tls_port, GATEWAY_USER, b.creds[GATEWAY_USER], b.ca)
    gw.subscribe(f"{PREFIX}/v1/dev/+/status")
    cam = connect(b.mtls_port, None, None, sign(tls, "client-a", A))
    assert cam.connack == "Success"
    cam.client.publish(dev(B, "status"), b"as B", qos=1).wait_for_publish(5)
    cam.client.publish(dev(A, "status"), b"as A", qos=1).wait_for_publish(5)
    assert wait_until(lambda: bool(gw.received))
    assert gw.received == [(dev(A, "status"), b"as A")]
    # Without a certificate the certificate port lets nobody in, password or not.
    nocert = connect(b.mtls_port, A, b.creds[A], b.ca, wait_s=2)
    assert nocert.connack is None
    for s in (gw, cam, nocert):
        s.close()


def test_rerunning_keeps_passwords_and_rotate_replaces_the_named_ones(
    secured_broker: SecuredBroker,
) -> None:
    b = secured_broker
    first = dict(b.creds)
    path = b.dir / "credentials.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((b.dir / "passwd").stat().st_mode) == 0o600
    assert b.generate() == first
    rotated = b.generate("--rotate", A)
    assert rotated[A] != first[A]
    assert {k: v for k, v in rotated.items() if k != A} == {
        k: v for k, v in first.items() if k != A
    }
    everything = b.generate("--rotate")
    assert all(everything[k] != rotated[k] for k in rotated)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The broker reads the new files on SIGHUP: the old password stops working.
    assert b.proc is not None and b.proc.proc is not None
    b.proc.proc.send_signal(1)
    assert wait_until(lambda: _connack(b, A, rotated[A]) == "Not authorized")
    assert _connack(b, A, everything[A]) == "Success"


def _connack(b: SecuredBroker, user: str, password: str) -> str | None:
    s = connect(b.tls_port, user, password, b.ca, wait_s=1)
    s.close()
    return s.connack
