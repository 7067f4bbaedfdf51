"""``/api/v1/duty``'s body: who is duty commander in each roster."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from gateway.api.models.base import Public


class DutyPublic(Public):
    roster: str = Field(description="Roster id, e.g. town / 值班表编号")
    roster_name: str = Field(description="Roster name / 值班表名称")
    roster_name_en: str
    person: str = Field(description="Person id of the commander on duty / 值班指挥长编号")
    name: str = Field(description="Their name / 姓名")
    phone: str | None = Field(
        description="Only for roles that call people (duty commander, leaders) / 仅部分角色可见"
    )
    since: datetime = Field(description="Start of this stretch of duty / 本班开始")
    until: datetime = Field(description="Its end, the next hand-over / 本班结束（交班）")
    why: Literal["rotation", "override", "leave"] = Field(
        description="rotation; override (a swap, a stand-in); leave (standing in for "
        "instead_of, who is on leave) / 轮值、调班、顶班"
    )
    instead_of: str | None = Field(description="Who the rotation had, when on leave")
    escalations: bool = Field(
        description="Escalations above village level reach this roster / 是否接收越级上报"
    )
