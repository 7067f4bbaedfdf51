"""``box_ref``: how fast this box is right now, for figures that compare across runs.

A fixed single-threaded CPU workload (pure Python, then NumPy sorts that do not
use threads), timed in the same run as a benchmark's figure. Its unit is seconds:
a box (or a moment on a shared box) twice as slow reports about twice the value,
so a throughput figure scales roughly with ``1 / box_ref`` and a CPU-bound
latency with ``box_ref``. It does not see disk, network or many-core effects.

Benchmarks import :func:`box_ref` and print its value under the key ``box_ref``;
:func:`start_load` gives the "one other CPU-bound process" of a busy-box run
(their ``--load N``).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

#: Sizes that make one round take a quarter to half a second on this project's 2-core box.
_PY_N = 300_000
_NP_N = 1_000_000


def _python_round() -> int:
    # Dict, string and integer work: what an interpreter-bound request does.
    seen: dict[str, int] = {}
    acc = 0
    for i in range(_PY_N):
        key = f"k{i % 4099}"
        seen[key] = seen.get(key, 0) + i
        acc ^= (i * 2654435761) & 0xFFFF
    return acc + len(seen)


def _numpy_round() -> float:
    import numpy as np

    rng = np.random.default_rng(12345)
    values = rng.random(_NP_N)
    values.sort()
    order = np.argsort(rng.integers(0, 1 << 30, _NP_N), kind="stable")
    return float(values[order[:1000]].sum())


def box_ref(rounds: int = 3) -> float:
    """Median seconds of ``rounds`` rounds of the fixed workload (about 1 s in all here)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        _python_round()
        _numpy_round()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def _burn() -> None:  # pragma: no cover - runs in the load processes
    x = 0
    while True:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def start_load(n: int) -> list[Any]:
    """``n`` CPU-bound processes, each a pure Python loop; terminate them when done."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_burn, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


if __name__ == "__main__":
    print(box_ref())
