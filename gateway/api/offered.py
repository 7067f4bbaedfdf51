"""Who the caller is to dispatch, and which case actions a page may offer them.

The case detail lists ``allowed_actions`` so the console offers a button only
where ``POST /api/v1/cases/{id}/actions`` would take it (``dispatch.permissions``).
"""

from __future__ import annotations

from dispatch.lifecycle import ALIASES, Action
from dispatch.permissions import Actor, offered, relation_of
from dispatch.rows import CaseRow
from gateway.auth.principal import Principal
from gridwatch.town import Town

#: The action route's names for dispatch's actions, where they differ ("reassign", "merge").
API_NAME: dict[Action, str] = {action: name for name, action in ALIASES.items()}


def actor_of(who: Principal, town: Town) -> Actor:
    """The dispatch actor for a caller: the areas they lead and the departments they serve."""
    person = town.people.get(who.person_id) if who.person_id is not None else None
    areas = frozenset(
        p.area for p in (person.posts if person else ()) if p.kind == "leader" and p.area
    )
    return Actor(
        person=who.subject,
        role=who.role,
        name=who.name,
        areas=areas,
        departments=who.scope.departments,
        everywhere=who.scope.all,
    )


def allowed_for(
    who: Principal, town: Town | None, case: CaseRow, *, joint: bool = False
) -> list[str]:
    """The action names ``who`` may send for ``case`` now (a ``joint`` one: with tasks);
    none without a town config."""
    if town is None:
        return []
    actor = actor_of(who, town)
    relation = relation_of(
        actor, assignee=case.assignee, department_id=case.department_id, raised_by=case.raised_by
    )
    return [API_NAME.get(a, a.value) for a in offered(actor, case.status, relation, joint=joint)]
