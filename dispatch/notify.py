"""The one notification mechanism: a Notifier protocol and a database outbox.

Notices are written in the same transaction as the case change that causes
them, so a notice exists exactly when its change was committed. Delivery
channels (SMS, MQTT topics, webhooks; dispatch part 2) read the outbox;
``dedupe_key`` makes every notice at most once however often it is produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from gridwatch.domain import CATEGORY_NAMES, Level

#: (Chinese, English) title templates per notice kind.
TEMPLATES: dict[str, tuple[str, str]] = {
    "assigned": ("新案件 #{case_id}：{cat_zh}", "New case #{case_id}: {cat_en}"),
    "reminder_accept": (
        "提醒：案件 #{case_id} 须在 {deadline} 前受理",
        "Reminder: accept case #{case_id} by {deadline}",
    ),
    "reminder_resolve": (
        "提醒：案件 #{case_id} 须在 {deadline} 前办结",
        "Reminder: resolve case #{case_id} by {deadline}",
    ),
    "escalated": (
        "案件 #{case_id} 逾期升级至{level_zh}",
        "Case #{case_id} overdue, escalated to {level_en}",
    ),
    "escalated_by_hand": (
        "案件 #{case_id} 提级至{level_zh}处置",
        "Case #{case_id} escalated to {level_en} by hand",
    ),
    "joint_task": (
        "联合处置任务：案件 #{case_id}（{cat_zh}），部门 {department}",
        "Joint case task: case #{case_id} ({cat_en}), department {department}",
    ),
    "joint_case": (
        "联合处置：案件 #{case_id}（{cat_zh}）由您指挥",
        "Joint case #{case_id} ({cat_en}) is yours to command",
    ),
    "pulled_in": (
        "请到场协助：案件 #{case_id}（{cat_zh}）",
        "Please turn up for case #{case_id} ({cat_en})",
    ),
    "department_opened": (
        "本部门新案件 #{case_id}：{cat_zh}",
        "New case #{case_id} for your department: {cat_en}",
    ),
    "resolved_for_raiser": (
        "您反映的问题已办结：案件 #{case_id}（{cat_zh}）",
        "What you reported has been resolved: case #{case_id} ({cat_en})",
    ),
}

#: Level names people read: (Chinese, English).
LEVEL_NAMES: dict[Level, tuple[str, str]] = {
    Level.UNIT: ("单元", "unit"),
    Level.GRID: ("网格", "grid"),
    Level.VILLAGE: ("村（社区）", "village"),
    Level.TOWN: ("镇（街道）", "town"),
}


@dataclass(frozen=True, slots=True)
class Notice:
    recipient: str
    recipient_name: str | None
    kind: str
    case_id: int | None
    dedupe_key: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


def render(kind: str, case_id: int, category: str, **values: Any) -> tuple[str, str]:
    """(title, body): Chinese title, English beside it in the body."""
    zh_t, en_t = TEMPLATES[kind]
    cat_zh, cat_en = CATEGORY_NAMES.get(category, (category, category))
    level = int(values.pop("level", 0))
    level_zh, level_en = LEVEL_NAMES[Level(min(max(level, Level.UNIT), Level.TOWN))]
    fields = dict(
        case_id=case_id, cat_zh=cat_zh, cat_en=cat_en, level_zh=level_zh, level_en=level_en
    )
    fields.update(values)
    return zh_t.format(**fields), en_t.format(**fields)


class Notifier(Protocol):
    def send(self, conn: psycopg.Connection[Any], notice: Notice, at: datetime) -> bool:
        """Queue ``notice`` inside the caller's transaction; False when already sent."""
        ...

    def send_many(
        self, conn: psycopg.Connection[Any], notices: Sequence[Notice], at: datetime
    ) -> None:
        """Queue several notices in one go (the dispatcher's batches)."""
        ...


class OutboxNotifier:
    """Writes notices to the ``notifications`` table (the outbox)."""

    def send(self, conn: psycopg.Connection[Any], notice: Notice, at: datetime) -> bool:
        cur = conn.execute(
            """
            INSERT INTO notifications
                (case_id, recipient, recipient_name, kind, title, body, data, dedupe_key,
                 created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (dedupe_key) DO NOTHING
            """,
            (
                notice.case_id,
                notice.recipient,
                notice.recipient_name,
                notice.kind,
                notice.title,
                notice.body,
                Jsonb(notice.data),
                notice.dedupe_key,
                at,
            ),
        )
        return cur.rowcount == 1

    def send_many(
        self, conn: psycopg.Connection[Any], notices: Sequence[Notice], at: datetime
    ) -> None:
        if not notices:
            return
        cols = [
            [n.case_id for n in notices],
            [n.recipient for n in notices],
            [n.recipient_name for n in notices],
            [n.kind for n in notices],
            [n.title for n in notices],
            [n.body for n in notices],
            [Jsonb(n.data) for n in notices],
            [n.dedupe_key for n in notices],
        ]
        conn.execute(
            """
            INSERT INTO notifications
                (case_id, recipient, recipient_name, kind, title, body, data, dedupe_key,
                 created_at)
            SELECT *, %b FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[],
                %b::text[], %b::text[], %b::jsonb[], %b::text[])
            ON CONFLICT (dedupe_key) DO NOTHING
            """,
            [at, *cols],
        )
