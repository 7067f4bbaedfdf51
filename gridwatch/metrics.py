"""A Prometheus HTTP server in-process, for the commands without an HTTP app of their own.

Every process keeps its own ``CollectorRegistry`` (tests run several gateways,
dispatchers or agents in one interpreter, and one registry refuses a metric name
twice); this serves one registry on a port of its own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)


class MetricsServer:
    """``serve`` starts prometheus_client's server thread; ``close`` stops it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._server: Any = None
        self._thread: Any = None
        self.port: int | None = None

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve on ``port`` (0: a free one); the port bound."""
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        self.port = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, self.port)
        return self.port

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
