"""The live channel under load: 200 consoles while events arrive at 100 per second.

    gridwatch bench live --json [--clients 200] [--rate 100] [--seconds 30] [--warmup 5]
                                [--send-buffer 32768] [--client-procs 2]

1. creates a throwaway database (dropped at the end) and migrates it;
2. starts the real gateway as its own process (``gridwatch gateway``: the API and the
   MQTT ingest) on the shipped town (``config/``), on the machine's Mosquitto with a
   topic prefix of its own, and ``GRIDWATCH_HTTP_SEND_BUFFER`` = ``--send-buffer``;
3. signs in a duty commander (``gridwatch users add`` / ``token``) and connects
   ``--clients`` Server-Sent-Events clients to ``/api/v1/live`` from ``--client-procs``
   processes of their own (raw asyncio sockets), so that reading does not starve
   the gateway of CPU;
4. one of them (the slow client, its receive buffer 4 KiB) reads the first frame and
   then nothing more until the publishing ends: the gateway must drop it (its bounded
   queue overflows) without slowing the others; afterwards it reads what is left and
   must find the ``dropped`` frame and the end of the stream;
5. publishes contract events (QoS 1, the town's devices in turn) at ``--rate`` per
   second for ``--warmup`` + ``--seconds`` seconds through the real ingest.

Latency is what each client's receipt time lags the event row's ``received_at``
(PostgreSQL's ``now()`` in the ingest's transaction: its start, so at most a
little more than commit to receipt), over the events published after the warmup,
for every client but the slow one. ``rss_mb_start`` is the gateway's resident set
when the warmup ends (the clients connected and the stream flowing),
``rss_mb_end`` when the publishing stops; ``rss_mb_idle`` before any client.

The last line printed is one JSON object: ``clients``, ``events_per_s``,
``p50_ms``, ``p99_ms``, ``slow_client_dropped``, ``rss_mb_start``, ``rss_mb_end``,
``box_ref`` (``bench/_boxref.py``), and the details (``missed``: deliveries a
normal client did not get, ``gaps``, when the slow client was dropped,
``gateway_cores`` and ``client_cores``: the CPU they used over the measured time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref
from bench._pg import admin_dsn, bench_database
from bench._procs import rss_kib, start_process
from bench._procs import token as sign_in
from bench._report import emit

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {"p99_ms": "< 1000", "slow_client_dropped": True, "rss_end_over_start": "<= 1.2"}
#: The shipped town's duty commander (config/people.yaml).
DUTY = "P01352"
#: The slow client's receive buffer: it soaks up little before the gateway notices.
SLOW_RCVBUF = 4096
EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([0-9a-f-]{36})"')


# ---------------------------------------------------------------------- clients


def _request(host: str, port: int, token: str) -> bytes:
    return (
        f"GET /api/v1/live?access_token={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()


async def _connect(host: str, port: int, token: str, rcvbuf: int | None) -> tuple[Any, bytes]:
    """A socket with the stream's headers read; what came after them."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(sock, _request(host, port, token))
    head = b""
    while b"\r\n\r\n" not in head:
        data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 30)
        if not data:
            raise RuntimeError("the live channel closed before its headers")
        head += data
    status, _, rest = head.partition(b"\r\n\r\n")
    if b" 200 " not in status.split(b"\r\n")[0]:
        raise RuntimeError(f"the live channel answered {status[:200]!r}")
    return sock, rest


class _Seen:
    """What one client received: event id -> receipt time (wall clock), and signals."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.gaps = 0
        self.dropped = False
        self.ended = False
        self.tail = b""

    def feed(self, data: bytes, now: float) -> None:
        buf = self.tail + data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.tail = buf
            return
        whole, self.tail = buf[: cut + 2], buf[cut + 2 :]
        for m in EVENT_ID.finditer(whole):
            self.at.setdefault(m.group(1).decode(), now)
        if b"event: gap" in whole:
            self.gaps += whole.count(b"event: gap")
        if b"event: dropped" in whole:
            self.dropped = True
        if b"\r\n0\r\n\r\n" in whole or whole.endswith(b"0\r\n\r\n"):
            self.ended = True


async def _read(sock: Any, seen: _Seen, go: asyncio.Event, stop: Any) -> None:
    """From ``go`` on, read until the stream ends or ``stop()`` is true."""
    await go.wait()
    loop = asyncio.get_running_loop()
    while not stop() and not seen.ended:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 1.0)
        except TimeoutError:
            continue
        if not data:
            seen.ended = True
            return
        seen.feed(data, time.time())


async def _clients(
    host: str, port: int, token: str, n: int, slow: bool, conn: Any
) -> dict[str, Any]:
    gate = asyncio.Semaphore(16)  # connect in waves: the accept backlog is finite

    async def one(rcvbuf: int | None) -> tuple[Any, _Seen]:
        async with gate:
            sock, rest = await _connect(host, port, token, rcvbuf)
        seen = _Seen()
        seen.feed(rest, time.time())
        return sock, seen

    normal = await asyncio.gather(*(one(None) for _ in range(n - int(slow))))
    slow_one = await one(SLOW_RCVBUF) if slow else None
    ends: list[float] = []
    now, later = asyncio.Event(), asyncio.Event()
    now.set()
    stop = asyncio.Event()
    readers = [asyncio.create_task(_read(s, seen, now, stop.is_set)) for s, seen in normal]
    if slow_one is not None:
        # The slow client reads nothing until the publishing ends, then 20 s at most.
        readers.append(
            asyncio.create_task(_read(*slow_one, later, lambda: time.monotonic() > ends[0]))
        )
    loop = asyncio.get_running_loop()
    conn.send("connected")
    await loop.run_in_executor(None, conn.recv)  # "stop": the publishing is over
    stop.set()
    ends.append(time.monotonic() + 20.0)
    later.set()
    await asyncio.gather(*readers)
    for s, _ in [*normal, *([slow_one] if slow_one else [])]:
        s.close()
    out: dict[str, Any] = {"normal": [seen.at for _, seen in normal]}
    out["gaps"] = sum(seen.gaps for _, seen in normal)
    out["ended_early"] = sum(seen.ended for _, seen in normal)
    if slow_one is not None:
        s = slow_one[1]
        out["slow"] = {"dropped": s.dropped, "ended": s.ended, "events": len(s.at)}
    return out


def client_worker(host: str, port: int, token: str, n: int, slow: bool, conn: Any) -> None:
    """One client process: ``n`` clients (one of them slow, with ``slow``)."""
    try:
        conn.send(asyncio.run(_clients(host, port, token, n, slow, conn)))
    except Exception as exc:
        conn.send({"error": repr(exc)})


# ---------------------------------------------------------------------- gateway


def rss_mb(pid: int) -> float:
    kib = rss_kib(pid)
    if not kib:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return round(kib / 1024, 1)


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def _wait(check: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode} waiting for {what}")
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


class Publisher:
    """Contract events at a steady rate, the town's devices in turn (QoS 1)."""

    def __init__(self, host: str, port: int, prefix: str, devices: list[str]) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.prefix, self.devices = prefix, devices
        self.seq: dict[str, int] = defaultdict(int)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"gwbench-live-{uuid.uuid4().hex[:8]}"
        )
        self.client.connect(host, port)
        self.client.loop_start()
        #: event id -> wall-clock time it was published
        self.sent: dict[str, float] = {}
        self._n = 0

    def send_one(self) -> str:
        from gateway.contract import topic

        device = self.devices[self._n % len(self.devices)]
        self._n += 1
        self.seq[device] += 1
        eid = str(uuid.uuid4())
        body = {
            "v": "1.0", "kind": "event", "event_id": eid, "device_id": device,
            "seq": self.seq[device], "ts": datetime.now(UTC).isoformat(), "rule": "intrusion",
            "category": "intrusion", "severity": 2, "score": 0.8,
        }  # fmt: skip
        self.sent[eid] = time.time()
        self.client.publish(topic(self.prefix, device, "event"), json.dumps(body), qos=1)
        return eid

    def paced(self, rate: float, seconds: float) -> tuple[float, float]:
        """Publish for ``seconds`` at ``rate``; the wall-clock start and end."""
        start, t0 = time.time(), time.monotonic()
        total = round(rate * seconds)
        for i in range(total):
            pause = t0 + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.send_one()
        return start, time.time()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from gateway.db.migrate import migrate
    from gridwatch.retained import clear_retained
    from gridwatch.services import free_port
    from gridwatch.settings import get_settings
    from gridwatch.town import load_town

    started = time.perf_counter()
    result: dict[str, Any] = {"box_ref": box_ref(), "cpus": os.cpu_count()}
    result["load_avg_1m_at_start"] = round(os.getloadavg()[0], 2)
    base_settings = get_settings()
    town = load_town(ROOT / "config")
    devices = sorted(town.devices)
    with ExitStack() as stack:
        dsn = stack.enter_context(bench_database(args.admin_dsn, "live"))
        migrate(dsn)
        port = free_port()
        prefix = f"gwbench/live{uuid.uuid4().hex[:6]}"

        def clear() -> None:
            # Last of the exits (after the gateway stops): its retained acks and the
            # publisher's will would outlive the run on the shared broker otherwise.
            host, mqtt_port = base_settings.mqtt_host, base_settings.mqtt_port
            result["retained_cleared"] = clear_retained(host, mqtt_port, prefix)

        stack.callback(clear)
        result["topic_prefix"] = prefix
        env = {
            **os.environ,
            "GRIDWATCH_DATABASE_URL": dsn,
            "GRIDWATCH_CONFIG_DIR": str(ROOT / "config"),
            "GRIDWATCH_JWT_SECRET": secrets.token_urlsafe(48),
            "GRIDWATCH_HTTP_PORT": str(port),
            "GRIDWATCH_TOPIC_PREFIX": prefix,
            "GRIDWATCH_SHARE_GROUP": f"gwbenchlive{uuid.uuid4().hex[:6]}",
        }
        if args.client_queue:
            env["GRIDWATCH_LIVE_CLIENT_QUEUE"] = str(args.client_queue)
        if args.send_buffer:
            env["GRIDWATCH_HTTP_SEND_BUFFER"] = str(args.send_buffer)
        else:
            env.pop("GRIDWATCH_HTTP_SEND_BUFFER", None)
        token = sign_in(env, DUTY)
        log = stack.enter_context(tempfile.TemporaryFile())
        proc = start_process(
            [sys.executable, "-m", "gridwatch.cli", "gateway"], env, stack, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: urllib.request.urlopen(base + "/metrics", timeout=2), 90, "the API", proc)
        except RuntimeError:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
            raise
        publisher = Publisher(base_settings.mqtt_host, base_settings.mqtt_port, prefix, devices)
        stack.callback(publisher.close)

        # The whole path works before the clock starts: an event reaches the table.
        def stored() -> bool:
            eid = publisher.send_one()
            time.sleep(0.5)
            with psycopg.connect(dsn) as conn:
                row = conn.execute("SELECT 1 FROM events WHERE event_id = %s", (eid,)).fetchone()
                return row is not None

        _wait(stored, 60, "the first event stored", proc)
        result["rss_mb_idle"] = rss_mb(proc.pid)

        ctx = mp.get_context("spawn")
        procs, pipes = [], []
        shares = [args.clients // args.client_procs] * args.client_procs
        shares[0] += args.clients - sum(shares)
        for i, n in enumerate(shares):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(
                target=client_worker, args=("127.0.0.1", port, token, n, i == 0, theirs)
            )
            p.start()
            procs.append(p)
            pipes.append(mine)
            stack.callback(p.join, 30)
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("the clients did not connect within 120 s")
            msg = pipe.recv()
            if msg != "connected":
                raise RuntimeError(f"a client process failed: {msg}")
        _wait(lambda: metric(base, "gridwatch_live_clients") >= args.clients, 30, "clients", proc)
        result["rss_mb_connected"] = rss_mb(proc.pid)

        dropped_at: list[float] = []

        def watch_drops(stop: threading.Event) -> None:
            while not stop.is_set():
                if not dropped_at and metric(base, "gridwatch_live_dropped_clients_total") > 0:
                    dropped_at.append(time.time())
                stop.wait(0.25)

        watching = threading.Event()
        watcher = threading.Thread(target=watch_drops, args=(watching,), daemon=True)
        watcher.start()
        warm_start, _ = publisher.paced(args.rate, args.warmup)
        result["rss_mb_start"] = rss_mb(proc.pid)
        measured = len(publisher.sent)
        cpu0 = [cpu_s(proc.pid), *(cpu_s(p.pid) for p in procs if p.pid is not None)]
        t_start, t_end = publisher.paced(args.rate, args.seconds)
        result["rss_mb_end"] = rss_mb(proc.pid)
        cpu1 = [cpu_s(proc.pid), *(cpu_s(p.pid) for p in procs if p.pid is not None)]
        used = [round((b - a) / (t_end - t_start), 2) for a, b in zip(cpu0, cpu1, strict=True)]
        result["gateway_cores"], result["client_cores"] = used[0], round(sum(used[1:]), 2)
        time.sleep(args.drain)  # the last events reach the clients
        watching.set()
        watcher.join()
        for pipe in pipes:
            pipe.send("stop")
        got: list[dict[str, Any]] = []
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("the clients did not report within 120 s")
            got.append(pipe.recv())
        errors = [g["error"] for g in got if "error" in g]
        if errors:
            raise RuntimeError(f"client processes failed: {errors}")
        window = list(publisher.sent)[measured:]
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT event_id::text, extract(epoch FROM received_at)::float8 FROM events"
                " WHERE event_id = ANY(%s::uuid[])",
                (window,),
            ).fetchall()
        committed = {eid: float(at) for eid, at in rows}

    lat: list[float] = []
    missed = 0
    normal = [seen for g in got for seen in g["normal"]]
    for seen in normal:
        for eid, at in committed.items():
            t = seen.get(eid)
            if t is None:
                missed += 1
            else:
                lat.append((t - at) * 1000)
    publish_lat = [
        (seen[eid] - publisher.sent[eid]) * 1000 for seen in normal[:20] for eid in committed
        if eid in seen
    ]  # fmt: skip
    slow = got[0].get("slow", {})
    dropped = bool(dropped_at) and bool(slow.get("dropped")) and bool(slow.get("ended"))
    rss_ratio = result["rss_mb_end"] / result["rss_mb_start"]
    result.update(
        {
            "clients": args.clients,
            "events_per_s": round(len(committed) / (t_end - t_start), 1),
            "events_published": len(window),
            "events_published_all": len(publisher.sent),
            "events_stored": len(committed),
            "p50_ms": round(statistics.median(lat), 1) if lat else None,
            "p99_ms": round(percentile(lat, 0.99), 1) if lat else None,
            "max_ms": round(max(lat), 1) if lat else None,
            "publish_to_client_p99_ms": round(percentile(publish_lat, 0.99), 1)
            if publish_lat
            else None,
            "deliveries": len(lat),
            "missed": missed,
            "gaps": sum(g["gaps"] for g in got),
            "ended_early": sum(g["ended_early"] for g in got),
            "slow_client_dropped": dropped,
            "slow_client": {
                **slow,
                "dropped_after_s": round(dropped_at[0] - warm_start, 1) if dropped_at else None,
            },
            "rss_end_over_start": round(rss_ratio, 3),
            "send_buffer": args.send_buffer or None,
            "client_queue": args.client_queue or 256,
            "rate": args.rate,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "client_procs": args.client_procs,
            "targets": TARGETS,
        }
    )
    result["meets_targets"] = bool(
        lat and result["p99_ms"] < 1000 and dropped and rss_ratio <= 1.2 and missed == 0
    )
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print only the JSON result line")
    ap.add_argument("--admin-dsn", default=admin_dsn(), help="may create and drop databases")
    ap.add_argument("--clients", type=int, default=200, help="live clients, the slow one included")
    ap.add_argument("--rate", type=float, default=100.0, help="events published per second")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured publishing time")
    ap.add_argument("--warmup", type=float, default=5.0, help="publishing before the clock")
    ap.add_argument("--drain", type=float, default=3.0, help="wait for the last deliveries")
    buffer_help = "GRIDWATCH_HTTP_SEND_BUFFER of the gateway (0: the kernel's auto-tuning)"
    ap.add_argument("--send-buffer", type=int, default=32768, help=buffer_help)
    ap.add_argument(
        "--client-queue", type=int, default=None, help="GRIDWATCH_LIVE_CLIENT_QUEUE (default 256)"
    )
    ap.add_argument("--client-procs", type=int, default=2, help="processes the clients run in")
    args = ap.parse_args(argv)
    if args.clients < 2 or not 1 <= args.client_procs <= args.clients - 1:
        ap.error("--clients must be 2 or more and --client-procs between 1 and clients - 1")
    emit(run(args), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
