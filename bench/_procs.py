"""What the benchmarks that run the real gateway share: its process, a signed-in token, and
the resident set size of a process."""

from __future__ import annotations

import subprocess
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any


def token(env: dict[str, str], person_id: str) -> str:
    """A bearer token for ``person_id``, through ``gridwatch users add`` and ``token``."""
    cli = [sys.executable, "-m", "gridwatch.cli", "users"]
    subprocess.run(
        [*cli, "add", person_id, "--password-stdin"],
        env=env, input=uuid.uuid4().hex + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = subprocess.run(
        [*cli, "token", person_id], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def start_process(
    cmd: list[str], env: dict[str, str], stack: ExitStack, stderr: IO[Any] | int = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    """``cmd`` started, and stopped (terminated, killed after 20 s) when ``stack`` closes."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    stack.callback(stop)
    return proc


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
