"""The gateway's API without authentication or scope: ``bench/api.py``'s baseline server.

    python bench/_api_server.py   # GRIDWATCH_* settings as for ``gridwatch gateway``

The same app (``gateway.api.app.create_app``), routes, queries, models and
uvicorn settings as ``gridwatch gateway --no-ingest``, with two dependencies
overridden, for this process only: ``deps.get_gate``, which every scoped handler
goes through (``Db``, ``CurrentPerson`` and the case list's own ``gate.open_async()``),
opens the pooled connection as the service role for a town-wide principal: no
token, no account lookup, no ``SET ROLE``, no scope, so row-level security does
not apply.
What the benchmark's two figures differ by is then what authentication and
row-level security cost. Not a way to run the gateway: there is no setting that
turns authentication off.
"""

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _overrides(app: Any) -> None:
    """Replace the signed-in, scoped connection for this app."""
    from gateway.api import deps
    from gateway.auth.principal import Principal, Scope
    from gridwatch.domain import Role

    nobody = Principal(
        subject="bench", person_id=None, name=None, role=Role.DUTY_COMMANDER, scope=Scope(all=True)
    )

    class PlainGate(deps.Gate):
        """The same pooled connection and transaction, minus sign-in, role and scope."""

        @contextmanager
        def open(self) -> Iterator[deps.Scoped]:
            with deps.pool_of(self.state).connection() as conn:
                yield deps.Scoped(conn, nobody)

        @asynccontextmanager
        async def open_async(self) -> AsyncIterator[deps.AsyncScoped]:
            async with deps.async_pool_of(self.state).connection() as conn:
                yield deps.AsyncScoped(conn, nobody)

    # (No postponed annotations in this file: FastAPI reads this one as an object.)
    async def plain_gate(state: deps.State) -> deps.Gate:
        return PlainGate(state, None, None)

    app.dependency_overrides[deps.get_gate] = plain_gate


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
