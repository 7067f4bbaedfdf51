"""The live channel: one LISTEN connection per app, fanned out to browser clients.

PostgreSQL NOTIFY reaches every gateway replica that listens, so each console
sees every event and case whichever replica stored it. Each client has its own
bounded queue; a client that falls behind is told and dropped, and never slows
the others.

Frame ids are ``<epoch>-<n>``: a browser that reconnects sends the last one it
saw (``Last-Event-ID``) and gets what it missed from a short history, or a
``gap`` event telling it to reload when the history does not reach back (or
the id is from before a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

CHANNEL = "gridwatch_live"
#: Notifications kept for clients that reconnect.
HISTORY = 1000


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One notification, numbered in this process's order."""

    id: int
    type: str
    data: str
    #: ``data`` parsed (None: not a JSON object), once for every client's filter.
    fields: dict[str, object] | None = None
    #: The Server-Sent-Events frame, built once for every client (:func:`sse_frame`).
    frame: bytes = b""


def live_message(number: int, payload: str, epoch: str) -> LiveMessage:
    """Notification ``payload`` as message ``number``: parsed and framed once, for all."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    fields = parsed if isinstance(parsed, dict) else None
    kind = str(fields.get("type", "message")) if fields is not None else "message"
    frame = sse_frame(LiveMessage(number, kind, payload), epoch)
    return LiveMessage(number, kind, payload, fields, frame)


@dataclass(eq=False)
class Subscriber:
    """One connected client: its queue and whether it overflowed."""

    queue: asyncio.Queue[LiveMessage]
    overflowed: bool = False
    #: Some of what the client missed before (re)connecting cannot be replayed.
    gap: bool = False


@dataclass
class LiveStats:
    notifications: int = 0
    dropped_clients: int = 0
    reconnects: int = 0


@dataclass
class LiveHub:
    """LISTENs on :data:`CHANNEL` and copies each notification to every subscriber."""

    dsn: str
    client_queue: int = 256
    channel: str = CHANNEL
    stats: LiveStats = field(default_factory=LiveStats)
    _subscribers: set[Subscriber] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _recent: deque[LiveMessage] = field(default_factory=lambda: deque(maxlen=HISTORY))
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    listening: bool = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gridwatch-live-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self, last_event_id: str | None = None) -> Subscriber:
        """A new client; with ``last_event_id`` it first gets what it missed since."""
        sub = Subscriber(asyncio.Queue(maxsize=self.client_queue))
        if last_event_id:
            missed, sub.gap = self.missed_since(last_event_id)
            for msg in missed[-self.client_queue :]:
                sub.queue.put_nowait(msg)
            sub.gap = sub.gap or len(missed) > self.client_queue
        self._subscribers.add(sub)
        return sub

    def missed_since(self, last_event_id: str) -> tuple[list[LiveMessage], bool]:
        """Messages after ``last_event_id`` in the history, and whether some are lost."""
        epoch, _, number = last_event_id.partition("-")
        if epoch != self.epoch or not number.isdigit():
            return [], True
        last = int(number)
        missed = [m for m in self._recent if m.id > last]
        oldest = self._recent[0].id if self._recent else last + 1
        return missed, oldest > last + 1

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def publish(self, payload: str) -> None:
        """Hand one notification to every client; drop the clients whose queue is full."""
        msg = live_message(next(self._ids), payload, self.epoch)
        self._recent.append(msg)
        self.stats.notifications += 1
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(msg)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subscribers.discard(sub)
                self.stats.dropped_clients += 1

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            except psycopg.OperationalError as exc:
                log.warning("live channel: database unreachable (%s)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            try:
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listening = True
                    delay = 0.5
                    async for note in conn.notifies():
                        self.publish(note.payload)
            except psycopg.OperationalError as exc:
                log.warning("live channel: connection lost (%s); reconnecting", exc)
                self.stats.reconnects += 1
            finally:
                self.listening = False
            await asyncio.sleep(delay)


async def _next(queue: asyncio.Queue[LiveMessage], timeout_s: float) -> LiveMessage:
    """The next message; TimeoutError after ``timeout_s`` without one. What already
    waits is taken at once, and a wait needs no task of its own (``wait_for`` makes
    one per call: per client and notification, the fan-out's largest cost)."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        async with asyncio.timeout(timeout_s):
            return await queue.get()


#: Frames written to a client in one send at most, when it has fallen behind.
BATCH = 64


def take_waiting(queue: asyncio.Queue[LiveMessage], first: LiveMessage) -> list[LiveMessage]:
    """``first`` and what else already waits in ``queue`` (up to :data:`BATCH` in all):
    under load a client gets its frames in one write, not one write per frame."""
    batch = [first]
    while len(batch) < BATCH:
        try:
            batch.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            break
    return batch


def sse_frame(msg: LiveMessage, epoch: str) -> bytes:
    """One Server-Sent Events frame."""
    return f"id: {epoch}-{msg.id}\nevent: {msg.type}\ndata: {msg.data}\n\n".encode()


async def sse_stream(
    hub: LiveHub,
    sub: Subscriber,
    heartbeat_s: float = 15.0,
    visible: Callable[[LiveMessage], bool] | None = None,
) -> AsyncIterator[bytes]:
    """Frames for one client until it disconnects or overflows; ``visible`` picks
    the messages this client may see (None: all)."""
    try:
        yield b"retry: 2000\n: connected\n\n"
        if sub.gap:
            yield b'event: gap\ndata: {"reason": "missed notifications; reload"}\n\n'
        while True:
            if sub.overflowed:
                yield b'event: dropped\ndata: {"reason": "client too slow"}\n\n'
                return
            try:
                msg = await _next(sub.queue, heartbeat_s)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            frames = b"".join(
                m.frame or sse_frame(m, hub.epoch)
                for m in take_waiting(sub.queue, msg)
                if visible is None or visible(m)
            )
            if frames:
                yield frames
    finally:
        hub.unsubscribe(sub)
