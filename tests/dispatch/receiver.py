"""A real webhook receiver for delivery tests: an HTTP server on a free port that runs
the documented receiver check (``dispatch.delivery.signing.check``)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dispatch.delivery.signing import MemorySeenIds, SignatureError, check
from gridwatch.services import free_port


@dataclass
class Receiver:
    secret: bytes
    #: Answer 503 to this many requests first, before looking at them.
    fail_first: int = 0
    #: Seconds each request takes, so a worker is caught mid-batch.
    delay_s: float = 0.0
    port: int = field(default_factory=free_port)
    raw: int = 0  # every POST that arrived
    notices: list[dict[str, Any]] = field(default_factory=list)  # shown, once each
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: MemorySeenIds = field(default_factory=MemorySeenIds)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notices"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.raw += 1
            if self.raw <= self.fail_first:
                return 503
        try:
            checked = check(headers, body, self.secret, now=time.time(), seen=self._seen)
        except SignatureError as exc:
            with self._lock:
                self.refused.append(exc.reason)
            return 401
        with self._lock:
            if checked.duplicate:
                self.duplicates += 1
            else:
                self.notices.append(json.loads(body))
        return 200

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.handle(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
