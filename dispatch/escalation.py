"""Pure escalation: which cases are overdue, the level they rise to, who is pulled in.

"The grid blows the whistle, Party members turn up": when a deadline passes (or a
leader escalates by hand, :func:`rise`) the case rises one level (unit, grid,
village, town); the new level's leader is notified, and the unit's liaison
household and the department's contact are pulled in. A rise above village level
goes to the commander on duty at that moment when a duty roster serves escalations
(dispatch/duty.py), instead of the town leader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.lifecycle import AWAITING_ACCEPT, OPEN_STATUSES, Status
from dispatch.routing import AreaView, contact_key, first_leader
from gridwatch.domain import Level

TOP_LEVEL = int(Level.TOWN)


@dataclass(frozen=True, slots=True)
class CaseTiming:
    id: int
    status: str
    escalation_level: int
    assignee_level: int | None
    next_escalation_at: datetime | None


@dataclass(frozen=True, slots=True)
class Participant:
    role: str  # 'leader', 'liaison' or 'department'
    person: str
    name: str
    area_id: str | None
    level: int


@dataclass(frozen=True, slots=True)
class Escalation:
    case_id: int
    from_level: int
    to_level: int
    missed: str | None  # 'accept' or 'resolve'; None when escalated by hand
    leader: Participant | None
    pulled_in: tuple[Participant, ...]
    next_at: datetime | None


def is_due(case: CaseTiming, now: datetime) -> bool:
    return (
        Status(case.status) in OPEN_STATUSES
        and case.next_escalation_at is not None
        and case.next_escalation_at <= now
        and case.escalation_level < TOP_LEVEL
    )


def plan(
    case: CaseTiming,
    now: datetime,
    chain: Sequence[AreaView],
    department_contact: tuple[str, str] | None,
    window: timedelta,
    commander: tuple[str, str] | None = None,
) -> Escalation | None:
    """The escalation ``case`` needs at ``now``, or None when it is not due.

    The case rises above whoever holds it: a case already assigned to a grid
    leader (vacant unit) goes to the village on its first rise.
    """
    if not is_due(case, now):
        return None
    missed = "accept" if Status(case.status) in AWAITING_ACCEPT else "resolve"
    return rise(case, now, chain, department_contact, window, missed, commander)


def rise(
    case: CaseTiming,
    now: datetime,
    chain: Sequence[AreaView],
    department_contact: tuple[str, str] | None,
    window: timedelta,
    missed: str | None = None,
    commander: tuple[str, str] | None = None,
) -> Escalation | None:
    """The case one level above whoever holds it, due or not; None at the top.

    ``commander`` (person id, name): the duty commander on duty now; a rise above
    village level goes to them, not to the town leader."""
    if case.escalation_level >= TOP_LEVEL:
        return None
    floor = case.assignee_level if case.assignee_level is not None else 0
    to_level = min(max(case.escalation_level, floor) + 1, TOP_LEVEL)
    leader: Participant | None = None
    found = first_leader(chain, to_level)
    if commander is not None and to_level > int(Level.VILLAGE):
        area_id = chain[to_level].id if len(chain) > to_level else None
        leader = Participant("leader", commander[0], commander[1], area_id, to_level)
    elif found is not None:
        index, area = found
        assert area.leader is not None
        leader = Participant("leader", contact_key(area.leader), area.leader.name, area.id, index)
    pulled: list[Participant] = []
    if chain and chain[0].liaison is not None:
        liaison = chain[0].liaison
        pulled.append(Participant("liaison", contact_key(liaison), liaison.name, chain[0].id, 0))
    if department_contact is not None:
        pulled.append(Participant("department", *department_contact, None, to_level))
    next_at = now + window if to_level < TOP_LEVEL else None
    return Escalation(
        case.id, case.escalation_level, to_level, missed, leader, tuple(pulled), next_at
    )
