"""`gridwatch config check` covers the dispatcher's tables too, in the town's problem lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[1] / "config"


def _check_in(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``gridwatch config check config`` run from ``cwd``, as a person would type it."""
    return subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "config", "check", "config"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "good", "bad", "where"),
    [
        ("routing.yaml", "    flood: {", "    fluod: {", "merge.categories.fluod"),
        ("deadlines.yaml", "  dispute:\n", "  dispte:\n", "categories.dispte"),
    ],
)
def test_a_category_typo_in_a_dispatch_table_fails_the_check(
    tmp_path: Path, name: str, good: str, bad: str, where: str
) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    table = tmp_path / "config" / name
    text = table.read_text(encoding="utf-8")
    assert good in text
    table.write_text(text.replace(good, bad, 1), encoding="utf-8")

    proc = _check_in(tmp_path)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    typo = where.rsplit(".", 1)[1]
    lines = [line for line in proc.stdout.splitlines() if line.startswith(f"config/{name}: ")]
    assert len(lines) == 1, proc.stdout
    assert f": {where}: unknown category {typo!r}" in lines[0]
    assert lines[0].endswith(f"(value: {typo})")


def test_the_shipped_config_folder_passes_with_its_dispatch_tables(tmp_path: Path) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    proc = _check_in(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_bad_eval_label_file_fails_the_check(tmp_path: Path) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    labels = tmp_path / "config" / "labels" / "vtest.yaml"
    labels.write_text(
        labels.read_text(encoding="utf-8").replace("fps: 10", "fps: -10", 1), encoding="utf-8"
    )
    proc = _check_in(tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "config/labels/vtest.yaml: fps: Input should be greater than 0 (value: -10)" in (
        proc.stdout
    )


def _check_at(cwd: Path, when: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "config", "check", "config", "--at", when],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_calendar_that_ends_at_2026_fails_the_check_in_2027_naming_the_year(
    tmp_path: Path,
) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    # The sample town counts a missing year Monday to Friday: a warning, not a failure.
    proc = _check_at(tmp_path, "2027-01-04T09:00")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "does not cover 2027: deadlines count Monday to Friday" in proc.stderr
    # Without that stop-gap (the default) the same calendar fails the check.
    (tmp_path / "config" / "calendar.yaml").write_text("years: {}\n", encoding="utf-8")
    proc = _check_at(tmp_path, "2027-01-04T09:00")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "config/calendar.yaml: years: " in proc.stdout
    assert "does not cover 2027" in proc.stdout and proc.stdout.rstrip().endswith("(value: 2027)")
    # In November the same folder passes, with a warning that names the missing year.
    proc = _check_at(tmp_path, "2026-11-15")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "add 2027 to calendar.yaml" in proc.stderr
    # With 2027 in calendar.yaml (a made-up one, for the test) January passes quietly.
    (tmp_path / "config" / "calendar.yaml").write_text(
        "years:\n  2027:\n    holidays: [2027-01-01]\n    workdays: []\n", encoding="utf-8"
    )
    proc = _check_at(tmp_path, "2027-01-04")
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stdout + proc.stderr


def test_channels_yaml_naming_an_unknown_person_or_webhook_fails_the_check(tmp_path: Path) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    (tmp_path / "config" / "channels.yaml").write_text(
        "webhooks: {platform: {url: 'https://p.example/n'}}\n"
        "people:\n  P00001: {webhooks: [sms]}\n  NOBODY: {mqtt: false}\n",
        encoding="utf-8",
    )
    proc = _check_in(tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("config/channels.yaml: ")]
    assert len(lines) == 1, proc.stdout
    assert "people.P00001.webhooks: webhook 'sms' is not defined under webhooks" in lines[0]

    (tmp_path / "config" / "channels.yaml").write_text(
        "people:\n  NOBODY: {mqtt: false}\n", encoding="utf-8"
    )
    proc = _check_in(tmp_path)
    assert proc.returncode == 2
    assert "config/channels.yaml: people.NOBODY: no such person in people.yaml (value: NOBODY)" in (
        proc.stdout
    )


@pytest.mark.parametrize(
    ("good", "bad", "where"),
    [
        ("    overdue: 5\n", "    overdeu: 5\n", "ranking.weights.overdeu"),
        ("  min_cases: 3\n", "  min_cases: 0\n", "ranking.min_cases"),
        ("fortnight_start: 2025-01-06\n", "fortnight_start: someday\n", "fortnight_start"),
    ],
)
def test_a_wrong_key_or_value_in_cadence_yaml_fails_the_check(
    tmp_path: Path, good: str, bad: str, where: str
) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    table = tmp_path / "config" / "cadence.yaml"
    text = table.read_text(encoding="utf-8")
    assert good in text
    table.write_text(text.replace(good, bad, 1), encoding="utf-8")

    proc = _check_in(tmp_path)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("config/cadence.yaml: ")]
    assert len(lines) == 1, proc.stdout
    assert f": {where}: " in lines[0]
