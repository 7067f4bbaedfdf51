"""The dispatcher loop: drain the queue, escalate, remind; thin on purpose.

Run any number of these against one database: they coordinate only through
row locks (``SKIP LOCKED``) and transaction-level advisory locks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from dispatch import parked
from dispatch.batch import dispatch_batch
from dispatch.clock import Clock, SystemClock
from dispatch.handover import send_handovers
from dispatch.store import Context
from dispatch.timers import escalate_due, send_reminders
from dispatch.workcal import Coverage, coverage, require_coverage

log = logging.getLogger(__name__)


def make_context(
    config_dir: Path | None = None, *, clock: Clock | None = None, tz: str | None = None
) -> Context:
    """A dispatcher context from the town config and settings (``GRIDWATCH_*``).

    For processes that run a dispatcher in a thread (the demo): ``run(dsn,
    make_context(), stop=event)``. Raises TownError or ConfigError on bad config,
    CalendarNotCovered (a ConfigError) when the working calendar lacks the current
    year; logs a warning when it ends within ``workcal.WARN_DAYS``.
    """
    from zoneinfo import ZoneInfo

    from dispatch.config import load_config
    from dispatch.notify import OutboxNotifier
    from gridwatch.settings import get_settings
    from gridwatch.town import load_town

    settings = get_settings()
    folder = config_dir or settings.config_dir
    town = load_town(folder)
    ctx = Context(
        town=town,
        config=load_config(folder, town.people),
        tz=ZoneInfo(tz) if tz else settings.zone,
        clock=clock or SystemClock(),
        notifier=OutboxNotifier(),
    )
    warn_calendar(ctx, strict=True)
    return ctx


def warn_calendar(ctx: Context, *, strict: bool = False) -> Coverage:
    """Log a warning when the working calendar ends soon (or, unless ``strict``, an
    error when it no longer covers today); ``strict`` raises CalendarNotCovered then."""
    now = ctx.clock.now()
    if strict:
        found = require_coverage(ctx.config.calendar, now, ctx.tz)
    else:
        found = coverage(ctx.config.calendar, now, ctx.tz)
    text = found.message()
    if text is not None:
        (log.warning if found.covered else log.error)("%s", text)
    return found


@dataclass
class Stats:
    events: int = 0
    escalations: int = 0
    reminders: int = 0


def run_timers(conn: psycopg.Connection[Any], ctx: Context) -> tuple[int, int]:
    """Escalate and remind until nothing is due, send due hand-over summaries; returns
    (escalations, reminders)."""
    esc = rem = 0
    while (n := escalate_due(conn, ctx)) > 0:
        esc += n
    while (n := send_reminders(conn, ctx)) > 0:
        rem += n
    send_handovers(conn, ctx)
    return esc, rem


def drain(conn: psycopg.Connection[Any], ctx: Context, batch: int = 100) -> Stats:
    """Dispatch every queued event, then run the timers once (``gridwatch dispatch --once``).

    Parked events go back in the queue first (``dispatch.parked``)."""
    stats = Stats()
    parked.requeue(conn)
    while (n := dispatch_batch(conn, ctx, batch)) > 0:
        stats.events += n
    stats.escalations, stats.reminders = run_timers(conn, ctx)
    return stats


#: The channel ingest's commit notifies (migration 0060); payload empty.
WAKE_CHANNEL = "gridwatch_dispatch"


def run(
    dsn: str,
    ctx: Context,
    *,
    stop: threading.Event | None = None,
    batch: int = 100,
    idle_s: float = 0.5,
    timers_every_s: float = 1.0,
    calendar_every_s: float = 3600.0,
) -> Stats:
    """Dispatch until ``stop`` is set; survives database restarts by reconnecting.

    When the queue is empty it sleeps until ingest's commit notifies ``WAKE_CHANNEL``
    (``LISTEN``), or ``idle_s`` at most (the fallback poll). The timers (escalations,
    reminders, hand-overs) run every ``timers_every_s`` in a thread of their own, on
    their own connection, so a burst of due timers never holds up dispatch. Parked
    events go back in the queue at the first connect; the calendar's end is checked
    again every ``calendar_every_s``, for a dispatcher that runs for weeks.
    """
    stop = stop or threading.Event()
    stats = Stats()
    failed: list[BaseException] = []
    timers = threading.Thread(
        target=_timer_loop,
        args=(dsn, ctx, stop, stats, timers_every_s, failed),
        name="gridwatch-dispatch-timers",
        daemon=True,
    )
    timers.start()
    try:
        _dispatch_loop(dsn, ctx, stop, stats, batch, idle_s, calendar_every_s)
    finally:
        stop.set()
        timers.join()
    if failed:  # the timers' thread died of a bug: the dispatcher stops with it
        raise failed[0]
    return stats


def _dispatch_loop(
    dsn: str,
    ctx: Context,
    stop: threading.Event,
    stats: Stats,
    batch: int,
    idle_s: float,
    calendar_every_s: float,
) -> None:
    next_calendar = time.monotonic() + calendar_every_s
    requeued = False
    while not stop.is_set():
        try:
            with (
                psycopg.connect(
                    dsn, autocommit=True, application_name="gridwatch-dispatch"
                ) as conn,
                psycopg.connect(
                    dsn, autocommit=True, application_name="gridwatch-dispatch-listen"
                ) as listener,
            ):
                # Listening before the first look at the queue: no commit goes unheard.
                listener.execute(f"LISTEN {WAKE_CHANNEL}")
                log.info("dispatcher connected")
                if not requeued:
                    parked.requeue(conn)
                    requeued = True
                while not stop.is_set():
                    if time.monotonic() >= next_calendar:
                        warn_calendar(ctx)
                        next_calendar = time.monotonic() + calendar_every_s
                    n = dispatch_batch(conn, ctx, batch)
                    stats.events += n
                    if n == 0:
                        _wait_for_work(listener, idle_s, stop)
        except psycopg.OperationalError as exc:
            log.warning("dispatcher lost the database (%s); reconnecting in 1 s", exc)
            stop.wait(1.0)


def _wait_for_work(listener: psycopg.Connection[Any], idle_s: float, stop: threading.Event) -> None:
    """Until a wake-up arrives (those already queued count), ``idle_s`` passes, or ``stop``."""
    end = time.monotonic() + idle_s
    while not stop.is_set() and (left := end - time.monotonic()) > 0:
        if any(True for _ in listener.notifies(timeout=min(left, 0.25), stop_after=1)):
            break
    # Wake-ups sent while we waited or dispatched say nothing more: drop them.
    for _ in listener.notifies(timeout=0):
        pass


def _timer_loop(
    dsn: str,
    ctx: Context,
    stop: threading.Event,
    stats: Stats,
    every_s: float,
    failed: list[BaseException],
) -> None:
    try:
        _timers_until(dsn, ctx, stop, stats, every_s)
    except BaseException as exc:
        log.exception("dispatch timers failed; stopping the dispatcher")
        failed.append(exc)
        stop.set()


def _timers_until(
    dsn: str, ctx: Context, stop: threading.Event, stats: Stats, every_s: float
) -> None:
    while not stop.is_set():
        try:
            with psycopg.connect(
                dsn, autocommit=True, application_name="gridwatch-dispatch-timers"
            ) as conn:
                while not stop.is_set():
                    esc, rem = run_timers(conn, ctx)
                    stats.escalations += esc
                    stats.reminders += rem
                    stop.wait(every_s)
        except psycopg.OperationalError as exc:
            log.warning("dispatch timers lost the database (%s); reconnecting in 1 s", exc)
            stop.wait(1.0)
