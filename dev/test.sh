#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian 12 machine, then run them.
# Usage: ./dev/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv
  postgresql                 # throwaway clusters for the server tests
  chromium                   # headless browser for the web page tests
  fonts-wqy-microhei         # the CJK font the touch screen needs
  espeak-ng                  # voice prompt files
  socat
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
.venv/bin/python -m pip install -q -e '.[all,test]'

export SDL_VIDEODRIVER=offscreen KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1
export KIVY_HOME="${KIVY_HOME:-$(mktemp -d)}"
export PATH="$PWD/.venv/bin:$PATH"
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
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $rc
