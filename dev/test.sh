#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian 12 machine, then run them.
# Usage: ./dev/test.sh [--lowest-pins] [pytest args...]
#   --lowest-pins  first run the device and server tests in a fresh venv holding the
#                  LOWEST versions setup.py allows (CI passes it; see below)
set -euo pipefail
cd "$(dirname "$0")/.."

LOWEST_PINS=0
if [ "${1:-}" = "--lowest-pins" ]; then
  LOWEST_PINS=1
  shift
fi

APT_PACKAGES=(
  python3-venv
  postgresql                 # throwaway clusters for the server tests
  chromium                   # headless browser for the web page tests
  fonts-wqy-microhei         # the CJK font the touch screen needs
  xvfb xdotool fonts-droid-fallback   # real-click screen tests; the font that lacks Latin
  espeak-ng                  # voice prompt files
  socat
  nginx                      # the reverse proxy of the multi-process tests
  sqlite3
  libgl1 libegl1 libmtdev1   # Kivy's offscreen SDL/GL renderer
  systemd                    # systemd-analyze verify for the units
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== installing the project with its server, kiosk and test extras"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# setuptools prints an "Editable installation" notice on every editable install
# (whatever the project declares); a regular `pip install .` prints nothing
# (tests/deploy/test_packaging.py).
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e '.[all,test]'

# axe-core (npm) for tests/web/test_axe.py, into a cache outside the repository
export AXE_CORE_DIR="${AXE_CORE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiosk-haochaping/npm}"
if [ ! -f "$AXE_CORE_DIR/node_modules/axe-core/axe.min.js" ]; then
  if ! command -v npm >/dev/null; then  # Debian's npm, unless a Node.js install already brings one
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  echo "== installing axe-core into $AXE_CORE_DIR"
  npm install --prefix "$AXE_CORE_DIR" --no-audit --no-fund --silent axe-core@4 >/dev/null
fi

export SDL_VIDEODRIVER=offscreen KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1
export KIVY_HOME="${KIVY_HOME:-$(mktemp -d)}"
export PATH="$PWD/.venv/bin:$PATH"
# --- lowest pins ------------------------------------------------------------------
# Every ">=" in setup.py's CORE and SERVER lists becomes "==" (dev/lowest_pins.py), is
# installed into a fresh venv, and the core device tests plus the server's ingest,
# statistics and export tests (a real server: migrations, uvicorn, SQLAlchemy) run on
# those versions: a lower bound that the code outgrew fails here.
LOWEST_TESTS=(
  tests/test_buffer.py tests/test_session.py tests/test_config.py tests/test_levels.py
  tests/test_event_ids.py tests/test_local_api.py tests/test_headless.py
  tests/hardware/test_gpio.py tests/hardware/test_serial.py
  tests/server/test_batches.py tests/server/test_stats.py tests/web/test_formula_injection.py
)
lowest_rc=0
if [ $LOWEST_PINS -eq 1 ]; then
  started=$SECONDS
  low_dir=$(mktemp -d)
  pins_text=$(.venv/bin/python dev/lowest_pins.py CORE SERVER)
  mapfile -t pins <<<"$pins_text"
  echo "== lowest pins: ${pins[*]}"
  "$PY" -m venv "$low_dir/venv"
  if "$low_dir/venv/bin/python" -m pip install -q "${pins[@]}" pytest pytest-timeout >"$low_dir/pip.log" 2>&1; then
    set +e
    PATH="$low_dir/venv/bin:$PATH" PYTHONPATH="$PWD" "$low_dir/venv/bin/python" -m pytest -q -p no:cacheprovider "${LOWEST_TESTS[@]}"
    lowest_rc=$?
    set -e
  else
    grep -v "^WARNING: Location" "$low_dir/pip.log" | tail -20 >&2
    echo "the lowest pinned versions do not install together: fix the bounds in setup.py" >&2
    lowest_rc=1
  fi
  rm -rf "$low_dir"
  echo "== lowest pins: $([ $lowest_rc -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s"
fi

echo "== type checking kiosk/, sync/ and central/ (mypy; settings in mypy.ini)"
if ! .venv/bin/python -m mypy; then
  # The tests still run; the run as a whole fails.
  echo "mypy found type errors (listed above)" >&2
  trap 'exit 1' EXIT
fi
echo "== running the tests"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 0 ] && [ $lowest_rc -ne 0 ]; then
  echo "the tests on the lowest pinned versions failed (see '== lowest pins' above)" >&2
  exit 1
fi
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $rc
