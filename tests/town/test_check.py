"""`gridwatch config check`: every kind of bad file is reported by file, id or path, and value."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridwatch.cli import main
from gridwatch.town import TownConfigError, load_hierarchy, load_town
from tests.town.conftest import BuiltTown

Mutation = Callable[[Path], None]

#: The small town's one vacant unit-leader post (checked below, in case synth changes).
SMALL_VACANT = "V01-G02-U01"


def _edit_geojson(path: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    f = path / "town.geojson"
    data = json.loads(f.read_text(encoding="utf-8"))
    fn(data)
    f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _edit_yaml(path: Path, name: str, fn: Callable[[dict[str, Any]], None]) -> None:
    f = path / name
    data = yaml.safe_load(f.read_text(encoding="utf-8"))
    fn(data)
    f.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _feature(data: dict[str, Any], fid: str) -> dict[str, Any]:
    return next(f for f in data["features"] if f["properties"].get("id") == fid)


def _props(fid: str, **changes: Any) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        props = _feature(data, fid)["properties"]
        for key, value in changes.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value

    return lambda path: _edit_geojson(path, fn)


def _geometry(fid: str, geometry: dict[str, Any] | Callable[[dict[str, Any]], Any]) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        feat = _feature(data, fid)
        feat["geometry"] = geometry(data) if callable(geometry) else geometry

    return lambda path: _edit_geojson(path, fn)


def _duplicate(fid: str) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        data["features"].append(json.loads(json.dumps(_feature(data, fid))))

    return lambda path: _edit_geojson(path, fn)


def _shifted(fid: str, dlon: float) -> Callable[[dict[str, Any]], Any]:
    def shift(coords: Any) -> Any:
        if isinstance(coords[0], float | int):
            return [coords[0] + dlon, coords[1]]
        return [shift(c) for c in coords]

    def fn(data: dict[str, Any]) -> Any:
        geo = _feature(data, fid)["geometry"]
        return {"type": geo["type"], "coordinates": shift(geo["coordinates"])}

    return fn


def _take_geometry_of(other: str) -> Callable[[dict[str, Any]], Any]:
    return lambda data: _feature(data, other)["geometry"]


def _yaml_item(name: str, key: str, index: int, **changes: Any) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        data[key][index].update(changes)

    return lambda path: _edit_yaml(path, name, fn)


def _people_post(index: int, post: dict[str, Any]) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        data["people"][index]["posts"] = [post]

    return lambda path: _edit_yaml(path, "people.yaml", fn)


def _device_rule_category(index: int, category: str) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        data["devices"][index]["rules"][0]["category"] = category

    return lambda path: _edit_yaml(path, "devices.yaml", fn)


def _homography_on_a_line(index: int) -> Mutation:
    def fn(data: dict[str, Any]) -> None:
        for n, point in enumerate(data["devices"][index]["homography"]):
            point["px"] = [10.0 * n, 10.0 * n]

    return lambda path: _edit_yaml(path, "devices.yaml", fn)


def _write(name: str, content: bytes) -> Mutation:
    def fn(path: Path) -> None:
        (path / name).write_bytes(content)

    return fn


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[119.0, 25.4], [119.001, 25.401], [119.001, 25.4], [119.0, 25.401], [119.0, 25.4]]
    ],
}

# (case, mutation, substrings that must all appear on one output line)
BAD_FILES: list[tuple[str, Mutation, list[str]]] = [
    ("duplicate id", _duplicate("V01-G02-U02"), ["town.geojson", "V01-G02-U02", "duplicate id"]),
    (
        "feature without id",
        _props("V02-G01-U01", id=None),
        ["town.geojson", "features[", "without an id", "第1网格第1单元"],
    ),
    (
        "id with a comma",
        _props("V01-G02-U06", id="V01,G02"),
        ["town.geojson", "properties.id", "V01,G02", "without spaces or commas"],
    ),
    ("unknown level", _props("V01-G01-U01", level="hamlet"), ["V01-G01-U01", "hamlet", "level"]),
    (
        "missing parent",
        _props("V01-G02-U04", parent="NO-SUCH-GRID"),
        ["V01-G02-U04", "NO-SUCH-GRID", "parent"],
    ),
    ("absent parent", _props("V02-G02", parent=None), ["V02-G02", "(none)", "needs a parent"]),
    (
        "parent at the wrong level",
        _props("V01-G02-U05", parent="V01"),
        ["V01-G02-U05", "V01 (level village)", "must be a grid"],
    ),
    (
        "child outside parent",
        _geometry("V02-G02-U01", _shifted("V02-G02-U01", 0.002)),
        ["V02-G02-U01", "sticks out of its parent 'V02-G02'", "outside"],
    ),
    (
        "self-intersection",
        _geometry("V01-G01-U02", BOWTIE),
        ["V01-G01-U02", "Self-intersection", "invalid geometry"],
    ),
    (
        "not a polygon",
        _geometry("V01-G01-U02", {"type": "Point", "coordinates": [119, 25.4]}),
        ["V01-G01-U02", "Point", "Polygon or MultiPolygon"],
    ),
    (
        "overlapping siblings",
        _geometry("V01-G02-U03", _take_geometry_of("V01-G02-U04")),
        ["V01-G02-U03", "V01-G02-U04", "overlaps a sibling"],
    ),
    (
        "device on unknown unit",
        _yaml_item("devices.yaml", "devices", 1, unit="V09-G09-U09"),
        ["devices.yaml", "devices[1].unit", "V09-G09-U09", "unknown unit"],
    ),
    (
        "device on a grid",
        _yaml_item("devices.yaml", "devices", 2, unit="V01-G01"),
        ["devices.yaml", "devices[2].unit", "V01-G01", "not a unit"],
    ),
    (
        "device rule category",
        _device_rule_category(0, "arson"),
        ["devices.yaml", "devices[0].rules[0].category", "arson", "unknown category"],
    ),
    (
        "device maintainer",
        _yaml_item("devices.yaml", "devices", 3, maintainer="P99999"),
        ["devices.yaml", "devices[3].maintainer", "P99999", "unknown person"],
    ),
    (
        "device id not topic-safe",
        _yaml_item("devices.yaml", "devices", 4, id="cam 4/x"),
        ["devices.yaml", "devices[4].id", "cam 4/x"],
    ),
    (
        "department category",
        _yaml_item("departments.yaml", "departments", 1, categories=["sanitation", "jaywalking"]),
        ["departments.yaml", "departments[1].categories[1]", "jaywalking", "unknown category"],
    ),
    (
        "department contact",
        _yaml_item("departments.yaml", "departments", 0, contact="P77777"),
        ["departments.yaml", "departments[0].contact", "P77777", "unknown person"],
    ),
    (
        "category owned twice",
        _yaml_item("departments.yaml", "departments", 0, categories=["intrusion", "flood"]),
        ["departments.yaml", "flood", "already owned"],
    ),
    (
        "leader person unknown",
        _props("V01-G02-U06", leader={"name": "林某", "phone": "13900000000", "person": "P55555"}),
        ["town.geojson", "V01-G02-U06", "leader.person", "P55555", "unknown person"],
    ),
    (
        "post on unknown area",
        _people_post(0, {"kind": "leader", "area": "V77"}),
        ["people.yaml", "people[0].posts[0].area", "V77", "unknown area"],
    ),
    (
        "post in unknown department",
        _people_post(5, {"kind": "department_staff", "department": "tax"}),
        ["people.yaml", "people[5].posts[0].department", "tax", "unknown department"],
    ),
    (
        "homography on a line",
        _homography_on_a_line(0),
        ["devices.yaml", "devices[0].homography", "lie on a line"],
    ),
    (
        "leader post the hierarchy does not name",
        _people_post(6, {"kind": "leader", "area": "V01-G01-U02"}),
        ["people.yaml", "people[6].posts[0].area", "V01-G01-U02", "names P00006 as leader"],
    ),
    (
        "leader post on a vacant unit",
        _people_post(7, {"kind": "leader", "area": SMALL_VACANT}),
        ["people.yaml", "people[7].posts[0].area", SMALL_VACANT, "names no leader"],
    ),
    (
        "liaison of a grid",
        _people_post(1, {"kind": "liaison", "area": "V01-G01"}),
        ["people.yaml", "people[1].posts[0].area", "V01-G01", "only units have liaisons"],
    ),
    (
        "unknown department",
        _yaml_item("people.yaml", "people", 2, department="tax"),
        ["people.yaml", "people[2].department", "tax", "unknown department"],
    ),
    (
        "bad phone",
        _yaml_item("people.yaml", "people", 3, phone="call me"),
        ["people.yaml", "people[3].phone", "call me"],
    ),
    (
        "unknown key",
        _yaml_item("people.yaml", "people", 4, emial="x@example.org"),
        ["people.yaml", "people[4].emial", "x@example.org"],
    ),
    (
        "hierarchy not JSON",
        _write("town.geojson", b'{"type": "FeatureCollection",,}'),
        ["town.geojson", "line 1", "not JSON"],
    ),
    (
        "hierarchy binary",
        _write("town.geojson", b"\x89PNG\r\n\x1a\n\x00\x00\xff"),
        ["town.geojson", "cannot read"],
    ),
    (
        "people not YAML",
        _write("people.yaml", b"people:\n  - id: P1\n   name: [unclosed\n"),
        ["people.yaml", "line", "not YAML"],
    ),
    (
        "devices not a list",
        _write("devices.yaml", b"devices: 7\n"),
        ["devices.yaml", "devices", "7", "must be a list"],
    ),
    (
        "missing file",
        lambda path: (path / "departments.yaml").unlink(),
        ["departments.yaml", "file not found"],
    ),
]


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    return rc, out + err


@pytest.mark.parametrize(
    ("mutate", "expected"), [pytest.param(m, e, id=c) for c, m, e in BAD_FILES]
)
def test_bad_file_is_reported(
    small_town: BuiltTown,
    capsys: pytest.CaptureFixture[str],
    mutate: Mutation,
    expected: list[str],
) -> None:
    mutate(small_town.path)
    rc, output = _check(small_town.path, capsys)
    assert rc == 2, output
    assert "Traceback" not in output
    lines = output.splitlines()
    assert any(all(s in line for s in expected) for line in lines), (expected, output)


def test_the_small_town_is_valid_before_it_is_broken(
    small_town: BuiltTown, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, output = _check(small_town.path, capsys)
    assert rc == 0, output
    assert small_town.town.vacant_units == [SMALL_VACANT]
    assert [p["id"] for p in small_town.town.people[5:7]] == ["P00006", "P00007"]


def test_every_problem_is_reported_at_once(
    small_town: BuiltTown, capsys: pytest.CaptureFixture[str]
) -> None:
    _props("V01-G01-U01", level="hamlet")(small_town.path)
    _yaml_item("devices.yaml", "devices", 1, unit="V09-G09-U09")(small_town.path)
    _yaml_item("departments.yaml", "departments", 0, contact="P77777")(small_town.path)
    rc, output = _check(small_town.path, capsys)
    assert rc == 2
    for needle in ("hamlet", "V09-G09-U09", "P77777"):
        assert needle in output
    with pytest.raises(TownConfigError) as info:
        load_town(small_town.path)
    assert len(info.value.problems) >= 3


def test_a_child_within_the_tolerance_passes(
    small_town: BuiltTown, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half the tolerance out of the parent, and half onto its neighbours: still valid."""
    _geometry("V02-G02-U01", _shifted("V02-G02-U01", 5e-7))(small_town.path)
    rc, output = _check(small_town.path, capsys)
    assert rc == 0, output


def test_a_single_hierarchy_file_can_be_checked(
    small_town: BuiltTown, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, output = _check(small_town.path / "town.geojson", capsys)
    assert rc == 0, output
    _props("V01-G02-U04", parent="NO-SUCH-GRID")(small_town.path)
    rc, output = _check(small_town.path / "town.geojson", capsys)
    assert rc == 2 and "NO-SUCH-GRID" in output
    with pytest.raises(TownConfigError, match="NO-SUCH-GRID"):
        load_hierarchy(small_town.path / "town.geojson")


def test_the_command_line_exits_2_without_a_traceback(small_town: BuiltTown) -> None:
    _write("town.geojson", b"not json at all")(small_town.path)
    proc = subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "config", "check", str(small_town.path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "not JSON" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_the_shipped_sample_town_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    sample = Path(__file__).resolve().parents[2] / "config"
    rc, output = _check(sample, capsys)
    assert rc == 0, output


@pytest.mark.parametrize("name", ["town.geojson", "people.yaml", "departments.yaml"])
def test_an_unreadable_file_gives_one_problem_not_a_cascade(
    small_town: BuiltTown, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """References into a file that cannot be read are not reported as unknown ids."""
    (small_town.path / name).write_text("{{ not: [valid\n", encoding="utf-8")
    rc, output = _check(small_town.path, capsys)
    assert rc == 2
    problems = [line for line in output.splitlines() if line.startswith(str(small_town.path))]
    assert len(problems) == 1, output
    assert name in problems[0]
