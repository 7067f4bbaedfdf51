"""Joint cases as the API shows them: department tasks and the consultation thread."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.consult import ATTACHMENTS_MAX, BODY_MAX, NAME_MAX, MessageRow
from dispatch.joint import TaskRow
from dispatch.lifecycle import TaskStatus
from gateway.api.models.base import Public, fields_of
from gateway.api.models.case_actions import NOTE_MAX

_NO_NUL = r"^[^\x00]*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@fields_of(
    TaskRow,
    leave_out=("case_id",),
    described={"assignee": "Person id of the department's contact", "due_at": "Task deadline"},
)
class TaskPublic(Public):
    """One department's task in a joint case / 部门任务."""

    status: TaskStatus


class TaskActionIn(_Body):
    """``accept``: the department takes its task on; ``done``: its part is done. The
    last task done closes the case."""

    action: Literal["accept", "done"]
    note: str | None = Field(None, min_length=1, max_length=NOTE_MAX, pattern=_NO_NUL)


class AttachmentIn(_Body):
    """A file already stored elsewhere: its SHA-256 and a name people read."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lowercase hex")
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"^[^\x00-\x1f]+$")


class MessageIn(_Body):
    """A message in the consultation; a ``decision`` is the duty commander's."""

    kind: Literal["message", "decision"] = "message"
    body: str = Field(min_length=1, max_length=BODY_MAX, pattern=_NO_NUL)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=ATTACHMENTS_MAX)


class AttachmentPublic(BaseModel):
    sha256: str
    name: str


@fields_of(MessageRow, leave_out=("case_id",))
class MessagePublic(Public):
    """One message of a joint case's consultation / 会商消息."""

    kind: Literal["message", "decision"]
    attachments: list[AttachmentPublic]


class JointCasePublic(Public):
    """An open joint case under consultation, as the duty panel lists it / 会商中的联合案件."""

    id: int
    category: str
    status: str
    unit_id: str | None
    opened_at: datetime
    tasks: list[TaskPublic] = Field(description="Its department tasks / 部门任务")
    messages: int = Field(description="Messages and decisions so far / 会商消息数")
    last_message: MessagePublic | None = Field(description="The newest of them / 最新会商")
