#!/usr/bin/env bash
# Set up (if needed), then run the whole test suite, ruff and mypy. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export YOLO_CONFIG_DIR="$PWD/.cache/ultralytics" YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
mkdir -p "$YOLO_CONFIG_DIR"
status=0
.venv/bin/ruff check . || status=1
.venv/bin/mypy || status=1
.venv/bin/python -m pytest "$@" || status=1
exit $status
