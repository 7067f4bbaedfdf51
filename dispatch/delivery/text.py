"""A notice's message, composed from its outbox row: the case, the unit, the deadline
in the deployment's time zone, and what the person is expected to do.

The titles come from ``dispatch.notify.TEMPLATES`` (Chinese title, English body in
the row); the text around them is templated here, in both languages, so a
receiver shows whichever its person reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.lifecycle import AWAITING_ACCEPT, Status
from gateway.contract import NoticeMessage, NoticeUnit

#: What each kind of notice asks of its person.
EXPECTED: dict[str, str] = {
    "assigned": "accept",
    "reminder_accept": "accept",
    "reminder_resolve": "resolve",
    "escalated": "supervise",
    "pulled_in": "attend",
    "joint_task": "resolve",
    "joint_case": "supervise",
}

#: (Chinese, English) sentence per expectation; ``{deadline}`` is local time.
EXPECTED_TEXT: dict[str, tuple[str, str]] = {
    "accept": ("请于 {deadline} 前受理", "Accept it by {deadline}"),
    "resolve": ("请于 {deadline} 前办结", "Resolve it by {deadline}"),
    "supervise": ("请督办，期限 {deadline}", "See that it is handled; deadline {deadline}"),
    "attend": ("请到场协助处置", "Please turn up and help"),
}
NO_DEADLINE = ("无", "none")
#: (Chinese, English) sentences after the title.
UNIT_TEXT = ("单元：{unit}", "Unit: {unit}")
DEADLINE_TEXT = ("期限：{deadline}", "Deadline: {deadline}")


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A ``notifications`` row with what the message needs of its case."""

    id: int
    case_id: int | None
    recipient: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    case_status: str | None
    unit_id: str | None
    accept_by: datetime | None
    resolve_by: datetime | None


def deadline_of(row: NoticeRow) -> datetime | None:
    """The deadline the notice is about: its own (reminders, assignment), else the case's."""
    for key in ("deadline", "accept_by"):
        raw = row.data.get(key)
        if isinstance(raw, str):
            return datetime.fromisoformat(raw)
    if row.case_status is None:
        return None
    awaiting = Status(row.case_status) in AWAITING_ACCEPT
    return row.accept_by if awaiting else row.resolve_by


def compose(
    row: NoticeRow, tz: ZoneInfo, unit_name: Callable[[str], str | None], lang: str
) -> NoticeMessage:
    """The message every attempt of this notice sends."""
    deadline = deadline_of(row)
    local = deadline.astimezone(tz) if deadline is not None else None
    shown = local.strftime("%Y-%m-%d %H:%M") if local is not None else None
    unit = (
        NoticeUnit(id=row.unit_id, name=unit_name(row.unit_id) or row.unit_id)
        if row.unit_id
        else None
    )
    expected = EXPECTED.get(row.kind)
    zh_exp, en_exp = EXPECTED_TEXT.get(expected or "", ("", ""))
    zh_when = shown or NO_DEADLINE[0]
    en_when = f"{shown} ({tz.key})" if shown else NO_DEADLINE[1]
    zh_unit = unit.name if unit else NO_DEADLINE[0]
    en_unit = f"{unit.name} ({unit.id})" if unit else NO_DEADLINE[1]
    zh = [row.title, UNIT_TEXT[0].format(unit=zh_unit), DEADLINE_TEXT[0].format(deadline=zh_when)]
    en = [row.body, UNIT_TEXT[1].format(unit=en_unit), DEADLINE_TEXT[1].format(deadline=en_when)]
    if expected:
        zh.append(zh_exp.format(deadline=zh_when))
        en.append(en_exp.format(deadline=en_when))
    return NoticeMessage(
        id=row.id,
        unit=unit,
        notice_kind=row.kind,
        deadline=local,
        recipient=row.recipient,
        expected=expected,
        case_id=row.case_id,
        lang="en" if lang == "en" else "zh",
        title=row.title,
        text="。".join(zh) + "。",
        title_en=row.body,
        text_en=". ".join(en) + ".",
        created_at=row.created_at.astimezone(tz),
    )
