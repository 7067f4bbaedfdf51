"""Migrations: idempotent, safe when several processes start together, owned by the owner role."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gateway.db import MigrationError
from gateway.db.migrate import Migration, applied_versions, discover, migrate, pending
from tests.gateway.conftest import scalar


def test_migrate_twice_applies_nothing_the_second_time(fresh_db: str) -> None:
    first = migrate(fresh_db)
    assert first[0] == "0001_core (plain)"
    assert migrate(fresh_db) == []
    with psycopg.connect(fresh_db) as conn:
        assert [v for v, _, _ in applied_versions(conn)] == [m.version for m in discover()]


def test_four_concurrent_migrations_apply_each_version_once(fresh_db: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(fresh_db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    applied = [name for r in results for name in r]
    assert len(applied) == len(discover()), applied
    assert len(set(applied)) == len(applied)
    assert scalar(fresh_db, "SELECT count(*) FROM schema_migrations") == len(discover())


def test_tables_belong_to_the_owner_role_and_the_service_role_gets_dml(fresh_db: str) -> None:
    migrate(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        owners: dict[str, str] = dict(
            conn.execute(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S')"
            ).fetchall()
        )
        assert owners, "no tables"
        assert set(owners.values()) == {"gridwatch_owner"}, owners
        for table in ("events", "readings", "dead_letters", "dispatch_queue", "device_status"):
            privs = conn.execute(
                "SELECT has_table_privilege('gridwatch_app', %s, 'INSERT'),"
                " has_table_privilege('gridwatch_app', %s, 'DELETE'),"
                " has_table_privilege('gridwatch_app', %s, 'TRUNCATE')",
                (table, table, table),
            ).fetchone()
            assert privs == (True, True, False), table
        # Tables of later migrations (another engineer's 0002) get the grants too.
        assert conn.execute(
            "SELECT bool_and(has_table_privilege('gridwatch_app', c.oid, 'SELECT'))"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        ).fetchone() == (True,)
        seq_ok = conn.execute(
            "SELECT has_sequence_privilege('gridwatch_app', 'dead_letters_id_seq', 'USAGE')"
        ).fetchone()
        assert seq_ok == (True,)


def test_partitions_exist_ahead_and_rows_leave_the_default_partition(fresh_db: str) -> None:
    migrate(fresh_db)
    far = datetime.now(UTC) + timedelta(days=30)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        days = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
        ).fetchone()
        assert days is not None and days[0] >= 8  # a week ahead plus the default
        conn.execute(
            "INSERT INTO events (event_id, ts, device_id, seq, rule, category, extra)"
            " VALUES (gen_random_uuid(), %s, 'cam-001', 1, 'intrusion', 'intrusion', '{}')",
            (far,),
        )
        assert conn.execute("SELECT count(*) FROM events_default").fetchone() == (1,)
        conn.execute("SELECT gridwatch_ensure_partitions(35)")
        assert conn.execute("SELECT count(*) FROM events_default").fetchone() == (0,)
        where = conn.execute("SELECT tableoid::regclass::text FROM events").fetchone()
        assert where == (f"events_p{far:%Y%m%d}",)


def test_variant_files_must_come_in_pairs(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0002_b.plain.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"0002_b.*lacks.*timescale"):
        discover(tmp_path)


def test_a_file_outside_the_convention_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_core.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"1_core\.sql"):
        discover(tmp_path)


def test_variant_runs_before_the_common_file(tmp_path: Path) -> None:
    for name in ("0003_x.sql", "0003_x.plain.sql", "0003_x.timescale.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    (mig,) = discover(tmp_path)
    assert [p.name for p in mig.files("plain")] == ["0003_x.plain.sql", "0003_x.sql"]
    assert [p.name for p in mig.files("timescale")] == ["0003_x.timescale.sql", "0003_x.sql"]
    assert pending([mig, Migration(4, "y")], [3]) == [Migration(4, "y")]


def test_a_failing_migration_names_itself_and_leaves_nothing(fresh_db: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELEC 1;")
    with pytest.raises(MigrationError, match="0002_broken"):
        migrate(fresh_db, directory=tmp_path)
    assert scalar(fresh_db, "SELECT to_regclass('half')::text") is None
    assert scalar(fresh_db, "SELECT array_agg(version) FROM schema_migrations") == [1]


def test_databases_migrating_at_once_share_new_roles_without_errors(pg_admin_url: str) -> None:
    # Roles are cluster-wide but the advisory lock is per database: the role
    # creation itself must tolerate a concurrent "already exists".
    import uuid

    from psycopg import sql

    tag = uuid.uuid4().hex[:8]
    owner, service = f"gwtest_owner_{tag}", f"gwtest_app_{tag}"
    names = [f"gwtest_roles_{tag}_{i}" for i in range(4)]
    base = pg_admin_url.rpartition("/")[0]
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            migrate(f"{base}/{name}", owner_role=owner, service_role=service)
        except BaseException as exc:
            errors.append(exc)

    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            threads = [threading.Thread(target=run, args=(n,)) for n in names]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert errors == []
            for name in names:
                dsn = f"{base}/{name}"
                assert scalar(
                    dsn, "SELECT tableowner FROM pg_tables WHERE tablename = 'events'"
                ) == (owner)
        finally:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            for role in (owner, service):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
