"""Points (积分), pure: which history row earns or costs its case's assignee what.

Each rule reads one ``case_history`` row; ``ledger`` runs them over new rows and
stores the entries, each under a key that makes it count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dispatch.cadence.config import PointsConfig
from dispatch.lifecycle import Action, Status

#: Entry kinds; ``redeem`` is a person exchanging points for goods.
KINDS = ("on_time_closure", "verified", "satisfied", "overdue", "returned", "redeem")


@dataclass(frozen=True, slots=True)
class Row:
    """One history row, with what the rules need to know about its case at that moment."""

    id: int
    case_id: int
    action: str
    to_status: str | None
    data: dict[str, Any]
    on_time: bool | None  # for a row that closes: the last resolution by the deadline in force


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    points: int
    key: str  # unique in the ledger: the same event never counts twice


def entries_for(row: Row, amounts: PointsConfig) -> list[Entry]:
    """What ``row`` earns or costs; empty for a row no rule reads."""
    out: list[Entry] = []
    here = f"h:{row.id}"
    if row.to_status == Status.CLOSED and row.on_time:
        out.append(Entry("on_time_closure", amounts.on_time_closure, f"{here}:on_time_closure"))
    if row.action == Action.VERIFY:
        out.append(Entry("verified", amounts.verified, f"{here}:verified"))
    if row.action == Action.RATE_SATISFIED:
        out.append(Entry("satisfied", amounts.satisfied, f"{here}:satisfied"))
    if row.action in (Action.RETURN, Action.RATE_UNSATISFIED):
        out.append(Entry("returned", -amounts.returned, f"{here}:returned"))
    missed = row.data.get("missed")
    if row.action == "escalated" and missed:
        # Each rise of an overdue case is another escalation, not another missed deadline.
        out.append(Entry("overdue", -amounts.overdue, f"case:{row.case_id}:overdue:{missed}"))
    return [e for e in out if e.points != 0]
