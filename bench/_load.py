"""HTTP load from a separate process: ``wrk`` when installed, else a Python generator.

:func:`drive` sends GET requests cycling through ``paths`` over ``connections``
keep-alive connections for ``seconds`` and returns a :class:`LoadResult`.

``wrk`` (Debian: ``apt-get install -y wrk``) is the reference: written in C, it
takes little CPU from the server it measures. Without it the same file runs as a
script (``python bench/_load.py URL ...``), one thread per connection with
``http.client``; it costs the server noticeably more CPU on a small box, and the
result says which generator ran.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_HINT = "wrk not found: install it with `apt-get update && apt-get install -y wrk` (Debian)"


@dataclass(frozen=True)
class LoadResult:
    generator: str  # "wrk 4.1.0" or "python"
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect, read, write and timeout errors
    non_2xx: int

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def figures(self) -> dict[str, float | int]:
        return {
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "requests": self.requests,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
        }


# Lua for wrk: cycle through the paths, send the headers, print one JSON line at
# the end. Each wrk thread has its own Lua state; ``done`` sees the merged figures.
_WRK_LUA = """
local paths = {%(paths)s}
local i = 0
init = function(args)
  %(headers)s
end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRKJSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"errors":%%d,"non_2xx":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _lua_string(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string for ASCII text


def wrk_version() -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    words = (out.stdout + out.stderr).split()
    return f"wrk {words[1]}" if len(words) > 1 else "wrk"


def _run_wrk(
    base: str, paths: list[str], headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    lua = _WRK_LUA % {
        "paths": ", ".join(_lua_string(p) for p in paths),
        "headers": "\n  ".join(
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
        ),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "-s",
                f.name,
                base,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        Path(f.name).unlink()
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}"
        )
    got = json.loads(line.removeprefix("WRKJSON "))
    return LoadResult(
        generator=wrk_version() or "wrk",
        requests=got["requests"],
        duration_s=got["duration_us"] / 1e6,
        p50_ms=round(got["p50_us"] / 1000, 2),
        p99_ms=round(got["p99_us"] / 1000, 2),
        max_ms=round(got["max_us"] / 1000, 2),
        errors=got["errors"],
        non_2xx=got["non_2xx"],
    )


def _run_python(
    base: str, paths: list[str], headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    spec = json.dumps({"paths": paths, "headers": headers})
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            base,
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
        ],
        input=spec,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"python load generator failed: {out.stderr[-1000:]}")
    return LoadResult(**json.loads(out.stdout.splitlines()[-1]))


def drive(
    base: str,
    paths: list[str],
    headers: dict[str, str],
    *,
    connections: int = 16,
    seconds: float = 20.0,
    allow_python: bool = True,
) -> LoadResult:
    """Load ``base`` + each of ``paths`` in turn; wrk if installed, else the Python generator."""
    if shutil.which("wrk"):
        return _run_wrk(base, paths, headers, connections, seconds)
    if not allow_python:
        raise RuntimeError(WRK_HINT)
    print(WRK_HINT + "; falling back to the Python load generator", file=sys.stderr)
    return _run_python(base, paths, headers, connections, seconds)


# --------------------------------------------------------------------------- the fallback


def _worker(
    host: str,
    port: int,
    paths: list[str],
    headers: dict[str, str],
    offset: int,
    stop_at: float,
    latencies: list[float],
    counts: list[int],
) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    i = offset
    while time.perf_counter() < stop_at:
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request("GET", paths[i % len(paths)], headers=headers)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            counts[0] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=10)
            continue
        latencies.append(time.perf_counter() - t0)
        if not 200 <= resp.status < 300:
            counts[1] += 1
    conn.close()


def _pct(sorted_s: list[float], q: float) -> float:
    if not sorted_s:
        return 0.0
    return round(sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000, 2)


def _python_main() -> int:
    ap = argparse.ArgumentParser(description="Python HTTP load generator (wrk's fallback)")
    ap.add_argument("base")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    spec = json.loads(sys.stdin.read())
    url = urlsplit(args.base)
    lats: list[list[float]] = [[] for _ in range(args.connections)]
    counts = [[0, 0] for _ in range(args.connections)]
    t0 = time.perf_counter()
    stop_at = t0 + args.seconds
    threads = [
        threading.Thread(
            target=_worker,
            args=(
                url.hostname,
                url.port or 80,
                spec["paths"],
                spec["headers"],
                k,
                stop_at,
                lats[k],
                counts[k],
            ),
        )
        for k in range(args.connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - t0
    flat = sorted(x for part in lats for x in part)
    result = LoadResult(
        generator="python",
        requests=len(flat),
        duration_s=round(duration, 3),
        p50_ms=_pct(flat, 0.50),
        p99_ms=_pct(flat, 0.99),
        max_ms=_pct(flat, 1.0),
        errors=sum(c[0] for c in counts),
        non_2xx=sum(c[1] for c in counts),
    )
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(_python_main())
