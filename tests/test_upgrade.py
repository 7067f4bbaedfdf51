"""Upgrades: a database of the first release, with data, migrates to today's schema intact.

``tests/fixtures/schema_v1/`` is the first release's migrations, frozen (never edited). A
database is built from it, filled through the real code, then migrated with the project's
migrator from ``gateway/db/migrations/``. Each later release adds its own frozen copy and
its own case here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.db.migrate import MIGRATIONS_DIR, discover, migrate
from gridwatch.town import Town, load_town
from tests.drill_support import CONFIG, counts, fill, key_digest, schema

pytestmark = pytest.mark.slow

FROZEN = Path(__file__).parent / "fixtures"
RELEASES = sorted(p for p in FROZEN.glob("schema_v*") if p.is_dir())


@pytest.fixture(scope="module")
def town() -> Town:
    return load_town(CONFIG)


@pytest.fixture
def scratch(pg_admin_url: str) -> Iterator[str]:
    """A second new database (built from the target migrations by the test)."""
    from gridwatch.services import scratch_database

    with scratch_database(pg_admin_url, f"gwtest_current_{uuid.uuid4().hex[:8]}") as dsn:
        yield dsn


def upgrade(release: Path, target: Path, dsn: str, new_db: str, town: Town) -> list[str]:
    """Build ``dsn`` from ``release``, fill it, migrate it to ``target``; the problems
    found: rows lost or changed, or a schema unlike that of ``new_db`` built from
    ``target``. Then more data must go in and make cases."""
    migrate(dsn, directory=release)
    fill(dsn, town, cameras=9, per_camera=20)
    before, keys = counts(dsn), key_digest(dsn)
    assert before["events"] == 9 * 20 and before["cases"] == 9
    applied = migrate(dsn, directory=target)
    migrate(new_db, directory=target)

    released = {m.version for m in discover(release)}
    newer = [f"{m.version:04d}_{m.name}" for m in discover(target) if m.version not in released]
    assert [a.split(" ")[0] for a in applied] == newer
    after = counts(dsn)
    print(f"upgrade {release.name} -> {target.name}: applied {newer or 'nothing'}; rows {after}")
    problems = []
    for table, n in before.items():
        if table != "schema_migrations" and after[table] != n:
            problems.append(f"{table}: {n} rows before, {after[table]} after")
    changed = [t for t, d in key_digest(dsn).items() if keys[t] != d]
    if changed:
        problems.append(f"rows changed in {changed}")
    if schema(dsn) != schema(new_db):
        problems.append("the upgraded schema differs from a new database's")
    stats = fill(dsn, town, cameras=12, per_camera=2)
    if stats.events != 24 or counts(dsn)["cases"] <= before["cases"]:
        problems.append(f"today's code stored {stats.events} of 24 events after the upgrade")
    return problems


def test_there_is_a_frozen_first_release() -> None:
    assert [p.name for p in RELEASES][:1] == ["schema_v1"]
    assert len(discover(FROZEN / "schema_v1")) >= 20


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.name)
def test_a_released_migration_is_never_edited(release: Path) -> None:
    """An upgraded database never reruns a migration it has, so a released file changed in
    place would leave old databases on the old text: add a new migration instead."""
    for frozen in sorted(release.glob("*.sql")):
        current = MIGRATIONS_DIR / frozen.name
        assert current.is_file(), f"released migration {frozen.name} was removed or renamed"
        assert current.read_bytes() == frozen.read_bytes(), (
            f"released migration {frozen.name} was edited; add a new migration instead"
        )


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.name)
def test_a_filled_database_of_a_release_migrates_to_todays_schema_with_its_data(
    release: Path, fresh_db: str, scratch: str, town: Town
) -> None:
    assert upgrade(release, MIGRATIONS_DIR, fresh_db, scratch, town) == []


#: A later release's migrations: one that keeps the data, one that loses some.
LATER = {
    "keeps": "ALTER TABLE cases ADD COLUMN drill_note text;\n"
    "CREATE INDEX cases_drill_note ON cases (drill_note);\n",
    "loses": "DELETE FROM notifications WHERE kind = 'assigned';\n",
}


@pytest.mark.parametrize("later", sorted(LATER))
def test_the_upgrade_check_applies_a_later_migration_and_sees_lost_rows(
    later: str, fresh_db: str, scratch: str, town: Town, tmp_path: Path
) -> None:
    target = tmp_path / "migrations"
    target.mkdir()
    for f in MIGRATIONS_DIR.glob("*.sql"):
        (target / f.name).write_bytes(f.read_bytes())
    (target / f"0999_drill_{later}.sql").write_text(LATER[later])
    problems = upgrade(FROZEN / "schema_v1", target, fresh_db, scratch, town)
    if later == "keeps":
        assert problems == []
    else:
        assert any(p.startswith("notifications:") for p in problems), problems
