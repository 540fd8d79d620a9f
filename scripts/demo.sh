#!/usr/bin/env bash
# Set up (if needed), then start the whole system on embedded defaults. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export YOLO_CONFIG_DIR="$PWD/.cache/ultralytics" YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
exec .venv/bin/lobbywatch demo "$@"
