"""The town as other packages use it: load_town, hierarchy, people, devices, departments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml
from shapely.geometry import shape

from gridwatch.cli import main
from gridwatch.domain import CATEGORIES
from gridwatch.town import (
    Device,
    TownConfigError,
    check_path,
    derived_person_id,
    load_town,
)
from gridwatch.town.synth import SynthSpec, synth_town, write_config
from tests.town.conftest import BuiltTown

SAMPLE = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def sample() -> Any:
    return load_town(SAMPLE)


def test_sample_town_has_jiaoweis_size(sample: Any) -> None:
    levels = [a.level for a in sample.hierarchy.areas.values()]
    assert levels.count("town") == 1
    assert (levels.count("village"), levels.count("grid"), levels.count("unit")) == (21, 156, 579)
    lon, lat = shapely.get_coordinates(
        shapely.centroid(shape(sample.hierarchy.geojson()["features"][0]["geometry"]))
    )[0]
    assert 118.8 < lon < 119.2 and 25.3 < lat < 25.6  # Putian


def test_sample_town_units_have_leaders_except_three_vacancies(sample: Any) -> None:
    units = [a for a in sample.hierarchy.areas.values() if a.level == "unit"]
    vacant = sorted(u.id for u in units if u.leader is None)
    assert len(vacant) == 3
    assert all(u.liaison is not None for u in units)
    header = (SAMPLE / "people.yaml").read_text(encoding="utf-8").splitlines()[:5]
    assert any(", ".join(vacant) in line for line in header), "vacancies are documented"
    for u in units:
        if u.leader is not None:
            person = sample.people[u.leader.person_id]
            assert any(p.kind == "leader" and p.area == u.id for p in person.posts)


def test_sample_town_has_multipolygons_and_holes(sample: Any) -> None:
    geoms = sample.hierarchy.geometries
    units = [u for u, a in sample.hierarchy.areas.items() if a.level == "unit"]
    assert sum(geoms[u].geom_type == "MultiPolygon" for u in units) >= 2
    holes = [u for u in units if geoms[u].geom_type == "Polygon" and geoms[u].interiors]
    assert len(holes) >= 2


def test_sample_demo_cameras_replay_vtest_in_three_units(sample: Any) -> None:
    demo = [d for d in sample.devices.values() if d.id.startswith("cam-demo-")]
    assert len(demo) >= 3
    assert len({d.unit for d in demo}) == len(demo)
    for d in demo:
        assert d.stream == "asset://vtest.avi" and d.asset == "vtest.avi"
        assert d.zones and d.rules[0].type == "intrusion" and d.rules[0].classes == ["person"]
        zone = shapely.Polygon(d.zones[0].polygon)
        assert 0.55 * 768 * 576 <= zone.area <= 0.65 * 768 * 576
        assert zone.bounds[3] == 576
        assert d.homography is not None and len(d.homography) == 4
        unit = sample.hierarchy.geometries[d.unit]
        quad = shapely.Polygon([(p.lon, p.lat) for p in d.homography])
        assert unit.contains(quad)
        assert sample.hierarchy.locate(d.lon, d.lat).unit_id == d.unit
    kinds = {d.kind for d in sample.devices.values()}
    assert kinds == {"camera", "sensor"}


def test_departments_own_every_category(sample: Any) -> None:
    expected = {
        "intrusion": "派出所",
        "loitering": "派出所",
        "crowding": "派出所",
        "line_crossing": "派出所",
        "abandoned_object": "派出所",
        "illegal_parking": "城管",
        "sanitation": "城管",
        "fire_smoke": "应急",
        "flood": "应急",
        "dispute": "综治中心",
        "other": "综治中心",
        "camera_tamper": "运维",
        "sensor_alarm": "运维",
    }
    assert set(expected) == set(CATEGORIES)
    for category, name in expected.items():
        dept = sample.department_for(category)
        assert dept is not None and dept.name == name
        assert dept.contact in sample.people
    assert sample.department_for("no-such-category") is None


def test_chain_runs_up_to_the_town(sample: Any) -> None:
    unit = sample.devices["cam-demo-1"].unit
    chain = sample.hierarchy.chain(unit)
    assert [a.level for a in chain] == ["unit", "grid", "village", "town"]
    assert chain[0].id == unit and chain[-1].parent is None
    loc = sample.hierarchy.location_of_unit(unit)
    assert [loc.unit_id, loc.grid_id, loc.village_id, loc.town_id] == [a.id for a in chain]


def test_inline_leader_gets_a_stable_derived_person(small_town: BuiltTown) -> None:
    path = small_town.path / "town.geojson"
    data = json.loads(path.read_text(encoding="utf-8"))
    feat = next(f for f in data["features"] if f["properties"]["id"] == "V02-G02-U01")
    feat["properties"]["leader"] = {"name": "郑秀英", "phone": "13900001111"}
    feat["properties"]["liaison"] = {"name": "郑秀英", "phone": "13900001111"}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    # The people who held those posts leave people.yaml (else it would disagree with the map).
    people_file = small_town.path / "people.yaml"
    people = yaml.safe_load(people_file.read_text(encoding="utf-8"))
    people["people"] = [
        p for p in people["people"] if all(post.get("area") != "V02-G02-U01" for post in p["posts"])
    ]
    people_file.write_text(yaml.safe_dump(people, allow_unicode=True), encoding="utf-8")
    town = load_town(small_town.path)
    area = town.hierarchy.areas["V02-G02-U01"]
    assert area.leader is not None and area.liaison is not None
    pid = derived_person_id("V02-G02-U01", "郑秀英", "13900001111")
    assert area.leader.person_id == pid == area.liaison.person_id
    again = load_town(small_town.path).hierarchy.areas["V02-G02-U01"].leader
    assert again is not None and again.person_id == pid
    person = town.people[pid]
    assert (person.name, person.phone) == ("郑秀英", "13900001111")
    assert {(p.kind, p.area) for p in person.posts} == {
        ("leader", "V02-G02-U01"),
        ("liaison", "V02-G02-U01"),
    }


def test_load_town_raises_with_every_problem(small_town: BuiltTown) -> None:
    (small_town.path / "devices.yaml").write_text("devices:\n- id: x\n  kind: drone\n")
    with pytest.raises(TownConfigError) as info:
        load_town(small_town.path)
    text = str(info.value)
    assert "devices[0].kind" in text and "drone" in text


def test_device_ids_follow_the_mqtt_contract() -> None:
    with pytest.raises(ValueError, match="id"):
        Device.model_validate(
            {
                "id": "cam/1",
                "kind": "sensor",
                "unit": "u",
                "lon": 119,
                "lat": 25,
                "sensor_type": "smoke",
            }
        )


def test_synth_is_reproducible_and_sized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["config", "synth", "--seed", "5", "--villages", "3", "--grids", "7", "--units", "30"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 2  # refuses to overwrite
    for name in ("town.geojson", "people.yaml", "devices.yaml", "departments.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    town = load_town(tmp_path / "a")
    levels = [a.level for a in town.hierarchy.areas.values()]
    assert (levels.count("village"), levels.count("grid"), levels.count("unit")) == (3, 7, 30)
    capsys.readouterr()


def _round(coords: Any, digits: int) -> Any:
    if isinstance(coords[0], float | int):
        return [round(c, digits) for c in coords]
    return [_round(c, digits) for c in coords]


@pytest.mark.slow
def test_rounded_zhongmen_sized_town_is_valid(tmp_path: Path) -> None:
    spec = SynthSpec(seed=11, villages=9, grids=61, units=1114)
    town = synth_town(spec)
    write_config(town, tmp_path, spec)
    fc = town.geojson(precision=None)  # full precision, rounded here independently
    for f in fc["features"]:
        f["geometry"] = json.loads(json.dumps(f["geometry"]))
        f["geometry"]["coordinates"] = _round(f["geometry"]["coordinates"], 7)
    (tmp_path / "town.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    assert check_path(tmp_path) == []
