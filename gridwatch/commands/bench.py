"""``gridwatch bench NAME [ARGS]``: run a benchmark script from ``bench/``.

Benchmarks live as scripts beside the code (``bench/NAME.py``) so they can be run
directly too; each prints one JSON object as its last line, with its baseline
measured in the same run.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from gridwatch.commands import Subparsers

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def register(sub: Subparsers) -> None:
    names = sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))
    p = sub.add_parser("bench", help=f"run a benchmark ({', '.join(names) or 'none found'})")
    p.add_argument("name", help="benchmark name: " + ", ".join(names))
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark, e.g. --json")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    script = BENCH_DIR / f"{args.name}.py"
    if not script.is_file():
        known = sorted(p.stem for p in BENCH_DIR.glob("*.py"))
        print(f"unknown benchmark {args.name!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    old_argv = sys.argv
    sys.argv = [str(script), *args.args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        sys.argv = old_argv
    return 0
