"""Moves one device's outbox to the broker, and forgets only what the gateway committed.

The loop per device (one thread each):

- after every (re)connect, replay every item that already has a seq, in seq
  order, then continue with new items;
- give new items their seq only while fewer than ``window`` items await the
  gateway's mark: the gateway's commit rate is the flow control;
- delete items when an ``Ack`` (the gateway's committed mark, retained per
  device) passes them;
- if items are outstanding and the mark has not moved for ``resend_after_s``
  (the broker acknowledged and then lost them, say after a kill -9), go back and
  replay from the mark. Duplicates are harmless: the gateway stores an event once.

Several consecutive items travel as one ``Batch`` message; one event alone as an
``Event`` (readings only exist inside batches). The decisions are the pure
functions at the top; the thread around them is thin.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edge.outbox import Outbox, OutboxItem
from edge.publisher import Publisher
from gateway.contract import CONTRACT_VERSION, MAX_BATCH_ITEMS, MAX_BYTES, Ack, MessageKind
from gridwatch.worker import StepWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CourierConfig:
    window: int = 1000
    batch_items: int = 200
    batch_bytes: int = 512 * 1024
    resend_after_s: float = 10.0


# --------------------------------------------------------------------------- pure parts


def free_slots(outstanding: int, window: int) -> int:
    """How many new items may be given a seq now."""
    return max(0, window - outstanding)


def should_resend(outstanding: int, since_progress_s: float, resend_after_s: float) -> bool:
    """Go back to the mark when something is outstanding and the mark has stalled."""
    return outstanding > 0 and since_progress_s >= resend_after_s


def chunks(items: Sequence[OutboxItem], max_items: int, max_bytes: int) -> list[list[OutboxItem]]:
    """Split consecutive items into messages within the batch limits (order kept)."""
    max_items = min(max_items, MAX_BATCH_ITEMS)
    out: list[list[OutboxItem]] = []
    cur: list[OutboxItem] = []
    size = 0
    for it in items:
        n = len(it.body) + 40
        if cur and (len(cur) >= max_items or size + n > max_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(it)
        size += n
    if cur:
        out.append(cur)
    return out


def render(device_id: str, chunk: Sequence[OutboxItem], now: datetime) -> tuple[MessageKind, bytes]:
    """The wire message for a chunk: an Event when it is one event, else a Batch."""
    if len(chunk) == 1 and chunk[0].kind == "event":
        return MessageKind.EVENT, _dump(chunk[0].message())
    batch = {
        "v": CONTRACT_VERSION,
        "kind": "batch",
        "device_id": device_id,
        "seq": chunk[-1].seq,
        "ts": now.isoformat(),
        "items": [it.message() for it in chunk],
    }
    payload = _dump(batch)
    if len(payload) > MAX_BYTES["batch"]:
        raise ValueError(f"{device_id}: batch of {len(chunk)} items is {len(payload)} bytes")
    return MessageKind.BATCH, payload


def _dump(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- the loop


class Courier(StepWorker):
    """One device's sender thread. ``on_ack`` is wired to the publisher's ack callback."""

    def __init__(
        self, device_id: str, outbox: Outbox, publisher: Publisher, cfg: CourierConfig
    ) -> None:
        self.device_id = device_id
        self.outbox = outbox
        self.publisher = publisher
        self.cfg = cfg
        super().__init__(f"courier-{device_id}")
        self._mark_seen = -1
        self._committed = outbox.device_info(device_id)[2]
        self._sent_upto = -1
        self._generation = -1
        self._progress = time.monotonic()
        self.resends = 0
        self.messages = 0

    # paho's thread: only hand over.
    def on_ack(self, ack: Ack) -> None:
        if ack.committed_seq > self._mark_seen:
            self._mark_seen = ack.committed_seq
            self._wake.set()

    @property
    def committed(self) -> int:
        return self._committed

    def stop(self, timeout: float = 10.0, *, drain_s: float = 0.0) -> None:
        """Stop the thread; with ``drain_s`` first wait that long for the outbox to empty."""
        deadline = time.monotonic() + drain_s
        while drain_s and time.monotonic() < deadline and self.outbox.stats(self.device_id).items:
            self._wake.set()
            time.sleep(0.05)
        super().stop(timeout)

    def step(self) -> bool:
        """One decision; True when it sent something (so look again at once)."""
        mark = self._mark_seen
        if mark > self._committed and mark >= self.outbox.device_info(self.device_id)[0]:
            log.warning(
                "%s: gateway mark %d is beyond every seq this outbox gave; continuing after it",
                self.device_id,
                mark,
            )
            self.outbox.skip_to(self.device_id, mark + 1)
        pub = self.publisher
        if mark > self._committed:
            self.outbox.acked(self.device_id, mark)
            self._committed = mark
            self._progress = time.monotonic()
            pub.refusals.accepted()
        if not pub.connected or pub.refusals.paused(time.monotonic()):
            return False
        if pub.generation != self._generation:
            # A new connection: everything sent before may be lost with the old one.
            self._generation = pub.generation
            self._sent_upto = self._committed
            self._progress = time.monotonic()
        cfg = self.cfg
        items = self.outbox.sent_after(self.device_id, self._sent_upto, cfg.batch_items)
        if not items:
            outstanding = self.outbox.outstanding(self.device_id)
            free = free_slots(outstanding, cfg.window)
            items = self.outbox.assign(self.device_id, min(free, cfg.batch_items))
            if not items:
                if should_resend(
                    outstanding, time.monotonic() - self._progress, cfg.resend_after_s
                ):
                    log.info(
                        "%s: mark stuck at %d with %d outstanding; replaying",
                        self.device_id,
                        self._committed,
                        outstanding,
                    )
                    self.resends += 1
                    self._sent_upto = self._committed
                    self._progress = time.monotonic()
                return False
        now = datetime.now(UTC)
        for chunk in chunks(items, cfg.batch_items, cfg.batch_bytes):
            kind, payload = render(self.device_id, chunk, now)
            if not pub.publish_payload(kind, payload, timeout=1.0):
                return False
            self.messages += 1
            last = chunk[-1].seq
            assert last is not None
            self._sent_upto = last
        return True
