#!/usr/bin/env bash
# Install the kiosk, the uploader and the central server into .venv and run
# the whole system on this machine with embedded defaults (`kiosk demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[all]'
exec .venv/bin/kiosk demo "$@"
