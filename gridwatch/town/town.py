"""A whole town: the hierarchy plus its people, devices and departments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from gridwatch.town.hierarchy import Area as Area
from gridwatch.town.hierarchy import AreaShape, Contact, Hierarchy, derived_person_id
from gridwatch.town.models import ContactSpec, Department, Device, Person, Post
from gridwatch.town.validate import FeatureSpec


def _contact(area_id: str, spec: ContactSpec | None) -> Contact | None:
    if spec is None:
        return None
    pid = spec.person or derived_person_id(area_id, spec.name, spec.phone)
    return Contact(person_id=pid, name=spec.name, phone=spec.phone)


def build_hierarchy(features: Sequence[FeatureSpec]) -> Hierarchy:
    """A :class:`Hierarchy` from features that passed every check."""
    shapes = []
    for f in features:
        assert f.geometry is not None, f"feature {f.id!r} has no valid geometry"
        area = Area(
            id=f.id,
            level=f.level,
            name=f.name,
            parent=f.parent,
            leader=_contact(f.id, f.leader),
            liaison=_contact(f.id, f.liaison),
        )
        shapes.append(AreaShape(area=area, geometry=f.geometry))
    return Hierarchy(shapes)


def people_with_posts(hierarchy: Hierarchy, people: Sequence[Person]) -> dict[str, Person]:
    """people.yaml plus persons derived from inline contacts, with the hierarchy's posts added."""
    out = {p.id: p for p in people}
    for area in sorted(hierarchy.areas.values(), key=lambda a: a.id):
        for kind, contact in (("leader", area.leader), ("liaison", area.liaison)):
            if contact is None:
                continue
            post = Post(kind=kind, area=area.id, department=None)  # type: ignore[arg-type]
            person = out.get(contact.person_id)
            if person is None:
                person = Person(
                    id=contact.person_id,
                    name=contact.name,
                    phone=contact.phone,
                    roles=[kind],
                    department=None,
                )
            if post not in person.posts:
                roles = person.roles if kind in person.roles else [*person.roles, kind]
                person = person.model_copy(update={"posts": [*person.posts, post], "roles": roles})
            out[person.id] = person
    return out


class Town:
    """A validated town config. Build it with :func:`gridwatch.town.load_town`."""

    def __init__(
        self,
        hierarchy: Hierarchy,
        people: Mapping[str, Person],
        devices: Sequence[Device],
        departments: Sequence[Department],
    ) -> None:
        self.hierarchy = hierarchy
        self.people: Mapping[str, Person] = MappingProxyType(dict(people))
        self.devices: Mapping[str, Device] = MappingProxyType({d.id: d for d in devices})
        self.departments: Mapping[str, Department] = MappingProxyType(
            {d.id: d for d in departments}
        )
        self._by_category = {c: d for d in departments for c in d.categories}

    def department_for(self, category: str) -> Department | None:
        """The department that owns a category of problem, or None."""
        return self._by_category.get(category)

    def devices_in(self, unit_id: str) -> list[Device]:
        """Devices bound to one unit, sorted by id."""
        return sorted((d for d in self.devices.values() if d.unit == unit_id), key=lambda d: d.id)
