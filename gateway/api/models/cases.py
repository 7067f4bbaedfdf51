"""Cases as the API shows them: the list row and the detail."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dispatch.lifecycle import Status
from dispatch.rows import CaseSummary, HistoryRow, ParticipantRow
from gateway.api.models.base import Public, fields_of
from gateway.api.models.joint import TaskPublic
from gateway.db.queries import CaseDetail, CaseEventRow

_DESCRIBED = {
    "assignee": "Person id of whoever must act",
    "escalation_level": "0 unit, 1 grid, 2 village, 3 town",
    "recurrence": "Events and reports merged into the case",
    "returns": "Times returned for rework (退回重办)",
    "accept_by": "Accept deadline / 受理期限",
    "resolve_by": "Resolve deadline / 办结期限",
    "next_escalation_at": "When it escalates next / 下次升级",
}


@fields_of(CaseSummary, described=_DESCRIBED)
class CasePublic(Public):
    """A case in a list."""

    status: Status


@fields_of(
    CaseEventRow,
    described={
        "snapshot_sha256": "SHA-256 of the snapshot / 快照哈希",
        "crop_sha256": "SHA-256 of the object's crop / 目标截图哈希",
        "held": "Hashes the gateway holds: GET /api/v1/snapshots/{sha256} / 已存证",
    },
)
class CaseEventPublic(Public):
    """An event the case holds, with its evidence."""


@fields_of(HistoryRow, leave_out=("case_id",))
class HistoryPublic(Public):
    """One step of the case's history."""

    data: dict[str, Any]


@fields_of(ParticipantRow, leave_out=("case_id",))
class ParticipantPublic(Public):
    """Someone the case pulled in."""


# assignee_area stays internal: the assignee and their name say who acts.
@fields_of(CaseDetail, leave_out=("assignee_area",))
class CaseDetailPublic(CasePublic):
    """One case with its events, history, the people pulled in and a joint case's tasks."""

    events: list[CaseEventPublic]
    history: list[HistoryPublic]
    participants: list[ParticipantPublic]
    tasks: list[TaskPublic] = Field(
        default_factory=list, description="A joint case's department tasks / 联合处置部门任务"
    )
    allowed_actions: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Actions you may send to .../actions now (role and status) / 可执行的操作",
    )
