"""The live channel: one LISTEN connection per app, fanned out to browser clients.

PostgreSQL NOTIFY reaches every gateway replica that listens, so each console
sees every event and case whichever replica stored it. Each client has its own
bounded queue; a client that falls behind is told and dropped, and never slows
the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

CHANNEL = "gridwatch_live"


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One notification, numbered in this process's order."""

    id: int
    type: str
    data: str


@dataclass(eq=False)
class Subscriber:
    """One connected client: its queue and whether it overflowed."""

    queue: asyncio.Queue[LiveMessage]
    overflowed: bool = False


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
    listening: bool = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gridwatch-live-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self) -> Subscriber:
        sub = Subscriber(asyncio.Queue(maxsize=self.client_queue))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def publish(self, payload: str) -> None:
        """Hand one notification to every client; drop the clients whose queue is full."""
        try:
            kind = str(json.loads(payload).get("type", "message"))
        except (ValueError, AttributeError):
            kind = "message"
        msg = LiveMessage(next(self._ids), kind, payload)
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


def sse_frame(msg: LiveMessage) -> bytes:
    """One Server-Sent Events frame."""
    return f"id: {msg.id}\nevent: {msg.type}\ndata: {msg.data}\n\n".encode()


async def sse_stream(
    hub: LiveHub, sub: Subscriber, heartbeat_s: float = 15.0
) -> AsyncIterator[bytes]:
    """Frames for one client until it disconnects or overflows."""
    try:
        yield b"retry: 2000\n: connected\n\n"
        while True:
            if sub.overflowed:
                yield b'event: dropped\ndata: {"reason": "client too slow"}\n\n'
                return
            try:
                msg = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            yield sse_frame(msg)
    finally:
        hub.unsubscribe(sub)
