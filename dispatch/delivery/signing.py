"""Webhook signatures, both ends: the sender's headers and the receiver's check.

The signature is HMAC-SHA256 over ``"<timestamp>." + body`` with the webhook's
secret, sent as ``X-Gridwatch-Signature: v1=<hex>``; ``X-Gridwatch-Timestamp`` is
Unix seconds at sending, ``X-Gridwatch-Id`` the notification id, the same on
every retry. A receiver calls :func:`check` (standard library only, so it can
be copied or imported as is): a bad signature or an old timestamp is refused,
and a repeated id is reported as a duplicate, to be answered 2xx and not shown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple, Protocol

ID_HEADER = "X-Gridwatch-Id"
TIMESTAMP_HEADER = "X-Gridwatch-Timestamp"
SIGNATURE_HEADER = "X-Gridwatch-Signature"
SCHEME = "v1"
#: How far a timestamp may lie from the receiver's clock, either way.
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """A delivery the receiver must refuse (answer 400 or 401): ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def sign(secret: bytes, notification_id: int, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers one delivery carries."""
    return {
        ID_HEADER: str(notification_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


class SeenIds(Protocol):
    def first_time(self, notification_id: int) -> bool:
        """Record the id; True when it had not been seen before."""
        ...


class MemorySeenIds:
    """The last ``capacity`` ids, in memory. A receiver that restarts should keep ids in
    its database instead (a unique key), for at least as long as the sender retries."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def first_time(self, notification_id: int) -> bool:
        with self._lock:
            if notification_id in self._ids:
                self._ids.move_to_end(notification_id)
                return False
            self._ids[notification_id] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
            return True


class Checked(NamedTuple):
    """A delivery that passed. ``duplicate``: seen before (a retry whose answer was lost),
    so answer 2xx and do not show it again."""

    notification_id: int
    timestamp: int
    duplicate: bool


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive; servers hand them over in any case.
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise SignatureError(f"header {name} is missing")


def check(
    headers: Mapping[str, str],
    body: bytes,
    secret: bytes,
    *,
    now: float,
    seen: SeenIds,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Checked:
    """The receiver's check, in order: signature, timestamp, id matches the body, repeat.

    ``now`` is the receiver's Unix time. Raises :class:`SignatureError` for a
    delivery to refuse; a repeat is returned with ``duplicate=True``.
    """
    raw_ts = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    raw_id = _header(headers, ID_HEADER)
    try:
        timestamp = int(raw_ts)
    except ValueError as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER}={raw_ts!r}: expected Unix seconds") from exc
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body and timestamp")
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            f"{TIMESTAMP_HEADER}={timestamp} is {now - timestamp:.0f} s from now;"
            f" expected within {tolerance_s:.0f} s"
        )
    try:
        body_id = json.loads(body)["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError("body is not a JSON object with an id") from exc
    # The id header is not signed; the body's id is, and the two must agree.
    if raw_id != str(body_id):
        raise SignatureError(f"{ID_HEADER}={raw_id!r} does not match the body's id {body_id!r}")
    return Checked(int(body_id), timestamp, duplicate=not seen.first_time(int(body_id)))
