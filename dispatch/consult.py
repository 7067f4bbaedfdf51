"""The consultation (会商) of a joint case: one thread of messages, attachments and decisions.

Messages only grow (``case_messages`` refuses UPDATE and DELETE). Each is pushed on
the live channel as ``{"type": "consultation", ...}`` with the case's unit and its
tasks' departments, so the live route shows it to everyone taking part.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch.errors import ActionInputError, CaseNotFound, PermissionDenied, TransitionError
from dispatch.joint import takes_part, tasks_of
from dispatch.permissions import Actor
from dispatch.rows import column_list
from dispatch.store import LIVE_CHANNEL, Context, fetch_case
from gridwatch.domain import Role

MessageKind = Literal["message", "decision"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Limits that keep a message's live push inside PostgreSQL's 8,000-byte NOTIFY payload.
BODY_MAX = 1000
NAME_MAX = 100
ATTACHMENTS_MAX = 5


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file already stored elsewhere, named by its hash (no upload here)."""

    sha256: str
    name: str

    def __post_init__(self) -> None:
        if not _SHA256.match(self.sha256):
            raise ActionInputError("attachments.sha256", self.sha256, "64 lowercase hex digits")
        if not 1 <= len(self.name) <= NAME_MAX:
            raise ActionInputError("attachments.name", self.name, f"1 to {NAME_MAX} characters")


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One ``case_messages`` row."""

    id: int
    case_id: int
    at: datetime
    author: str
    author_name: str | None
    kind: str
    body: str
    attachments: Any  # a list of {"sha256", "name"}


_MESSAGES = sql.SQL(
    "SELECT {} FROM case_messages WHERE case_id = %s AND id > %s ORDER BY id LIMIT %s"
).format(column_list(MessageRow))


def messages(
    conn: psycopg.Connection[Any], case_id: int, after: int = 0, limit: int = 200
) -> list[MessageRow]:
    """The thread in order, after message id ``after``."""
    with conn.cursor(row_factory=class_row(MessageRow)) as cur:
        return cur.execute(_MESSAGES, (case_id, after, limit)).fetchall()


def post(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    actor: Actor,
    kind: MessageKind,
    body: str,
    attachments: Sequence[Attachment] = (),
) -> MessageRow:
    """Add a message to the case's consultation and push it live.

    CaseNotFound; PermissionDenied for someone not taking part, or a decision by
    anyone but the duty commander; TransitionError when the case is not joint.
    """
    now = ctx.clock.now()
    with conn.transaction():
        case = fetch_case(conn, case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id} (case_id) not found")
        tasks = tasks_of(conn, case_id)
        # As on the actions route, who may comes before whether the case allows it now.
        if not takes_part(actor, case, tasks):
            raise PermissionDenied(
                str(actor.role), "consult", "the commander and the departments of its tasks"
            )
        if not tasks:
            raise TransitionError(
                f"case {case_id} is not a joint case: it has no consultation",
                status=case.status,
                action="consult",
            )
        if kind == "decision" and actor.role is not Role.DUTY_COMMANDER:
            raise PermissionDenied(str(actor.role), "decide", "the duty commander")
        if not 1 <= len(body) <= BODY_MAX:
            raise ActionInputError("body", body, f"1 to {BODY_MAX} characters")
        if len(attachments) > ATTACHMENTS_MAX:
            raise ActionInputError(
                "attachments", len(attachments), f"at most {ATTACHMENTS_MAX} attachments"
            )
        files = [{"sha256": a.sha256, "name": a.name} for a in attachments]
        with conn.cursor(row_factory=class_row(MessageRow)) as cur:
            row = cur.execute(
                sql.SQL(
                    "INSERT INTO case_messages (case_id, at, author, author_name, kind, body,"
                    " attachments) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {}"
                ).format(column_list(MessageRow)),
                (case_id, now, actor.person, actor.name, kind, body, Jsonb(files)),
            ).fetchone()
        assert row is not None
        live = {
            "type": "consultation",
            "case_id": case_id,
            "id": row.id,
            "kind": kind,
            "author": actor.person,
            "author_name": actor.name,
            "body": body,
            "attachments": files,
            "at": now.isoformat(),
            "unit_id": case.unit_id,
            "departments": [t.department_id for t in tasks],
        }
        conn.execute(
            "SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, json.dumps(live, ensure_ascii=False))
        )
        return row
