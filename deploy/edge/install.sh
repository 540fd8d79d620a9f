#!/usr/bin/env bash
# Install LobbyWatch on a hall node: Raspberry Pi OS (64-bit, Pi 4/5) or NVIDIA Jetson (JetPack).
# 在营业厅边缘节点（树莓派 OS 64 位 / NVIDIA Jetson JetPack）上安装 LobbyWatch。
#
# Run from a checkout (or an unpacked source archive) of LobbyWatch, as root:
#   sudo deploy/edge/install.sh --config my-hall.yaml --camera cam-entrance
#   sudo deploy/edge/install.sh --config my-hall.yaml --gateway --broker --device kiosk-topup-1
# What it does (idempotent; safe to run again for upgrades):
#   1. detects the platform (pi / jetson / generic) and installs system packages;
#   2. creates the system user "lobbywatch" (home /var/lib/lobbywatch, groups video[, render]);
#   3. creates the venv /opt/lobbywatch/.venv and installs LobbyWatch: on a camera node of a Pi
#      or a generic machine one torch-free runtime, the edge extra (ONNX Runtime, OpenCV) for
#      --format onnx or edge-ncnn (NCNN, OpenCV) for --format ncnn; on Jetson or with
#      --format openvino/engine (or a .pt --model) the vision extra (torch, ultralytics);
#   4. edge: ships the detector exported on the set-up machine by scripts/setup.sh in the
#      format the runtime runs (models/person-yolov8s.onnx or models/person-yolov8s_ncnn_model)
#      to /opt/lobbywatch/models. vision: fetches the bundled person detector
#      (scripts/fetch-model.sh) and
#   5. exports it for the hardware (a TensorRT engine on Jetson) with `lobbywatch edge export-model`;
#      (steps 3-5 only on nodes with a camera: a gateway/broker/device-only node gets neither)
#   6. installs the systemd units (deploy/systemd/) and, when absent, /etc/lobbywatch/hall.yaml;
#   7. enables and starts the units for the cameras, devices and gateway named on the command line.
# Operator guide: docs/deploy.md. Use --dry-run to see every step without changing anything.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PREFIX=/opt/lobbywatch
ETC=/etc/lobbywatch
STATE=/var/lib/lobbywatch
UNIT_DIR=/etc/systemd/system
# Platform probes read files under this root (tests point it at a fake tree).
SYSROOT=${LOBBYWATCH_SYSROOT:-}
# Keep in step with scripts/setup.sh: torch and torchvision must be a matching pair
# (tests/deploy checks that the pins agree).
TORCH_SPEC=${TORCH_SPEC:-torch==2.14.1}
TORCHVISION_SPEC=${TORCHVISION_SPEC:-torchvision==0.29.1}
MODEL_NAME=person-yolov8s.pt
# The near model (docs/vision.md, "Two models"): the detector runs it where people are large;
# it is found beside the camera's model, in the same format (edge/vision/near_model.py).
NEAR_NAME=near-yolo11n-pose.pt
# The exports scripts/setup.sh writes on the set-up machine; camera nodes run them without torch.
ONNX_MODEL=$SRC/models/person-yolov8s.onnx
NCNN_MODEL=$SRC/models/person-yolov8s_ncnn_model
NEAR_ONNX=$SRC/models/near-yolo11n-pose.onnx
NEAR_NCNN=$SRC/models/near-yolo11n-pose_ncnn_model
NCNN_FILES=(model.ncnn.param model.ncnn.bin metadata.yaml)

platform=auto
format=auto
imgsz=960
config=""
model=""
wheelhouse=""
torch_index=""
python=python3
dry_run=0
start=1
broker=0
gateway=0
server=0
cameras=()
devices=()

if [ -t 2 ]; then
  bold=$'\033[1m' yellow=$'\033[1;33m' red=$'\033[1;31m' plain=$'\033[0m'
else
  bold="" yellow="" red="" plain=""
fi
log() { printf '%s[lobbywatch-install]%s %s\n' "$bold" "$plain" "$*" >&2; }
warn() { printf '%s[lobbywatch-install] warning:%s %s\n' "$yellow" "$plain" "$*" >&2; }
die() {
  printf '%s[lobbywatch-install] error:%s %s\n' "$red" "$plain" "$*" >&2
  exit 1
}
# Every change to the system goes through run, so --dry-run shows the whole plan.
run() {
  if ((dry_run)); then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

usage() {
  cat <<'EOF'
Usage: sudo deploy/edge/install.sh [options]

  --config FILE        hall configuration, installed as /etc/lobbywatch/hall.yaml when that is
                       absent (default: deploy/examples/telecom-hall.yaml, units not started)
  --camera ID          enable lobbywatch-vision@ID (repeatable)
  --device ID          enable lobbywatch-device@ID (repeatable)
  --gateway            enable lobbywatch-gateway
  --broker             also install Mosquitto on this node (configure it per deploy/mosquitto/)
  --server             install lobbywatch-server.service as well (bare-metal central server)
  --platform P         auto | pi | jetson | generic            (default: auto)
  --format F           auto | onnx | ncnn | openvino | engine | none
                       (auto: the --model's format if an export, else ncnn on pi, onnx on
                       generic, engine on jetson). onnx installs the edge extra (ONNX
                       Runtime) and ships models/person-yolov8s.onnx, ncnn the edge-ncnn
                       extra (NCNN, fastest on a Pi) and ships models/person-yolov8s_ncnn_model
                       (fixed 640x640 input), both without torch, from this checkout (run
                       scripts/setup.sh first); the others install torch and export here
  --imgsz N            detector input size the model is exported for (default: 960)
  --model FILE         use this model: an .onnx file or an NCNN folder is shipped as it
                       is (and sets the format); a .pt is exported (torch) instead of
                       fetching the bundled detector
  --wheelhouse DIR     install Python packages offline from DIR (pip --no-index --find-links)
  --python PY          Python 3.11+ to build the venv with (default: python3)
  --torch-index-url U  pip index for torch/torchvision. Pi default: PyTorch's CPU index.
                       Jetson: NVIDIA's CUDA builds for this JetPack (needed unless a CUDA
                       torch is already installed system-wide)
  --no-start           install and enable nothing; print the systemctl commands instead
  --dry-run            print every step instead of running it (no root needed)
  -h, --help           this help
EOF
}

while (($#)); do
  case $1 in
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --camera) cameras+=("${2:?--camera needs an id}"); shift 2 ;;
    --device) devices+=("${2:?--device needs an id}"); shift 2 ;;
    --gateway) gateway=1; shift ;;
    --broker) broker=1; shift ;;
    --server) server=1; shift ;;
    --platform) platform=${2:?--platform needs a value}; shift 2 ;;
    --format) format=${2:?--format needs a value}; shift 2 ;;
    --imgsz) imgsz=${2:?--imgsz needs a number}; shift 2 ;;
    --model) model=${2:?--model needs a file}; shift 2 ;;
    --wheelhouse) wheelhouse=${2:?--wheelhouse needs a directory}; shift 2 ;;
    --python) python=${2:?--python needs an interpreter}; shift 2 ;;
    --torch-index-url) torch_index=${2:?--torch-index-url needs a URL}; shift 2 ;;
    --no-start) start=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

case $platform in auto | pi | jetson | generic) ;; *) die "--platform must be auto, pi, jetson or generic, not '$platform'" ;; esac
case $format in auto | ncnn | openvino | onnx | engine | none) ;; *) die "--format must be auto, ncnn, openvino, onnx, engine or none, not '$format'" ;; esac
if ! [[ $imgsz =~ ^[0-9]+$ ]] || ((imgsz < 160 || imgsz > 4096 || imgsz % 32 != 0)); then
  die "--imgsz must be a multiple of 32 between 160 and 4096, not '$imgsz'"
fi
[ -z "$config" ] || [ -f "$config" ] || die "--config: no such file: $config"
[ -z "$model" ] || [ -e "$model" ] || die "--model: no such file: $model"
[ -z "$wheelhouse" ] || [ -d "$wheelhouse" ] || die "--wheelhouse: no such directory: $wheelhouse"
[ -f "$SRC/pyproject.toml" ] || die "run this script from a LobbyWatch checkout ($SRC has no pyproject.toml)"
if ((!dry_run)) && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0 ...), or with --dry-run to see the plan"
fi

# ------------------------------------------------------------------ platform
detect_platform() {
  local model_file="$SYSROOT/proc/device-tree/model" hw=""
  [ -r "$model_file" ] && hw=$(tr -d '\0' <"$model_file")
  if [ -e "$SYSROOT/etc/nv_tegra_release" ] || [[ $hw == *Jetson* ]]; then
    echo jetson
  elif [[ $hw == *"Raspberry Pi"* ]]; then
    echo pi
  else
    echo generic
  fi
}
if [ "$platform" = auto ]; then
  platform=$(detect_platform)
fi
arch=${LOBBYWATCH_ARCH:-$(uname -m)}
if [ "$platform" != generic ] && [ "$arch" != aarch64 ]; then
  die "$platform nodes need a 64-bit OS (aarch64); this one is $arch. Install the 64-bit Raspberry Pi OS / JetPack."
fi
# A given export runs as it is; else NCNN, the fastest CPU runtime on a Pi's ARM cores, there,
# a TensorRT engine on Jetson and ONNX Runtime elsewhere.
if [ "$format" = auto ]; then
  if [[ $model == *.onnx ]]; then
    format=onnx
  elif [ -n "$model" ] && [ -f "$model/model.ncnn.param" ]; then
    format=ncnn
  else
    case $platform in
      jetson) format=engine ;;
      pi) format=ncnn ;;
      *) format=onnx ;;
    esac
  fi
fi
if [ "$format" = engine ] && [ "$platform" != jetson ]; then
  warn "a TensorRT engine is built for the GPU it is exported on; --format engine off a Jetson needs an NVIDIA GPU here"
fi
# The vision stack (torch, ultralytics, the model) only where a camera runs: a node named only
# as gateway, broker, device agent or server gets the light install.
vision=1
if ((${#cameras[@]} == 0)) && ((gateway || broker || server || ${#devices[@]})); then
  vision=0
  format=none
fi
# The edge profile: an ONNX model run by ONNX Runtime or an NCNN folder run by NCNN, exported on
# the set-up machine; no torch on the node.
edge=0
if ((vision)) && { { [ "$format" = onnx ] && { [ -z "$model" ] || [[ $model == *.onnx ]]; }; } \
  || { [ "$format" = ncnn ] && { [ -z "$model" ] || [ -d "$model" ]; }; }; }; then
  edge=1
fi
# torch for the Pi from PyTorch's CPU index: PyPI's aarch64 wheels carry CUDA libraries a Pi
# cannot use (gigabytes). Jetson needs NVIDIA's CUDA builds instead (see below).
if [ -z "$torch_index" ] && [ "$platform" = pi ] && ((!edge)); then
  torch_index=https://download.pytorch.org/whl/cpu
fi
# An NCNN export has a fixed input size (its metadata.yaml): the cameras' imgsz is the export's.
ncnn_meta=${model:-$NCNN_MODEL}/metadata.yaml
if ((edge)) && [ "$format" = ncnn ] && [ -f "$ncnn_meta" ]; then
  imgsz=$(awk '/^imgsz:/ { getline; print $2; exit }' "$ncnn_meta")
fi
if ((edge)); then
  # One runtime per camera node: its extra (pyproject.toml) and the export it runs.
  if [ "$format" = onnx ]; then
    runtime="ONNX Runtime" edge_extra=edge edge_module=onnxruntime edge_model=$ONNX_MODEL near_model=$NEAR_ONNX
  else
    runtime="NCNN" edge_extra=edge-ncnn edge_module=ncnn edge_model=$NCNN_MODEL near_model=$NEAR_NCNN
  fi
  log "platform: $platform ($arch), model format: $format ($runtime, no torch), input size: $imgsz"
elif ((vision)); then
  log "platform: $platform ($arch), model format: $format, input size: $imgsz"
else
  log "platform: $platform ($arch); no camera on this node, so no vision stack"
fi

# ------------------------------------------------------------------ system packages
apt_packages=(python3 python3-venv python3-pip python3-dev ca-certificates v4l-utils mosquitto-clients)
((broker)) && apt_packages+=(mosquitto)
# JetPack's TensorRT Python bindings (the venv sees them through --system-site-packages).
[ "$platform" = jetson ] && ((vision && !edge)) && apt_packages+=(python3-libnvinfer)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LobbyWatch needs Python 3.11+ (pyproject.toml). Raspberry Pi OS 12 (bookworm) has 3.11;
# JetPack 6 (Ubuntu 22.04) has 3.10, whose TensorRT bindings do not load in another Python.
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  if ((dry_run)); then
    warn "$python is not Python 3.11+ (or not installed yet); a real run would stop here"
  else
    die "$python is older than Python 3.11. On JetPack 6 (Python 3.10) use JetPack 7, or pass --python with a 3.11+ interpreter that has TensorRT bindings and a CUDA torch (see docs/deploy.md, Jetson)"
  fi
fi

# ------------------------------------------------------------------ user and directories
if ! id lobbywatch >/dev/null 2>&1; then
  log "creating system user lobbywatch"
  run useradd --system --user-group --home-dir "$STATE" --shell /usr/sbin/nologin \
    --comment "LobbyWatch daemons" lobbywatch
fi
extra_groups=(video)
[ "$platform" = jetson ] && getent group render >/dev/null 2>&1 && extra_groups+=(render)
groups_csv=$(
  IFS=,
  echo "${extra_groups[*]}"
)
run usermod -a -G "$groups_csv" lobbywatch
run install -d -m 0755 "$PREFIX" "$PREFIX/models" "$PREFIX/docs"
run install -d -m 0750 -o root -g lobbywatch "$ETC"
run install -d -m 0750 -o lobbywatch -g lobbywatch "$STATE" "$STATE/ultralytics"

# ------------------------------------------------------------------ virtual environment
VPY=$PREFIX/.venv/bin/python
pip_args=(-q)
[ -n "$wheelhouse" ] && pip_args+=(--no-index --find-links "$wheelhouse")
if [ ! -x "$VPY" ]; then
  venv_args=()
  # Jetson: JetPack's TensorRT (and NVIDIA's CUDA torch, if installed system-wide) live in the
  # system site-packages; PyPI has no CUDA build of torch for Jetson.
  [ "$platform" = jetson ] && venv_args+=(--system-site-packages)
  log "creating $PREFIX/.venv"
  run "$python" -m venv "${venv_args[@]}" "$PREFIX/.venv"
fi
[ -z "$wheelhouse" ] && run "$VPY" -m pip install "${pip_args[@]}" --upgrade pip

torch_args=("${pip_args[@]}")
[ -n "$torch_index" ] && [ -z "$wheelhouse" ] && torch_args+=(--index-url "$torch_index")
if ((!vision || edge)); then
  :
elif [ "$platform" = jetson ]; then
  if ((!dry_run)) && "$VPY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    log "using the CUDA build of torch already installed"
  elif [ -n "$torch_index" ]; then
    run "$VPY" -m pip install "${torch_args[@]}" torch torchvision
  elif ((dry_run)); then
    log "(dry run) would check for a CUDA build of torch; pass --torch-index-url if there is none"
  else
    die "no CUDA build of torch found. Install NVIDIA's torch/torchvision wheels for this JetPack, or pass --torch-index-url URL (see docs/deploy.md, Jetson)"
  fi
else
  run "$VPY" -m pip install "${torch_args[@]}" "$TORCH_SPEC" "$TORCHVISION_SPEC"
fi

if ((edge)); then
  log "installing LobbyWatch from $SRC ($edge_extra extra: $runtime, no torch)"
  # Bytecode only for what the daemon imports (6 MB, not pip's 47 MB for every module): the
  # import also checks the runtime loads. -I: the installed package, not this checkout, and
  # no PYTHON* variables (PYTHONDONTWRITEBYTECODE). bench/edge_footprint.py does the same.
  run "$VPY" -m pip install "${pip_args[@]}" --no-compile --upgrade "${SRC}[$edge_extra]"
  run "$VPY" -I -c "import edge.vision.daemon, $edge_module"
elif ((vision)); then
  log "installing LobbyWatch from $SRC (vision extra)"
  run "$VPY" -m pip install "${pip_args[@]}" --upgrade "${SRC}[vision]"
else
  log "installing LobbyWatch from $SRC"
  run "$VPY" -m pip install "${pip_args[@]}" --upgrade "$SRC"
fi
# As in scripts/setup.sh: ultralytics pulls opencv-python (5.x), which shares the cv2 directory
# with the headless 4.x build the package pins; keep exactly one OpenCV wheel, the headless one.
if ((vision && !edge)) && { ((dry_run)) || "$VPY" -m pip show -q opencv-python >/dev/null 2>&1; }; then
  run "$VPY" -m pip uninstall -q -y opencv-python
  run "$VPY" -m pip install "${pip_args[@]}" --force-reinstall --no-deps "opencv-python-headless>=4.10,<5"
fi

# ------------------------------------------------------------------ model
MODEL=$PREFIX/models/$MODEL_NAME
if ((!vision)); then
  :
elif ((edge)); then
  # Only the export this node's runtime runs: the other one would need the other extra
  # (switching runtime: run this again with the other --format; docs/deploy.md).
  src=${model:-$edge_model}
  if [ ! -e "$src" ]; then
    hint="run scripts/setup.sh on the set-up machine (it exports $ONNX_MODEL and $NCNN_MODEL), pass --model, or --format openvino to export on this node (installs torch)"
    if ((dry_run)); then
      warn "$src is missing; a real run would stop here: $hint"
    else
      die "$src is missing: $hint"
    fi
  fi
  # ship SRC [WHAT]: install an ONNX file or the files of an NCNN folder into $PREFIX/models.
  ship() {
    local dest
    dest=$PREFIX/models/$(basename "$1")
    if [[ $1 == *.onnx ]]; then
      log "shipping the ONNX $2 $1 to $dest"
      run install -m 0644 "$1" "$dest"
    else
      log "shipping the NCNN $2 $1 to $dest"
      run install -d -m 0755 "$dest"
      run install -m 0644 "${NCNN_FILES[@]/#/$1/}" "$dest/"
    fi
  }
  MODEL=$PREFIX/models/$(basename "$src")
  ship "$src" detector
  # The near model in the same format, found beside the camera's model by its file name.
  if [ -e "$near_model" ]; then
    ship "$near_model" "near model"
  else
    warn "$near_model is missing (run scripts/setup.sh on the set-up machine): the cameras will count close groups with the detector alone"
  fi
  format=none
else
  if [ -n "$model" ]; then
    MODEL=$PREFIX/models/$(basename "$model")
    run install -m 0644 "$model" "$MODEL"
  fi
  fetch_args=()
  [ -n "$wheelhouse" ] && fetch_args+=(--no-index --find-links "$wheelhouse")
  # The near model beside the camera's model (a --model .pt too), exported alike below.
  NEAR=$(dirname "$MODEL")/$NEAR_NAME
  for pt in $([ -n "$model" ] || echo "$MODEL") "$NEAR"; do
    log "fetching the bundled model $pt"
    run env PYTHON="$VPY" "$SRC/scripts/fetch-model.sh" "$pt" "${fetch_args[@]}"
  done
fi

# exported_name PT: where `lobbywatch edge export-model` writes PT's export in $format.
exported_name() {
  case $format in
    ncnn) echo "${1%.pt}_ncnn_model" ;;
    openvino) echo "${1%.pt}_openvino_model" ;;
    onnx) echo "${1%.pt}.onnx" ;;
    engine) echo "${1%.pt}.engine" ;;
    *) echo "$1" ;;
  esac
}
exported=$(exported_name "$MODEL")
if [ "$format" != none ]; then
  case $format in
    ncnn) export_reqs=(ncnn pnnx) ;;
    openvino) export_reqs=(openvino) ;;
    *) export_reqs=() ;;
  esac
  if ((${#export_reqs[@]})); then
    run "$VPY" -m pip install "${pip_args[@]}" "${export_reqs[@]}" \
      || warn "could not install ${export_reqs[*]}; the export will try to (or fail and say why)"
  fi
  # Install time is the one networked step: ultralytics may install an exact exporter version
  # it needs (YOLO_AUTOINSTALL=1) unless installing offline. The daemons never do (see units).
  autoinstall=1
  [ -n "$wheelhouse" ] && autoinstall=0
  for pt in "$MODEL" "$NEAR"; do
    if [ -e "$(exported_name "$pt")" ]; then
      log "$(exported_name "$pt") exists; not exporting again (delete it to re-export, e.g. after an upgrade)"
      continue
    fi
    log "exporting $pt to $format (input size $imgsz); this takes minutes on a Pi, longer for TensorRT"
    run env YOLO_CONFIG_DIR="$STATE/ultralytics" YOLO_OFFLINE=0 YOLO_AUTOINSTALL="$autoinstall" \
      "$PREFIX/.venv/bin/lobbywatch" edge export-model --model "$pt" --format "$format" --imgsz "$imgsz"
  done
  run chown -R lobbywatch:lobbywatch "$STATE/ultralytics"
fi

# ------------------------------------------------------------------ configuration
config_is_example=0
if [ ! -e "$ETC/hall.yaml" ]; then
  if [ -z "$config" ]; then
    config=$SRC/deploy/examples/telecom-hall.yaml
    config_is_example=1
    warn "no --config given: installing the example hall $config; edit $ETC/hall.yaml"
  fi
  run install -m 0640 -o root -g lobbywatch "$config" "$ETC/hall.yaml"
elif [ -n "$config" ] && ! cmp -s "$config" "$ETC/hall.yaml"; then
  warn "$ETC/hall.yaml exists and differs from $config; left unchanged"
fi
((dry_run)) || "$PREFIX/.venv/bin/lobbywatch" config check "$ETC/hall.yaml" \
  || die "$ETC/hall.yaml has errors (listed above)"

# The vision daemon's default model (cameras without `model:` in hall.yaml use it), read by
# lobbywatch-vision@.service from /etc/lobbywatch/vision.env. Kept when it exists.
if ((!vision)); then
  :
elif [ -e "$ETC/vision.env" ]; then
  grep -qx "LOBBYWATCH_MODEL=$exported" "$ETC/vision.env" 2>/dev/null \
    || warn "$ETC/vision.env exists and does not name $exported; left unchanged"
else
  vision_env=$(mktemp)
  printf '%s\n' "# Written by deploy/edge/install.sh; see docs/deploy.md." \
    "# Model for cameras that do not name one in hall.yaml (their imgsz must match the export)." \
    "LOBBYWATCH_MODEL=$exported" >"$vision_env"
  run install -m 0644 "$vision_env" "$ETC/vision.env"
  rm -f "$vision_env"
fi

# ------------------------------------------------------------------ systemd units
units=(lobbywatch-vision@.service lobbywatch-device@.service lobbywatch-gateway.service)
((server)) && units+=(lobbywatch-server.service)
for unit in "${units[@]}"; do
  run install -m 0644 "$SRC/deploy/systemd/$unit" "$UNIT_DIR/$unit"
done
if [ "$platform" = jetson ]; then
  run install -d -m 0755 "$UNIT_DIR/lobbywatch-vision@.service.d"
  run install -m 0644 "$SRC/deploy/systemd/lobbywatch-vision-jetson.conf" \
    "$UNIT_DIR/lobbywatch-vision@.service.d/jetson.conf"
fi
run install -m 0644 "$SRC/docs/deploy.md" "$PREFIX/docs/deploy.md"
run systemctl daemon-reload

enable=()
for id in "${cameras[@]}"; do enable+=("lobbywatch-vision@$id.service"); done
for id in "${devices[@]}"; do enable+=("lobbywatch-device@$id.service"); done
((gateway)) && enable+=(lobbywatch-gateway.service)
((broker)) && enable=(mosquitto.service "${enable[@]}")

if ((vision)); then
  log "detector model: $exported"
  log "cameras without model: in $ETC/hall.yaml use it (LOBBYWATCH_MODEL in $ETC/vision.env); give them counting: {imgsz: $imgsz}"
fi
if ((${#enable[@]})); then
  if ((start && !config_is_example)); then
    run systemctl enable "${enable[@]}"
    # restart = start, or pick up new code and config after an upgrade.
    run systemctl restart "${enable[@]}"
  else
    ((config_is_example)) && warn "the example hall is installed; not starting anything"
    log "to start: systemctl enable --now ${enable[*]}"
  fi
fi
log "done. Logs: journalctl -u 'lobbywatch-*' -f"
