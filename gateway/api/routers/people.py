"""``/api/v1/people``: the people whose posts lie in the caller's scope.

Phone numbers are shown only to the roles that call people (the duty commander
and the leaders), and only of people inside their part of the town, below them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from gateway.api.deps import CurrentPerson, TownDep
from gateway.api.models.people import PersonPublic, PostPublic
from gateway.api.params import ID_PATTERN, id_query
from gateway.auth.principal import Scope
from gridwatch.town import Person, Town

router = APIRouter(prefix="/api/v1/people", tags=["people"])

PERSON_ID = Path(pattern=ID_PATTERN, max_length=64, description="Person id / 人员编号")


def in_scope(town: Town, scope: Scope, person: Person) -> bool:
    """Whether any of the person's posts lies in the scope."""
    if scope.all:
        return True
    areas = scope.units | scope.grids | scope.villages
    for post in person.posts:
        if post.area is not None and post.area in areas:
            return True
        if post.department is not None and post.department in scope.departments:
            return True
    return False


def _public(person: Person, scope: Scope) -> PersonPublic:
    return PersonPublic(
        id=person.id,
        name=person.name,
        phone=person.phone if scope.phones else None,
        department=person.department,
        posts=[PostPublic(kind=p.kind, area=p.area, department=p.department) for p in person.posts],
    )


@router.get("")
def people(
    town: TownDep,
    principal: CurrentPerson,
    area: Annotated[str | None, id_query("Only people with a post in this area")] = None,
    limit: Annotated[int, Query(ge=1, le=20000)] = 1000,
) -> list[PersonPublic]:
    """People in your part of the town / 辖区人员."""
    scope = principal.scope
    found = [
        p
        for _, p in sorted(town.people.items())
        if in_scope(town, scope, p) and (area is None or any(x.area == area for x in p.posts))
    ]
    return [_public(p, scope) for p in found[:limit]]


@router.get("/{person_id}", responses={404: {"description": "None"}})
def person(
    town: TownDep, principal: CurrentPerson, person_id: Annotated[str, PERSON_ID]
) -> PersonPublic:
    found = town.people.get(person_id)
    if found is None or not in_scope(town, principal.scope, found):
        raise HTTPException(404, f"person {person_id} not found / 未找到人员")
    return _public(found, principal.scope)
