"""The domain's shared words, each defined once: problem categories, hierarchy levels, roles.

Imports only the standard library, so the edge, the detectors, the hierarchy, the
dispatcher and the gateway can all depend on it without depending on each other.
Case states live with the state machine (``dispatch.lifecycle``).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Category(StrEnum):
    """A problem category; its value is the id used in events, cases, routing and reports."""

    INTRUSION = "intrusion"
    LOITERING = "loitering"
    CROWDING = "crowding"
    ILLEGAL_PARKING = "illegal_parking"
    LINE_CROSSING = "line_crossing"
    ABANDONED_OBJECT = "abandoned_object"
    CAMERA_TAMPER = "camera_tamper"
    FIRE_SMOKE = "fire_smoke"
    SENSOR_ALARM = "sensor_alarm"
    FLOOD = "flood"
    DISPUTE = "dispute"
    SANITATION = "sanitation"
    OTHER = "other"


#: Category ids in their canonical order.
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)

#: Category names people read, in Chinese.
_CATEGORY_ZH: dict[Category, str] = {
    Category.INTRUSION: "闯入",
    Category.LOITERING: "徘徊",
    Category.CROWDING: "人员聚集",
    Category.ILLEGAL_PARKING: "违章停车",
    Category.LINE_CROSSING: "越线",
    Category.ABANDONED_OBJECT: "遗留物品",
    Category.CAMERA_TAMPER: "摄像头遮挡/移动",
    Category.FIRE_SMOKE: "烟火",
    Category.SENSOR_ALARM: "传感器告警",
    Category.FLOOD: "积水内涝",
    Category.DISPUTE: "矛盾纠纷",
    Category.SANITATION: "环境卫生",
    Category.OTHER: "其他",
}
#: English names other than the category id in words.
_CATEGORY_EN: dict[Category, str] = {
    Category.FIRE_SMOKE: "fire or smoke",
}
#: Category names people read: (Chinese, English).
CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    c: (_CATEGORY_ZH[c], _CATEGORY_EN.get(c, c.value.replace("_", " "))) for c in Category
}


class Level(IntEnum):
    """A level of the hierarchy; the value is the escalation level (0 unit ... 3 town)."""

    UNIT = 0
    GRID = 1
    VILLAGE = 2
    TOWN = 3

    @property
    def id(self) -> str:
        """The level's name as written in config files: 'unit', 'grid', 'village', 'town'."""
        return self.name.lower()

    @classmethod
    def of(cls, name: str) -> Level:
        """The level called ``name``; ValueError naming it and the known levels otherwise."""
        try:
            return cls[name.upper()]
        except KeyError as exc:
            raise ValueError(f"level {name!r} is not one of {list(LEVELS)}") from exc


#: Level names from the smallest area up: escalation order.
LEVELS: tuple[str, ...] = tuple(lv.id for lv in Level)

#: The level each level's parent must have (None: the top).
PARENT_LEVEL: dict[str, str | None] = {
    lv.id: (Level(lv + 1).id if lv < Level.TOWN else None) for lv in Level
}


class Role(StrEnum):
    """What an account may see and do (the case API's roles)."""

    DUTY_COMMANDER = "duty_commander"
    TOWN_LEADER = "town_leader"
    VILLAGE_LEADER = "village_leader"
    GRID_LEADER = "grid_leader"
    UNIT_LEADER = "unit_leader"
    DEPARTMENT_STAFF = "department_staff"
    PLATFORM = "platform"
    DEVICE_ADMIN = "device_admin"
    AUDITOR = "auditor"


#: The leader role of each level.
LEADER_ROLE: dict[Level, Role] = {
    Level.UNIT: Role.UNIT_LEADER,
    Level.GRID: Role.GRID_LEADER,
    Level.VILLAGE: Role.VILLAGE_LEADER,
    Level.TOWN: Role.TOWN_LEADER,
}
