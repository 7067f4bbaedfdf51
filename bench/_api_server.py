"""The gateway's API without authentication or scope: ``bench/api.py``'s baseline server.

    python bench/_api_server.py   # GRIDWATCH_* settings as for ``gridwatch gateway``

The same app (``gateway.api.app.create_app``), routes, queries, models and
uvicorn settings as ``gridwatch gateway --no-ingest``, with two dependencies
overridden, for this process only: the caller is a town-wide principal without
a token or an account lookup, and ``Db`` is the pooled connection as the service
role, with no ``SET ROLE`` and no scope, so row-level security does not apply.
What the benchmark's two figures differ by is then what authentication and
row-level security cost. Not a way to run the gateway: there is no setting that
turns authentication off.
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _overrides(app: Any) -> None:
    """Replace the caller and the scoped connection for this app."""
    from gateway.api import deps
    from gateway.auth.principal import Principal, Scope
    from gridwatch.domain import Role

    nobody = Principal(
        subject="bench", person_id=None, name=None, role=Role.DUTY_COMMANDER, scope=Scope(all=True)
    )
    app.dependency_overrides[deps.current_principal] = lambda: nobody

    # The same pooled connection and transaction, minus the role switch and scope.
    # (No postponed annotations in this file: FastAPI reads this one as an object.)
    def plain_db(conn: deps.Connection) -> Iterator[Any]:
        yield conn

    app.dependency_overrides[deps.get_db] = plain_db


def main() -> int:
    from gateway.api.app import create_app
    from gateway.process import http_server
    from gridwatch.settings import get_settings
    from gridwatch.town import load_town

    settings = get_settings()
    app = create_app(settings, load_town(settings.config_dir))
    _overrides(app)
    http_server(app, settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
