"""The services a town offers over Open311: residents' wishes and voices, disputes,
and one service per routed category.

A service maps onto a case category (what routing, deadlines and departments key
on); ``micro_wish`` and ``micro_voice`` are residents' services without a camera
counterpart and land in the ``other`` category, owned by the governance office.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gridwatch.domain import CATEGORIES, CATEGORY_NAMES, Category

Lang = Literal["zh", "en"]
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
ServiceType = Literal["realtime", "batch", "blackbox"]

MICRO_WISH = "micro_wish"
MICRO_VOICE = "micro_voice"


@dataclass(frozen=True, slots=True)
class Text:
    """Text people read, in Chinese and English."""

    zh: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    name: Text


@dataclass(frozen=True, slots=True)
class Attribute:
    """One field of a service definition (``attribute[CODE]`` in a create)."""

    code: str
    datatype: Datatype
    description: Text
    required: bool = False
    order: int = 1
    variable: bool = True
    max_length: int = 500
    values: tuple[Choice, ...] = ()

    def keys(self) -> frozenset[str]:
        return frozenset(v.key for v in self.values)


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    category: str
    name: Text
    description: Text
    group: str
    keywords: tuple[str, ...] = ()
    type: ServiceType = "realtime"
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)
    #: Case severity (1 urgent .. 4 minor) a resident's request of this kind opens with.
    severity: int = 3

    @property
    def metadata(self) -> bool:
        return bool(self.attributes)


class DepartmentLike(Protocol):
    @property
    def id(self) -> str: ...


class TownLike(Protocol):
    def department_for(self, category: str) -> DepartmentLike | None: ...


_WISH_KINDS = (
    Choice("care", Text("生活帮扶", "help with daily life")),
    Choice("goods", Text("物资需求", "goods")),
    Choice("jobs", Text("就业创业", "work")),
    Choice("study", Text("助学", "schooling")),
    Choice("other", Text("其他", "other")),
)

_VOICE_KINDS = (
    Choice("suggestion", Text("意见建议", "suggestion")),
    Choice("complaint", Text("投诉", "complaint")),
    Choice("praise", Text("表扬", "praise")),
)

_RESIDENT_SERVICES = (
    Service(
        code=MICRO_WISH,
        category=Category.OTHER,
        name=Text("微心愿", "micro-wish"),
        description=Text(
            "居民的小心愿，由网格内党员认领办理",
            "a resident's small wish, taken on by Party members",
        ),
        group="residents",
        keywords=("心愿", "wish", "help"),
        type="batch",
        severity=4,
        attributes=(
            Attribute(
                "WISH_KIND",
                "singlevaluelist",
                Text("心愿类别", "kind of wish"),
                required=True,
                order=1,
                values=_WISH_KINDS,
            ),
        ),
    ),
    Service(
        code=MICRO_VOICE,
        category=Category.OTHER,
        name=Text("微心声", "micro-voice"),
        description=Text("居民的意见、建议和诉求", "a resident's opinion, suggestion or complaint"),
        group="residents",
        keywords=("心声", "voice", "suggestion", "complaint"),
        type="batch",
        severity=4,
        attributes=(
            Attribute(
                "VOICE_KIND",
                "singlevaluelist",
                Text("类别", "kind"),
                required=False,
                order=1,
                values=_VOICE_KINDS,
            ),
        ),
    ),
)

_DISPUTE_ATTRIBUTES = (
    Attribute(
        "PARTIES",
        "text",
        Text("纠纷双方（姓名或称呼）", "the parties to the dispute (names or how to address them)"),
        required=False,
        order=1,
    ),
    Attribute(
        "MEDIATED_BEFORE",
        "singlevaluelist",
        Text("此前是否调解过", "mediated before"),
        required=False,
        order=2,
        values=(Choice("yes", Text("是", "yes")), Choice("no", Text("否", "no"))),
    ),
)

_CATEGORY_DESCRIPTIONS: Mapping[str, Text] = {
    Category.DISPUTE: Text(
        "邻里、家庭等矛盾纠纷，由综治中心调解并反馈调解结果",
        "a dispute between neighbours or in a family, mediated; the outcome is reported back",
    ),
}


#: Severity a resident's report opens with where it is not the default 3 (1 urgent .. 4 minor):
#: someone who calls in smoke or water rising needs the short deadlines.
_SEVERITY: Mapping[str, int] = {Category.FIRE_SMOKE: 1, Category.FLOOD: 2}


def category_service(category: str, group: str) -> Service:
    zh, en = CATEGORY_NAMES[category]
    return Service(
        severity=_SEVERITY.get(category, 3),
        code=category,
        category=category,
        name=Text(zh, en),
        description=_CATEGORY_DESCRIPTIONS.get(category, Text(f"上报{zh}问题", f"report {en}")),
        group=group,
        keywords=(zh, en),
        attributes=_DISPUTE_ATTRIBUTES if category == Category.DISPUTE else (),
    )


@dataclass(frozen=True, slots=True)
class Catalogue:
    services: tuple[Service, ...]

    def get(self, code: str) -> Service | None:
        for service in self.services:
            if service.code == code:
                return service
        return None

    def for_case(self, category: str, service_code: str | None) -> Service:
        """The service a case is shown as: the one it was raised through, else its category's."""
        if service_code is not None:
            found = self.get(service_code)
            if found is not None:
                return found
        return self.get(category) or category_service(
            category if category in CATEGORY_NAMES else Category.OTHER, "other"
        )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.services)


def build_catalogue(town: TownLike, categories: Sequence[str] = CATEGORIES) -> Catalogue:
    """Residents' services, then one service per category some department owns (its group)."""
    routed: list[Service] = []
    for category in categories:
        dept = town.department_for(category)
        if dept is not None:
            routed.append(category_service(category, dept.id))
    return Catalogue((*_RESIDENT_SERVICES, *routed))
