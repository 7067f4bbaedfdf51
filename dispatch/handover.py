"""Hand-over summaries: at each change of duty commander, what is open, to the incoming one.

Run with the timers. Each roster's shift (or override) gets one summary, to the
person on duty in it: the notice's ``dedupe_key`` names the roster, the shift's
start and the person, so any number of dispatchers, or one that was down at the
hand-over and comes back within the shift, send it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from dispatch.duty import NoOneOnDuty, OnDuty, RosterSpec, on_duty
from dispatch.lifecycle import AWAITING_ACCEPT, OPEN_STATUSES
from dispatch.notify import Notice
from dispatch.store import Context
from gridwatch.domain import Level

log = logging.getLogger(__name__)

#: Case ids listed by name in a summary; the rest are counted.
LISTED = 10
_OPEN = sorted(s.value for s in OPEN_STATUSES)
_AWAIT_ACCEPT = sorted(s.value for s in AWAITING_ACCEPT)


@dataclass(frozen=True, slots=True)
class OpenCases:
    """What is open at the hand-over."""

    open: int
    overdue: int  # past the deadline they wait on: accept-by, or else resolve-by
    at_town: list[int]  # ids of cases escalated to the town level, oldest first


def summary_notice(
    roster: str, spec: RosterSpec, duty: OnDuty, cases: OpenCases, name: str, tz: ZoneInfo
) -> Notice:
    """The summary for the incoming commander: Chinese title, English in the body."""
    since = duty.since.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    until = duty.until.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    listed = ", ".join(f"#{i}" for i in cases.at_town[:LISTED]) or "-"
    more = len(cases.at_town) - LISTED
    if more > 0:
        listed += f" (+{more})"
    title = (
        f"{spec.name}交接班：在办 {cases.open} 件，逾期 {cases.overdue} 件，"
        f"升级至镇 {len(cases.at_town)} 件"
    )
    body = (
        f"{spec.name_en} hand-over, {since} - {until}: {cases.open} open, "
        f"{cases.overdue} overdue, {len(cases.at_town)} escalated to the town ({listed})."
    )
    return Notice(
        duty.person,
        name,
        "handover",
        None,
        summary_key(roster, duty),
        title,
        body,
        {
            "roster": roster,
            "since": duty.since.isoformat(),
            "until": duty.until.isoformat(),
            "open": cases.open,
            "overdue": cases.overdue,
            "at_town": cases.at_town,
        },
    )


def open_cases(conn: psycopg.Connection[Any], now: datetime) -> OpenCases:
    row = conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE CASE WHEN status = ANY(%s) THEN accept_by ELSE resolve_by END"
        " <= %s),"
        " coalesce(array_agg(id ORDER BY opened_at, id) FILTER (WHERE escalation_level >= %s),"
        " '{}') FROM cases WHERE status = ANY(%s)",
        (_AWAIT_ACCEPT, now, int(Level.TOWN), _OPEN),
    ).fetchone()
    assert row is not None
    return OpenCases(int(row[0]), int(row[1]), [int(i) for i in row[2]])


def summary_key(roster: str, duty: OnDuty) -> str:
    """One summary per roster, shift (or override) and person."""
    return f"duty:{roster}:{duty.since.isoformat()}:{duty.person}"


def _sent(conn: psycopg.Connection[Any], key: str) -> bool:
    found = conn.execute("SELECT 1 FROM notifications WHERE dedupe_key = %s", (key,))
    return found.fetchone() is not None


def send_handovers(conn: psycopg.Connection[Any], ctx: Context) -> int:
    """Send the summary of each roster's current shift if not sent yet; how many sent."""
    duty = ctx.config.duty
    if duty is None:
        return 0
    now = ctx.clock.now()
    sent = 0
    for rid, spec in sorted(duty.rosters.items()):
        try:
            current = on_duty(rid, spec, now, ctx.tz)
        except NoOneOnDuty as exc:
            log.warning("%s", exc)
            continue
        if _sent(conn, summary_key(rid, current)):
            continue
        person = ctx.town.people.get(current.person)
        name = person.name if person else current.person
        with conn.transaction():
            notice = summary_notice(rid, spec, current, open_cases(conn, now), name, ctx.tz)
            if ctx.notifier.send(conn, notice, now):
                sent += 1
    return sent
