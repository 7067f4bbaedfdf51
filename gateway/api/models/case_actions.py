"""Request bodies of the case actions: one model per shape of arguments, a union on ``action``.

The body of ``POST /api/v1/cases/{case_id}/actions`` names its action in the
``action`` field; pydantic picks the model by that field alone (a discriminated
union), so a 422 names the action's own missing or wrong field. What an action
needs beyond its shape (a reason for a rejection, a rating for a follow-up, a
mediation outcome for a dispute) is checked again by ``dispatch``, which stays the
one home of those rules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A case id, as the path takes it.
CaseId = Annotated[int, Field(ge=1, le=2**63 - 1)]
#: A free-text note: one reason, one comment; no page of text.
NOTE_MAX = 2000
#: PostgreSQL refuses a NUL in text; refused here, it is a 422 naming the field.
_NO_NUL = r"^[^\x00]*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhotoIn(_Body):
    """An evidence image already uploaded to the evidence store."""

    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the image bytes, lowercase hex"
    )
    ref: str = Field(
        min_length=1,
        max_length=512,
        pattern=r"^[^\x00-\x1f]+$",
        description="Where the image is stored (evidence store key or URL)",
    )


def _note(description: str) -> Any:
    """An optional note field."""
    return Field(None, min_length=1, max_length=NOTE_MAX, pattern=_NO_NUL, description=description)


def _reason(description: str) -> Any:
    """A required reason: the action is refused without one."""
    return Field(min_length=1, max_length=NOTE_MAX, pattern=_NO_NUL, description=description)


class NoteAction(_Body):
    """An action whose one argument is an optional note.

    ``accept`` takes the case on (受理): the resolve deadline now runs; ``start``:
    work has started (处置中); ``verify``: the grid leader has checked the work on
    the spot (核查); ``escalate`` raises the case one level now, as its deadline
    would; ``close`` closes a verified case (结案), or a joint case: when every task
    is done, or by the duty commander with a reason in ``note``.
    """

    action: Literal["accept", "start", "verify", "escalate", "close"]
    note: str | None = _note("Optional note: what was checked, why it needs the next level...")


class ReasonAction(_Body):
    """An action refused without its reason in ``note``.

    ``reject``: not ours (退单), the case waits to be re-routed; ``reopen``: a
    resolved, verified or closed case opens again, with fresh deadlines; ``return``:
    back for rework (退回重办), a fresh resolve deadline, counted as a return;
    ``comment``: a note in the history, the status stays.
    """

    action: Literal["reject", "reopen", "return", "comment"]
    note: str = _reason(
        "Why the case is not yours (退单理由), why it opens again (重新打开理由),"
        " what is still wrong (退回理由), or the comment (备注)"
    )


class ResolveAction(_Body):
    """The work is done (办结), with what was done and the evidence photos."""

    action: Literal["resolve"]
    note: str | None = _note("What was done / 处置情况")
    photos: list[PhotoIn] = Field(default_factory=list, max_length=10)
    mediation_outcome: Literal["mediated", "failed", "referred"] | None = Field(
        None, description="Required for a dispute case / 纠纷调解结果"
    )


class ReassignAction(_Body):
    """Send the case to the leader of another area (改派), with fresh deadlines."""

    action: Literal["reassign"]
    area_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\s,\x00]{1,64}$",
        description="The area whose leader takes the case",
    )
    note: str | None = _note("Why")


class MergeAction(_Body):
    """This case duplicates another (合并); its recurrence moves there."""

    action: Literal["merge"]
    into: CaseId = Field(description="The case this one duplicates")
    note: str | None = _note("Why")


class FollowUpAction(_Body):
    """The follow-up call (回访): 3 and above satisfied; 1 and 2 send it back for rework."""

    action: Literal["follow_up"]
    rating: int = Field(ge=1, le=5, strict=True, description="Satisfaction 1..5 / 满意度")
    note: str | None = _note("What the resident said; required when unsatisfied (1, 2)")


#: A department id, as ``departments.yaml`` spells them.
DepartmentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class MakeJointAction(_Body):
    """The duty commander makes this a joint case (联合处置): a task for each department,
    with its contact as assignee and a deadline; the case goes to the commander on duty."""

    action: Literal["make_joint"]
    departments: list[DepartmentId] = Field(
        min_length=2, max_length=16, description="The departments that each get a task / 协办部门"
    )
    note: str | None = _note("What the departments are to do together / 联合处置说明")


CaseAction = Annotated[
    NoteAction
    | ReasonAction
    | ResolveAction
    | ReassignAction
    | MergeAction
    | FollowUpAction
    | MakeJointAction,
    Field(discriminator="action"),
]


class Refusal(BaseModel):
    """Why an action was refused: the action, and the role (403) or the status (409)."""

    msg: str
    action: str | None = None
    role: str | None = Field(None, description="The caller's role (403)")
    status: str | None = Field(None, description="The case's status (409)")
    allowed: list[str] | None = Field(None, description="What the status allows (409)")
    open_tasks: list[str] | None = Field(
        None, description="A joint case's departments whose task is not done (409 on close)"
    )


class Refused(BaseModel):
    """A 403 or 409 answer to a case action."""

    detail: Refusal
