"""Reading a town's files from disk: parse, check everything, build or raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridwatch.configfile import NOT_PARSED, Problem, read_json, read_yaml
from gridwatch.town.errors import TownConfigError, TownError
from gridwatch.town.hierarchy import Hierarchy
from gridwatch.town.models import Department, Device, Person
from gridwatch.town.town import Town, build_hierarchy, people_with_posts
from gridwatch.town.validate import (
    TOLERANCE,
    FeatureSpec,
    Files,
    Known,
    check_features,
    check_items,
    check_references,
)

HIERARCHY_FILE = "town.geojson"
PEOPLE_FILE = "people.yaml"
DEVICES_FILE = "devices.yaml"
DEPARTMENTS_FILE = "departments.yaml"


@dataclass
class CheckResult:
    """What :func:`check_path` found: every problem, and the parsed parts."""

    problems: list[Problem] = field(default_factory=list)
    features: list[FeatureSpec] = field(default_factory=list)
    people: list[tuple[int, Person]] = field(default_factory=list)
    devices: list[tuple[int, Device]] = field(default_factory=list)
    departments: list[tuple[int, Department]] = field(default_factory=list)
    hierarchy_read: bool = False  # the GeoJSON parsed and has a list of features


def check_hierarchy_file(path: Path, tolerance: float = TOLERANCE) -> CheckResult:
    """Every problem of one hierarchy GeoJSON file."""
    result = CheckResult()
    data = read_json(path, result.problems)
    if data is not NOT_PARSED:
        result.hierarchy_read = isinstance(data, dict) and isinstance(data.get("features"), list)
        problems, result.features = check_features(data, str(path), tolerance)
        result.problems += problems
    return result


def check_config_dir(config_dir: Path, tolerance: float = TOLERANCE) -> CheckResult:
    """Every problem of a config folder: each file on its own, then references across files."""
    result = check_hierarchy_file(config_dir / HIERARCHY_FILE, tolerance)
    files = Files(
        hierarchy=str(config_dir / HIERARCHY_FILE),
        people=str(config_dir / PEOPLE_FILE),
        devices=str(config_dir / DEVICES_FILE),
        departments=str(config_dir / DEPARTMENTS_FILE),
    )
    declared: dict[str, frozenset[str] | None] = {}
    for fname, key, model, attr in (
        (files.people, "people", Person, "people"),
        (files.devices, "devices", Device, "devices"),
        (files.departments, "departments", Department, "departments"),
    ):
        data = read_yaml(Path(fname), result.problems)
        if data is NOT_PARSED:
            declared[key] = None
            continue
        problems, good = check_items(data, fname, key, model)
        result.problems += problems
        setattr(result, attr, good)
        declared[key] = _declared_ids(data, key, problems)
    known = Known(
        people=declared["people"],
        departments=declared["departments"],
        hierarchy_read=result.hierarchy_read,
    )
    result.problems += check_references(
        result.features,
        result.people,
        result.departments,
        result.devices,
        files,
        tolerance,
        known,
    )
    return result


def _declared_ids(data: Any, key: str, problems: list[Problem]) -> frozenset[str] | None:
    """Ids of every item in a YAML list, valid or not; None if the list itself is unusable."""
    if any(p.where in ("(top level)", key) for p in problems):
        return None
    items = data.get(key) if isinstance(data, dict) else None
    return frozenset(
        i["id"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("id"), str)
    )


def check_path(path: Path, tolerance: float = TOLERANCE) -> list[Problem]:
    """Problems of a folder's town files, or of a single hierarchy file; empty means valid.

    The dispatch tables of the folder are checked by ``dispatch.config.check_config``
    (``gridwatch config check`` runs both).
    """
    if path.is_dir():
        return check_config_dir(path, tolerance).problems
    return check_hierarchy_file(path, tolerance).problems


def load_hierarchy(path: Path) -> Hierarchy:
    """Read and validate a hierarchy GeoJSON; raises TownConfigError listing every problem."""
    result = check_hierarchy_file(Path(path))
    if result.problems:
        raise TownConfigError(result.problems)
    return build_hierarchy(result.features)


def load_town(config_dir: Path) -> Town:
    """Read and validate a config folder; raises TownConfigError listing every problem."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise TownError(f"config folder {str(config_dir)!r} does not exist or is not a folder")
    result = check_config_dir(config_dir)
    if result.problems:
        raise TownConfigError(result.problems)
    hierarchy = build_hierarchy(result.features)
    people = people_with_posts(hierarchy, [p for _, p in result.people])
    return Town(
        hierarchy,
        people,
        [d for _, d in result.devices],
        [d for _, d in result.departments],
    )
