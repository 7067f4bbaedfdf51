"""Dispatch configuration: ``deadlines.yaml``, ``routing.yaml``, ``calendar.yaml``, ``duty.yaml``.

Category keys in both files must be ids of :class:`gridwatch.domain.Category`, so a
typo fails ``gridwatch config check`` (and the dispatcher's start) naming the file,
the key and the value, in the same problem lines as the town's files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dispatch.deadlines import DeadlineRule, DeadlineTable, Severity
from dispatch.duty import DutyFile, people_problems
from dispatch.errors import ConfigError
from dispatch.merge import MergeRule, MergeTable
from dispatch.tell import TellRules
from dispatch.workcal import (
    CalendarFile,
    WorkCalendar,
    disagreements,
    file_problems,
    package_calendar,
    with_file,
)
from gridwatch.configfile import Problem, check_file
from gridwatch.fields import CategoryId

DEADLINES_FILE = "deadlines.yaml"
ROUTING_FILE = "routing.yaml"
CALENDAR_FILE = "calendar.yaml"
DUTY_FILE = "duty.yaml"


class DeadlinesFile(DeadlineTable):
    """``deadlines.yaml``: the deadline table, its category keys checked."""

    categories: dict[CategoryId, dict[Severity, DeadlineRule]] = Field(default_factory=dict)


class MergeFile(MergeTable):
    """``merge:`` of ``routing.yaml``, its category keys checked."""

    categories: dict[CategoryId, MergeRule] = Field(default_factory=dict)


class RoutingFile(BaseModel):
    """``routing.yaml``: merge windows per category, and who is told of a case
    (departments live in departments.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    merge: MergeFile = Field(default_factory=lambda: MergeFile())
    tell: TellRules = Field(default_factory=TellRules)


def default_deadlines() -> DeadlineTable:
    """Used when a town ships no ``deadlines.yaml``."""
    return DeadlineTable(
        default={
            1: DeadlineRule(accept_minutes=15, resolve_minutes=4 * 60),
            2: DeadlineRule(accept_minutes=30, resolve_minutes=24 * 60),
            3: DeadlineRule(accept_minutes=120, resolve_minutes=3 * 24 * 60),
            4: DeadlineRule(accept_minutes=480, resolve_minutes=7 * 24 * 60),
        }
    )


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    deadlines: DeadlineTable
    merge: MergeTable
    #: The package's years plus calendar.yaml's: deadlines in working time count on it.
    calendar: WorkCalendar
    #: The duty rosters; None without duty.yaml (escalations then reach the town leader).
    duty: DutyFile | None = None
    #: Who is told of a case besides the escalation chain (routing.yaml ``tell:``).
    tell: TellRules = field(default_factory=TellRules)


def check_calendar(path: Path) -> tuple[list[Problem], WorkCalendar | None]:
    """``calendar.yaml``'s problems, and the package's calendar plus its years when none.

    A missing file means the package's years alone.
    """
    base = package_calendar()
    if not path.exists():
        return [], base
    problems, data = check_file(path, CalendarFile)
    if data is None:
        return problems, None
    found = file_problems(data) + disagreements(base, data)
    problems += [Problem(str(path), p.where, p.value, p.message) for p in found]
    return problems, None if found else with_file(base, data)


def check_duty(
    path: Path, people: Mapping[str, object] | None
) -> tuple[list[Problem], DutyFile | None, bool]:
    """``duty.yaml``'s problems and rosters (None without the file), and whether it is
    usable; each person id checked against ``people`` (the town's) when given."""
    if not path.exists():
        return [], None, True
    problems, duty = check_file(path, DutyFile)
    if duty is None:
        return problems, None, False
    if people is not None:
        found = people_problems(duty, people)
        problems += [Problem(str(path), where, value, msg) for where, value, msg in found]
    return problems, duty, not problems


def check_config(
    config_dir: Path, people: Mapping[str, object] | None = None
) -> tuple[list[Problem], DispatchConfig | None]:
    """Every problem of the four files, and the tables when there is none.

    A missing file means the built-in defaults. ``people`` (the town's, by id) checks
    the duty rosters' person ids; without it only their form is checked.
    """
    problems: list[Problem] = []
    deadlines: DeadlineTable | None = default_deadlines()
    routing: RoutingFile | None = RoutingFile()
    dl = config_dir / DEADLINES_FILE
    if dl.exists():
        found, deadlines = check_file(dl, DeadlinesFile)
        problems += found
    rt = config_dir / ROUTING_FILE
    if rt.exists():
        found, routing = check_file(rt, RoutingFile)
        problems += found
    found, calendar = check_calendar(config_dir / CALENDAR_FILE)
    problems += found
    found, duty, duty_ok = check_duty(config_dir / DUTY_FILE, people)
    problems += found
    if deadlines is None or routing is None or calendar is None or not duty_ok:
        return problems, None
    return problems, DispatchConfig(
        deadlines=deadlines, merge=routing.merge, calendar=calendar, duty=duty, tell=routing.tell
    )


def load_config(config_dir: Path, people: Mapping[str, object] | None = None) -> DispatchConfig:
    """Read the dispatch tables; ConfigError listing every problem, one a line."""
    problems, config = check_config(config_dir, people)
    if config is None:
        raise ConfigError("\n".join(str(p) for p in problems))
    return config
