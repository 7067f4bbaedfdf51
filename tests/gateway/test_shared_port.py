"""Several API processes on one port: ``GRIDWATCH_HTTP_REUSE_PORT`` binds with SO_REUSEPORT.

Two servers stand in for two processes (the socket option works per socket, so
two in one process share a port exactly as two processes do).
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request

import uvicorn
from fastapi import FastAPI

from gateway.process import http_server
from gridwatch.services import free_port
from gridwatch.settings import Settings


def _app(name: str) -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    def who() -> dict[str, str]:
        return {"server": name}

    return app


def _serve(server: uvicorn.Server) -> threading.Thread:
    def run() -> None:
        # uvicorn exits (SystemExit) when it cannot bind: the server then never starts.
        with contextlib.suppress(SystemExit):
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return thread


def test_two_servers_share_a_port_only_when_asked() -> None:
    port = free_port()
    shared = Settings(http_port=port, http_reuse_port=True)
    servers = [http_server(_app(name), shared) for name in ("a", "b")]
    threads = [_serve(s) for s in servers]
    try:
        assert all(s.started for s in servers), "both servers must bind the shared port"
        seen = set()
        for _ in range(40):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/who", timeout=5) as resp:
                seen.add(resp.read().decode())
        # The kernel spreads new connections by their addresses: 40 reach both.
        assert seen == {'{"server":"a"}', '{"server":"b"}'}
        # Without the setting a second server on a taken port does not start.
        alone = http_server(_app("c"), Settings(http_port=port))
        lone = _serve(alone)
        lone.join(5)
        assert not alone.started
    finally:
        for s in servers:
            s.should_exit = True
        for t in threads:
            t.join(10)
