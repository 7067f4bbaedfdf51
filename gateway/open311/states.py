"""Our case states as Open311 sees them: ``open``/``closed``, and FixMyStreet's finer states.

The base spec knows only ``open`` (reported) and ``closed`` (resolved). FixMyStreet's
extension (asked for with ``extended_attributes=true``) adds ``investigating``,
``action_scheduled``, ``in_progress``, ``fixed``, ``duplicate`` and more; a
FixMyStreet client maps those onto its own states. docs/open311.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dispatch.lifecycle import Status

BaseStatus = Literal["open", "closed"]
FmsStatus = Literal[
    "open",
    "investigating",
    "action_scheduled",
    "in_progress",
    "fixed",
    "closed",
    "duplicate",
]


@dataclass(frozen=True, slots=True)
class Shown:
    """How one of our states is shown: base status, FixMyStreet status, a note for people."""

    base: BaseStatus
    fms: FmsStatus
    zh: str
    en: str


#: A rejected case ("not ours") waits to be re-routed, so for the person who raised
#: it the request is still open: FixMyStreet's ``investigating``.
_SHOWN: dict[Status, Shown] = {
    Status.NEW: Shown("open", "open", "已受理，待派单", "received, being routed"),
    Status.ASSIGNED: Shown("open", "open", "已派单，待接单", "assigned, waiting to be accepted"),
    Status.REOPENED: Shown("open", "open", "已重新打开", "reopened"),
    Status.REJECTED: Shown("open", "investigating", "正在重新派单", "being re-routed"),
    Status.ACCEPTED: Shown("open", "action_scheduled", "已接单", "accepted"),
    Status.IN_PROGRESS: Shown("open", "in_progress", "正在处置", "in progress"),
    Status.RESOLVED: Shown("closed", "fixed", "已办结，待核实", "resolved, being verified"),
    Status.VERIFIED: Shown("closed", "fixed", "已核实", "resolved and verified"),
    Status.CLOSED: Shown("closed", "closed", "已结案", "closed"),
    Status.DUPLICATE: Shown("closed", "duplicate", "重复上报，已并案", "duplicate"),
}

#: Which of our states each base status covers, for the ``status`` filter.
STATUSES_OF: dict[BaseStatus, frozenset[Status]] = {
    "open": frozenset(s for s, v in _SHOWN.items() if v.base == "open"),
    "closed": frozenset(s for s, v in _SHOWN.items() if v.base == "closed"),
}


def shown(status: Status | str) -> Shown:
    return _SHOWN[Status(status)]
