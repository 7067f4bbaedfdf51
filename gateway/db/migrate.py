"""Versioned SQL migrations, applied in order under an advisory lock.

File convention (see docs/storage.md), in ``gateway/db/migrations/``::

    NNNN_name.sql             runs on every PostgreSQL
    NNNN_name.plain.sql       runs only without TimescaleDB
    NNNN_name.timescale.sql   runs only with TimescaleDB

A version may have a common file, a pair of variant files, or both; the
matching variant runs first, then the common file, in one transaction.
Objects are created as the owner role (``SET ROLE``), never as the service
role, and default privileges grant the service role DML on everything the
owner creates later, so later migrations need no GRANTs.

The API's role (:data:`API_ROLE`: NOLOGIN, owns nothing, no BYPASSRLS) is
granted to the service role, so the API's pool may ``SET LOCAL ROLE`` to it per
transaction; migration 0007 grants it what it may do and the row-level
policies that scope it. Migrations read the three role names as
``current_setting('gridwatch.owner_role' | 'gridwatch.service_role' | 'gridwatch.api_role')``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from gateway.db import MigrationError
from gateway.db.capability import has_timescaledb, timescaledb_installed

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
OWNER_ROLE = "gridwatch_owner"
#: The role every API request runs as, under row-level security.
API_ROLE = "gridwatch_api"
#: One key for every gridwatch migration; advisory locks are per database.
LOCK_KEY = 0x6772_6964_7761  # "gridwa"
VARIANTS = ("plain", "timescale")

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(plain|timescale))?\.sql$")
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Migration:
    """One version: an optional common file and optional variant files."""

    version: int
    name: str
    common: Path | None = None
    variants: dict[str, Path] = field(default_factory=dict)

    def files(self, variant: str) -> list[Path]:
        """Files to run for a storage variant, in order: the variant, then the common file."""
        out = [self.variants[variant]] if variant in self.variants else []
        if self.common is not None:
            out.append(self.common)
        return out

    def checksum(self, variant: str) -> str:
        digest = hashlib.sha256()
        for path in self.files(variant):
            digest.update(path.read_bytes())
        return digest.hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations in a folder, ordered by version; MigrationError on a bad set of files."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise MigrationError(
                f"migration file {path.name!r} does not match NNNN_name[.plain|.timescale].sql"
            )
        version, name, variant = int(match[1]), match[2], match[3]
        mig = found.get(version) or Migration(version, name)
        if mig.name != name:
            raise MigrationError(
                f"version {version:04d} has two names: {mig.name!r} and {name!r} ({path.name})"
            )
        if variant is None:
            mig = Migration(version, name, path, mig.variants)
        else:
            mig = Migration(version, name, mig.common, {**mig.variants, variant: path})
        found[version] = mig
    for mig in found.values():
        if mig.variants and set(mig.variants) != set(VARIANTS):
            missing = sorted(set(VARIANTS) - set(mig.variants))
            raise MigrationError(
                f"migration {mig.version:04d}_{mig.name} has a variant file but lacks {missing}"
            )
    return [found[v] for v in sorted(found)]


def pending(migrations: Iterable[Migration], applied: Iterable[int]) -> list[Migration]:
    """The migrations not applied yet, in order."""
    done = set(applied)
    return [m for m in migrations if m.version not in done]


def _check_role(name: str) -> str:
    if not _ROLE_RE.match(name):
        raise MigrationError(f"role name {name!r} must match {_ROLE_RE.pattern}")
    return name


def _ensure_role(conn: psycopg.Connection, role: str) -> None:
    # Roles are cluster-wide while the advisory lock is per database: two
    # databases migrating at once race here, so "already exists" is success.
    conn.execute(
        sql.SQL(
            """
            DO $do$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN
                    CREATE ROLE {role} NOLOGIN;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END
            $do$
            """
        ).format(name=sql.Literal(role), role=sql.Identifier(role))
    )


def _grant_role(conn: psycopg.Connection, role: str, member: str) -> None:
    """``GRANT role TO member`` once; as with roles, a concurrent grant is success."""
    conn.execute(
        sql.SQL(
            """
            DO $do$
            BEGIN
                IF NOT pg_has_role({member_name}, {role_name}, 'MEMBER') THEN
                    GRANT {role} TO {member};
                END IF;
            EXCEPTION WHEN unique_violation OR duplicate_object THEN
                NULL;
            END
            $do$
            """
        ).format(
            member_name=sql.Literal(member),
            role_name=sql.Literal(role),
            role=sql.Identifier(role),
            member=sql.Identifier(member),
        )
    )


def _may_set_role(conn: psycopg.Connection, role: str) -> bool:
    row = conn.execute(
        "SELECT rolsuper OR pg_has_role(current_user, %s, 'MEMBER') FROM pg_roles"
        " WHERE rolname = current_user",
        (role,),
    ).fetchone()
    return bool(row and row[0])


def _can_login(conn: psycopg.Connection, role: str) -> bool:
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return bool(row and row[0])


def _prepare(conn: psycopg.Connection, owner: str, service: str, api: str) -> None:
    """Roles, schema rights and default privileges; idempotent."""
    _ensure_role(conn, owner)
    _ensure_role(conn, service)
    _ensure_role(conn, api)
    _grant_role(conn, api, service)
    if not _may_set_role(conn, owner):
        try:
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(owner)))
        except psycopg.Error as exc:
            raise MigrationError(
                f"the migrating user may not SET ROLE {owner}: grant it the role ({exc})"
            ) from exc
    ids = {
        "owner": sql.Identifier(owner),
        "service": sql.Identifier(service),
        "api": sql.Identifier(api),
    }
    with conn.transaction():
        for stmt in (
            "GRANT USAGE, CREATE ON SCHEMA public TO {owner}",
            "GRANT USAGE ON SCHEMA public TO {service}",
            "GRANT USAGE ON SCHEMA public TO {api}",
            "SET LOCAL ROLE {owner}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {service}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {service}",
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, variant text NOT NULL,"
            " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        ):
            conn.execute(sql.SQL(stmt).format(**ids))


def _choose_variant(conn: psycopg.Connection, applied: Sequence[int]) -> str:
    if timescaledb_installed(conn):
        return "timescale"
    if not applied and has_timescaledb(conn):
        # A fresh database where the extension is available: use it. An
        # existing plain database stays plain (converting is a manual job).
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return "timescale"
    return "plain"


def migrate(
    dsn: str,
    *,
    service_role: str = "gridwatch_app",
    owner_role: str = OWNER_ROLE,
    api_role: str = API_ROLE,
    directory: Path = MIGRATIONS_DIR,
    tz: str | None = None,
) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date).

    ``tz`` (default: ``GRIDWATCH_TZ`` from settings) is the zone hourly rollups are
    bucketed in; migrations read it as ``current_setting('gridwatch.tz')``.

    Safe to run from several processes at once: they queue on an advisory lock
    and the later ones find nothing left to do.
    """
    owner, service = _check_role(owner_role), _check_role(service_role)
    api = _check_role(api_role)
    migrations = discover(directory)
    if tz is None:
        from gridwatch.settings import get_settings

        tz = get_settings().tz
    done: list[str] = []
    try:
        conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
    except psycopg.Error as exc:
        raise MigrationError(f"cannot connect to the database to migrate: {exc}") from exc
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            _prepare(conn, owner, service, api)
            applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
            variant = _choose_variant(conn, applied)
            # TimescaleDB runs policy jobs as the hypertables' owner and refuses a
            # NOLOGIN owner ("must have LOGIN permission to run background tasks").
            # It gets no password: pg_hba decides who may use it. An owner that logs
            # in already (it may be the one migrating) may not alter itself.
            if variant == "timescale" and not _can_login(conn, owner):
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(owner)))
            for mig in pending(migrations, applied):
                label = f"{mig.version:04d}_{mig.name} ({variant})"
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
                        for name, value in (
                            ("tz", tz),
                            ("owner_role", owner),
                            ("service_role", service),
                            ("api_role", api),
                        ):
                            conn.execute(
                                "SELECT set_config(%s, %s, true)", (f"gridwatch.{name}", value)
                            )
                        for path in mig.files(variant):
                            conn.execute(path.read_text(encoding="utf-8").encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, variant, checksum)"
                            " VALUES (%s, %s, %s, %s)",
                            (mig.version, mig.name, variant, mig.checksum(variant)),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {label} failed: {exc}") from exc
                log.info("applied migration %s", label)
                done.append(label)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return done


def applied_versions(conn: psycopg.Connection) -> list[tuple[int, str, str]]:
    """(version, name, variant) of every applied migration, in order."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return []
    rows = conn.execute("SELECT version, name, variant FROM schema_migrations ORDER BY version")
    return [(int(v), str(n), str(k)) for v, n, k in rows]
