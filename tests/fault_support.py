"""What the fault tests share: a TCP proxy the test cuts, an edge-to-gateway stack on a
broker of the test's own, and the reconciliation each test prints and checks.

The reconciliation counts from both ends: what the box made and dropped (its outbox),
what the database holds (events, distinct ids, seqs without a gap) and the cases the
dispatcher opens from them against the cases the events were built to make.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from edge.courier import CourierConfig
from edge.synthetic import SyntheticBox, event_id
from gateway.db.migrate import migrate
from gateway.ingest.registry import registry_from_town
from gateway.process import Gateway
from gridwatch.services import EmbeddedMosquitto, free_port
from gridwatch.settings import Settings, get_settings
from gridwatch.town import Town, load_town
from tests.gateway.conftest import CONFIG, dispatch_all

#: Cameras of the repository's town, each in its own unit: one burst of events, one case.
DEVICES = ["cam-0001", "cam-0002", "cam-0003"]


#: SO_LINGER on with a zero timeout: close() sends RST.
_RESET = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; ``cut()`` drops every connection and refuses
    new ones (the link is down) until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._down = False
        self._stop = threading.Event()
        self.cuts = 0
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        with self._lock:
            self._down = True
            self.cuts += 1
            for s in list(self._peers):
                self._close(s)

    def restore(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            for s in list(self._peers):
                self._close(s)
        self._sel.close()
        self._listener.close()

    def _close(self, s: socket.socket) -> None:
        other = self._peers.pop(s, None)
        for sock in (s, other):
            if sock is None:
                continue
            self._peers.pop(sock, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            with contextlib.suppress(OSError):
                # RST, as a link that went away mid-stream leaves the peer
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            sock.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._down:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        self.accepted += 1
        for s in (client, upstream):
            s.setblocking(False)
        self._peers[client], self._peers[upstream] = upstream, client
        self._sel.register(client, selectors.EVENT_READ, None)
        self._sel.register(upstream, selectors.EVENT_READ, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.1):
                with self._lock:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                        continue
                    other = self._peers.get(sock)
                    if other is None:
                        continue
                    try:
                        data = sock.recv(65536)
                        if data:
                            other.setblocking(True)
                            other.sendall(data)
                            other.setblocking(False)
                    except OSError:
                        data = b""
                    if not data:
                        self._close(sock)


@dataclass
class Reconciliation:
    """Both ends of one fault test, printed as one line and checked."""

    name: str
    made: int
    dropped_on_box: int
    stored: int
    distinct: int
    redeliveries: int
    cases_expected: int
    cases_opened: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def published(self) -> int:
        return self.made - self.dropped_on_box

    @property
    def duplicates(self) -> int:
        return self.stored - self.distinct

    def line(self) -> str:
        more = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (
            f"reconciliation {self.name}: events made={self.made}"
            f" dropped_on_box={self.dropped_on_box} published={self.published}"
            f" stored={self.stored} lost={self.published - self.distinct}"
            f" duplicates={self.duplicates} redeliveries_absorbed={self.redeliveries}"
            f" cases expected={self.cases_expected} opened={self.cases_opened}{more}"
        )

    def check(self) -> None:
        print("\n" + self.line())
        assert self.duplicates == 0, self.line()
        assert self.distinct == self.published, self.line()
        assert self.cases_opened == self.cases_expected, self.line()


@dataclass
class FaultStack:
    """A broker of the test's own, an in-process gateway on it, and a synthetic box that
    reaches the broker through a proxy the test controls."""

    broker: EmbeddedMosquitto
    proxy: TcpProxy
    gateway: Gateway
    settings: Settings
    town: Town
    dsn: str
    prefix: str
    boxes: list[SyntheticBox] = field(default_factory=list)

    def box(
        self,
        state: Path,
        *,
        clock: Callable[[], Any] | None = None,
        max_bytes: int = 256 * 1024 * 1024,
        resend_after_s: float = 10.0,
    ) -> SyntheticBox:
        box = SyntheticBox(
            state,
            DEVICES,
            host="127.0.0.1",
            port=self.proxy.port,
            prefix=self.prefix,
            courier=CourierConfig(resend_after_s=resend_after_s),
            clock=clock,
            max_bytes=max_bytes,
        ).start()
        self.boxes.append(box)
        return box

    def stored(self, conn: psycopg.Connection[Any] | None = None) -> tuple[int, int]:
        """(rows, distinct event ids) of the box's devices; on ``conn`` when given."""
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(psycopg.connect(self.dsn))
            row = conn.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM events WHERE device_id = ANY(%s)",
                (DEVICES,),
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def stored_ids(self) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute("SELECT event_id::text FROM events").fetchall()
        return {r[0] for r in rows}

    def assert_no_gaps(self) -> None:
        """Each device's seqs run 0..n-1: the gateway's mark passed every one."""
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "SELECT device_id, count(DISTINCT seq), min(seq), max(seq) FROM events"
                " GROUP BY device_id"
            ).fetchall()
        for device, n, lo, hi in rows:
            assert (lo, hi) == (0, n - 1), f"{device}: seqs {lo}..{hi}, {n} distinct"

    def reconcile(
        self, name: str, box: SyntheticBox, made: dict[str, int], cases_expected: int, **extra: Any
    ) -> Reconciliation:
        """Dispatch what is stored, then count both ends."""
        dropped = sum(box.outbox.stats().dropped.values())
        rows, distinct = self.stored()
        expected_ids = {str(event_id(d, i)) for d, n in made.items() for i in range(n)}
        assert self.stored_ids() <= expected_ids, "an event nobody made was stored"
        cases = dispatch_all(self.dsn, self.town, self.settings)
        assert self.gateway.consumer is not None
        return Reconciliation(
            name=name,
            made=sum(made.values()),
            dropped_on_box=dropped,
            stored=rows,
            distinct=distinct,
            redeliveries=self.gateway.consumer.stats.duplicate_events,
            cases_expected=cases_expected,
            cases_opened=len(cases),
            extra={"link_cuts": self.proxy.cuts, **extra},
        )


def broker_settings(dsn: str, broker: EmbeddedMosquitto, prefix: str, group: str) -> Settings:
    """Gateway settings for a database and a broker of the test's own."""
    return get_settings(
        database_url=dsn,
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        topic_prefix=prefix,
        share_group=group,
        http_host="127.0.0.1",
        http_port=free_port(),
    )


_TOWN: list[Town] = []


def town() -> Town:
    if not _TOWN:
        _TOWN.append(load_town(CONFIG))
    return _TOWN[0]


@contextlib.contextmanager
def fault_stack(tmp_path: Path, dsn: str, prefix: str, share_group: str) -> Iterator[FaultStack]:
    """Everything of :class:`FaultStack`, stopped however the test ends."""
    migrate(dsn)
    t = town()
    broker = EmbeddedMosquitto(tmp_path / "mosquitto").start()
    proxy = TcpProxy(broker.host, broker.port)
    settings = broker_settings(dsn, broker, prefix, share_group)
    registry = registry_from_town(t)
    gw = Gateway(settings, registry={d: registry[d] for d in DEVICES}, api=False)
    gw.start()
    stack = FaultStack(broker, proxy, gw, settings, t, dsn, prefix)
    try:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        yield stack
    finally:
        for box in stack.boxes:
            with contextlib.suppress(Exception):
                box.stop()
        gw.stop()
        proxy.close()
        broker.stop()
