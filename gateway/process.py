"""The gateway process: the ingest consumer and the HTTP API, started and stopped together.

Tests run it in-process on free ports; ``gridwatch gateway`` runs it until a signal.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Self

import uvicorn
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.evidence.stores import open_store
from gateway.ingest.consumer import Consumer, ConsumerConfig
from gateway.ingest.metrics import IngestMetrics
from gateway.ingest.registry import registry_from_town

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gridwatch.settings import Settings
    from gridwatch.town import Town

log = logging.getLogger(__name__)


def http_server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    """The uvicorn server the gateway runs its app on (the bench runs the same one)."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    if settings.http_reuse_port or settings.http_send_buffer is not None:
        return _BoundServer(
            config, reuse_port=settings.http_reuse_port, send_buffer=settings.http_send_buffer
        )
    return uvicorn.Server(config)


def listening_socket(
    host: str, port: int, *, reuse_port: bool = False, send_buffer: int | None = None
) -> socket.socket:
    """A bound TCP socket; accepted connections inherit its ``SO_SNDBUF``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _BoundServer(uvicorn.Server):
    """A server on a socket the gateway binds itself.

    With SO_REUSEPORT it is one of several processes on one port: one Python process
    serves the API on one core at most; this is how a box runs one per core without a
    process manager in front (Linux balances the accepts). With a fixed send buffer, a
    client that stops reading fills it, and so its live queue, within seconds.
    """

    def __init__(
        self, config: uvicorn.Config, *, reuse_port: bool, send_buffer: int | None
    ) -> None:
        super().__init__(config)
        self.reuse_port = reuse_port
        self.send_buffer = send_buffer

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:
            sockets = [
                listening_socket(
                    self.config.host,
                    self.config.port,
                    reuse_port=self.reuse_port,
                    send_buffer=self.send_buffer,
                )
            ]
        super().run(sockets=sockets)


class GatewayError(Exception):
    """The gateway could not start."""


def consumer_config(settings: Settings, **overrides: object) -> ConsumerConfig:
    """Consumer settings from the process settings; keyword arguments override."""
    base = ConsumerConfig(
        dsn=settings.database_url,
        mqtt_host=settings.mqtt_host,
        mqtt_port=settings.mqtt_port,
        mqtt_username=settings.mqtt_username,
        mqtt_password=settings.mqtt_password,
        mqtt_tls=settings.mqtt_tls,
        topic_prefix=settings.topic_prefix,
        share_group=settings.share_group,
        snapshot_dir=open_store(settings),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


class Gateway:
    """Ingest plus API. ``registry`` (device id -> unit id) defaults to the town's devices."""

    def __init__(
        self,
        settings: Settings,
        *,
        town: Town | None = None,
        registry: Mapping[str, str | None] | None = None,
        api: bool = True,
        ingest: bool = True,
        consumer: ConsumerConfig | None = None,
    ) -> None:
        if registry is None:
            registry = registry_from_town(town) if town is not None else {}
        self.settings = settings
        #: One Prometheus registry per gateway: the consumer's metrics and the app's.
        self.metrics = CollectorRegistry()
        self.consumer = (
            Consumer(consumer or consumer_config(settings), registry, IngestMetrics(self.metrics))
            if ingest
            else None
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        if api:
            app = create_app(settings, town, ingest=self.consumer, registry=self.metrics)
            self._server = http_server(app, settings)

    @property
    def url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    def start(self, timeout: float = 20.0) -> None:
        if self.consumer is not None:
            self.consumer.start()
        if self._server is not None:
            server = self._server
            self._thread = threading.Thread(target=server.run, name="gridwatch-http", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    self.stop()
                    raise GatewayError(f"HTTP server did not start on {self.url}")
                time.sleep(0.05)
        log.info("gateway running; console at %s/", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.consumer is not None:
            self.consumer.stop()

    def __enter__(self) -> Self:
        """Started for the ``with`` block, stopped when it ends however it ends."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
