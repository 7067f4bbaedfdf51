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


def run(
    dsn: str,
    ctx: Context,
    *,
    stop: threading.Event | None = None,
    batch: int = 100,
    idle_s: float = 0.02,
    timers_every_s: float = 1.0,
    calendar_every_s: float = 3600.0,
) -> Stats:
    """Dispatch until ``stop`` is set; survives database restarts by reconnecting.

    Parked events go back in the queue at the first connect; the calendar's end is
    checked again every ``calendar_every_s``, for a dispatcher that runs for weeks.
    """
    stop = stop or threading.Event()
    stats = Stats()
    next_timers = 0.0
    next_calendar = time.monotonic() + calendar_every_s
    requeued = False
    while not stop.is_set():
        try:
            with psycopg.connect(
                dsn, autocommit=True, application_name="gridwatch-dispatch"
            ) as conn:
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
                    if time.monotonic() >= next_timers:
                        esc, rem = run_timers(conn, ctx)
                        stats.escalations += esc
                        stats.reminders += rem
                        next_timers = time.monotonic() + timers_every_s
                    if n == 0:
                        stop.wait(idle_s)
        except psycopg.OperationalError as exc:
            log.warning("dispatcher lost the database (%s); reconnecting in 1 s", exc)
            stop.wait(1.0)
    return stats
