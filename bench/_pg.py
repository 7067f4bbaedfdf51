"""The PostgreSQL server a benchmark makes its databases on: the one the tests use."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

#: Read as the tests read it (tests/conftest.py), so one variable points both at a server.
ADMIN_ENV = "GRIDWATCH_TEST_PG_ADMIN"
ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    """A DSN allowed to create and drop databases."""
    return os.environ.get(ADMIN_ENV, ADMIN_DEFAULT)


def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The command line by ``parser`` and the options of every benchmark that prints
    its result as its last line: ``--admin-dsn`` and ``--json``."""
    parser.add_argument(
        "--admin-dsn",
        default=admin_dsn(),
        help=f"DSN that may create and drop databases (default: ${ADMIN_ENV} or {ADMIN_DEFAULT})",
    )
    parser.add_argument("--json", action="store_true", help="(the last line is JSON anyway)")
    return parser.parse_args()


@contextmanager
def bench_database(admin: str, bench: str) -> Iterator[str]:
    """The DSN of a new empty database for benchmark ``bench``, dropped after the block."""
    from gridwatch.services import scratch_database

    with scratch_database(admin, f"gwbench_{bench}_{uuid.uuid4().hex[:8]}") as dsn:
        yield dsn
