"""Mosquitto's password, ACL and listener files for a town's devices: pure text from inputs.

Every device logs in with its own user name, its device id, and publishes only
below its own topics; the ACL is one set of ``pattern`` lines on ``%u`` for all
devices, so adding a device adds one password line and no ACL line. ``%u``
rather than ``%c``: the broker authenticates the user name (password, or the
certificate's CN with ``use_identity_as_username``) but takes the client id on
trust, so a box holding one camera's password could pick another camera's id.
Service accounts (gateway, delivery worker) get ``user`` blocks of their own.

``gridwatch broker config`` (gridwatch.commands.broker) does the file I/O.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.contract import CONTRACT_MAJOR, DEVICE_ID_PATTERN, MAX_BYTES, MessageKind

#: The account the gateway logs in with: reads every device topic, writes acks and refusals.
GATEWAY_USER = "gridwatch-gateway"
#: The account the delivery worker logs in with: writes person notices.
DELIVERY_USER = "gridwatch-deliver"
SERVICE_USERS = (GATEWAY_USER, DELIVERY_USER)

#: Kinds a device publishes (its last will is a status, so it needs that too).
DEVICE_WRITES = (MessageKind.EVENT, MessageKind.BATCH, MessageKind.STATUS, MessageKind.SNAPSHOT)
#: Kinds a device reads, all written by the gateway: its ack, its snapshot ack, its
#: refusals and pushed config.
DEVICE_READS = (MessageKind.ACK, MessageKind.SNAPSHOT_ACK, MessageKind.REFUSAL, MessageKind.CONFIG)

#: mosquitto_passwd's default. The passwords are 32 random bytes, so stretching
#: adds nothing against guessing, and the broker pays it on every CONNECT (a
#: restart brings every camera of the town back at once).
PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12
_USER_RE = re.compile(DEVICE_ID_PATTERN)


class BrokerConfigError(ValueError):
    """Inputs that cannot make a broker config; the message names the value."""


@dataclass(frozen=True)
class Limits:
    """Mosquitto applies these to every client alike; it has no per-user limits."""

    #: The largest contract message (a batch) plus room for the topic and headers.
    max_packet_size: int = MAX_BYTES["batch"] + 64 * 1024
    #: The gateway acks only after its batch commits, so thousands are in flight to it.
    max_inflight_messages: int = 10_000
    #: Per offline or slow client; beyond it QoS 1 messages are dropped (the edge
    #: outbox resends what the gateway never acked).
    max_queued_messages: int = 1_000_000
    max_queued_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Listeners:
    """Ports and TLS files; a port of 0 leaves that listener out."""

    tls_port: int = 8883
    #: Client certificates required, CN used as the user name (no password).
    mtls_port: int = 0
    #: Plain MQTT, bound to loopback only: a gateway on the broker's host.
    plain_port: int = 0
    bind: str = "0.0.0.0"
    cafile: Path = Path("tls/ca.crt")
    certfile: Path = Path("tls/server.crt")
    keyfile: Path = Path("tls/server.key")


def new_password() -> str:
    return secrets.token_urlsafe(32)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Mosquitto 2's ``$7$`` format: PBKDF2-HMAC-SHA512, as ``mosquitto_passwd`` writes."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def check_users(device_ids: Iterable[str]) -> list[str]:
    """The device ids sorted; a clash with a service account or a bad id is an error."""
    ids = sorted(set(device_ids))
    for d in ids:
        if not _USER_RE.match(d):
            raise BrokerConfigError(f"device id {d!r} does not match {DEVICE_ID_PATTERN}")
        if d in SERVICE_USERS:
            raise BrokerConfigError(
                f"device id {d!r} is a service account's user name; rename the device"
            )
    return ids


def merge_credentials(
    existing: Mapping[str, str], users: Iterable[str], rotate: Iterable[str] = ()
) -> dict[str, str]:
    """Each user's password: kept from ``existing`` unless rotated, new where missing.

    Users no longer listed (devices removed from the registry) are dropped, so
    their passwords stop working at the next broker reload.
    """
    rotated = set(rotate)
    return {u: existing[u] if u in existing and u not in rotated else new_password() for u in users}


def passwd_text(credentials: Mapping[str, str]) -> str:
    return "".join(f"{u}:{hash_password(p)}\n" for u, p in sorted(credentials.items()))


def acl_text(prefix: str) -> str:
    """Mosquitto's acl_file: device patterns on %u, then one block per service account."""
    base = f"{prefix.rstrip('/')}/v{CONTRACT_MAJOR}"
    lines = [
        "# Generated by gridwatch broker config; the topics come from gateway/contract.py.",
        "# Devices: user name = device id (password file or certificate CN).",
    ]
    lines += [f"pattern write {base}/dev/%u/{k.value}" for k in DEVICE_WRITES]
    lines += [f"pattern read {base}/dev/%u/{k.value}" for k in DEVICE_READS]
    lines += ["", f"user {GATEWAY_USER}"]
    # Mosquitto checks a shared subscription ($share/<group>/...) against the filter
    # after the group, so these lines cover the gateway's shared subscriptions too.
    lines += [f"topic read {base}/dev/+/{k.value}" for k in DEVICE_WRITES]
    lines += [f"topic write {base}/dev/+/{k.value}" for k in DEVICE_READS]
    lines += ["", f"user {DELIVERY_USER}", f"topic write {base}/person/+/notice"]
    return "\n".join(lines) + "\n"


def emqx_acl_text(prefix: str) -> str:
    """The same rights as :func:`acl_text` in EMQX's file authorizer (``acl.conf``).

    ``${username}`` is Mosquitto's ``%u``. Rules are tried in order and the last
    denies the rest; EMQX checks a shared subscription with or without its
    ``$share/<group>/`` prefix depending on the version, so the gateway has both.
    """
    base = f"{prefix.rstrip('/')}/v{CONTRACT_MAJOR}"

    def topics(device: str, kinds: Iterable[MessageKind]) -> str:
        return ", ".join(f'"{base}/dev/{device}/{k.value}"' for k in kinds)

    def rule(who: str, action: str, listed: str) -> str:
        return f"{{allow, {who}, {action}, [{listed}]}}."

    gateway = f'{{username, "{GATEWAY_USER}"}}'
    shared = ", ".join(f'"$share/+/{base}/dev/+/{k.value}"' for k in DEVICE_WRITES)
    lines = [
        "%% Generated by gridwatch broker config; the topics come from gateway/contract.py.",
        "%% Devices: user name = device id (password, or certificate CN).",
        rule(gateway, "subscribe", topics("+", DEVICE_WRITES)),
        rule(gateway, "subscribe", shared),
        rule(gateway, "publish", topics("+", DEVICE_READS)),
        rule(f'{{username, "{DELIVERY_USER}"}}', "publish", f'"{base}/person/+/notice"'),
        rule("all", "publish", topics("${username}", DEVICE_WRITES)),
        rule("all", "subscribe", topics("${username}", DEVICE_READS)),
        "{deny, all}.",
    ]
    return "\n".join(lines) + "\n"


def mosquitto_conf_text(out_dir: Path, listeners: Listeners, limits: Limits) -> str:
    """A complete mosquitto.conf (security, limits, listeners); paths absolute."""

    def path(p: Path) -> Path:
        return p if p.is_absolute() else out_dir / p

    tls = [
        f"cafile {path(listeners.cafile)}",
        f"certfile {path(listeners.certfile)}",
        f"keyfile {path(listeners.keyfile)}",
        "tls_version tlsv1.2",
    ]
    lines = [
        "# Generated by gridwatch broker config. Anonymous clients are refused; every",
        "# device has its own password and may publish only below its own topics.",
        "# Mosquitto has no per-client message rate limit (see docs/mqtt-security.md).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {out_dir / 'passwd'}",
        f"acl_file {out_dir / 'acl'}",
        f"max_packet_size {limits.max_packet_size}",
        f"max_inflight_messages {limits.max_inflight_messages}",
        f"max_queued_messages {limits.max_queued_messages}",
        f"max_queued_bytes {limits.max_queued_bytes}",
        "",
    ]
    if listeners.tls_port:
        lines += [f"listener {listeners.tls_port} {listeners.bind}", *tls]
        lines += ["require_certificate false", ""]
    if listeners.mtls_port:
        lines += [f"listener {listeners.mtls_port} {listeners.bind}", *tls]
        # The CN becomes the user name, so the %u patterns apply to it unchanged;
        # on this listener the password file is not consulted.
        lines += ["require_certificate true", "use_identity_as_username true", ""]
    if listeners.plain_port:
        lines += [f"listener {listeners.plain_port} 127.0.0.1", ""]
    if not (listeners.tls_port or listeners.mtls_port or listeners.plain_port):
        raise BrokerConfigError("no listener: --tls-port, --mtls-port and --plain-port are all 0")
    return "\n".join(lines)
