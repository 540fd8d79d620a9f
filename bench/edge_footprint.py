"""Footprint of a camera node's install profiles: disk, install time, the daemon's memory.

    nice .venv/bin/python -m bench.edge_footprint [--frames 40] [--profiles edge edge-ncnn] [--keep DIR]

For each torch-free profile (``edge``: ONNX Runtime, ``edge-ncnn``: NCNN; one runtime per node)
it creates, in a temporary folder (or under ``--keep DIR``), a fresh virtual environment with
``python -m venv`` and installs this checkout's profile into it as deploy/edge/install.sh
does (``pip install --no-compile '<repo>[edge]'``, with this machine's pip configuration: PyPI
or its mirror, then the daemon's imports once, which writes their bytecode), timing the
install. It then reports the environment's size on disk (largest packages too, and how much of
it is compiled ``.pyc``), checks that ``import torch`` and ``import ultralytics`` fail inside
it, that the profile's runtime imports and the other one does not, and runs the vision daemon
from it (``lobbywatch edge vision``) on a short video made from ultralytics' bus.jpg
(810x1080) with the bundled detector's export for that runtime (``models/person-yolov8s.onnx``
or ``models/person-yolov8s_ncnn_model``, exported into the temporary folder when absent),
publishing to a real Mosquitto, and samples its resident memory until the video ends: once with
the shipped default (the near model beside the detector, docs/vision.md "Two models") and once
with the detector alone. Prints one JSON object last. The exports and the video need the
development environment (torch, ultralytics); the edge environments never do.

The helpers (install, video, hall) are shared with tests/edge/vision/test_edge_install.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
# What scripts/setup.sh exports the bundled detector to, by format, and the backend that runs it.
EXPORTS = {"onnx": ("person-yolov8s.onnx", "onnxruntime"), "ncnn": ("person-yolov8s_ncnn_model", "ncnn")}
# The torch-free install profiles (pyproject.toml): the export format each one runs.
PROFILES = {"edge": "onnx", "edge-ncnn": "ncnn"}
CAMERA = "cam-bus"


def install_edge_venv(venv: Path, profile: str = "edge") -> float:
    """A fresh venv at ``venv`` with ``lobbywatch[profile]`` from this checkout, installed as
    deploy/edge/install.sh does (bytecode only for the daemon's imports); install seconds."""
    started = time.perf_counter()
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-compile", f"{ROOT}[{profile}]"],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    runtime = EXPORTS[PROFILES[profile]][1]
    # -I: the venv's package (not this checkout, not PYTHONPATH), writing bytecode whatever
    # PYTHONDONTWRITEBYTECODE says.
    subprocess.run([python, "-I", "-c", f"import edge.vision.daemon, {runtime}"], check=True)
    return time.perf_counter() - started


def imports_fail(venv: Path, module: str) -> bool:
    """Whether ``import module`` fails in the venv's Python."""
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {module}"], capture_output=True, check=False
    )
    return proc.returncode != 0


def tree_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def pyc_bytes(folder: Path) -> int:
    """Bytes of compiled bytecode (``.pyc``) under ``folder``: what ``pip install --no-compile`` skips."""
    return sum(path.stat().st_size for path in folder.rglob("*.pyc"))


def largest_packages(venv: Path, n: int = 8) -> dict[str, float]:
    """The ``n`` largest entries of the venv's site-packages, MB."""
    site = next((venv / "lib").glob("python*/site-packages"))
    sizes = {p.name: tree_bytes(p) if p.is_dir() else p.stat().st_size for p in site.iterdir()}
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:n]
    return {name: round(size / 1e6, 1) for name, size in top}


def write_video(path: Path, frames: int) -> tuple[int, int]:
    """An MJPG video of ultralytics' bus.jpg (three people in front of a bus); its (w, h)."""
    import cv2
    import ultralytics

    img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    assert img is not None, "ultralytics' bus.jpg is missing"
    h, w = img.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5.0, (w, h))
    for _ in range(frames):
        writer.write(img)
    writer.release()
    return w, h


def hall_config(
    site_id: str, video: Path, model: Path, *, loop: bool = False, near_model: str = "auto"
) -> dict[str, Any]:
    """One camera on the bus video, split at x=450 into a queue and a waiting zone; ``near_model``
    as in its ``counting`` block (default: the bundled one beside ``model``)."""
    return {
        "site": site_id,
        "name": {"en": "Edge install hall", "zh-CN": "边缘安装测试厅"},
        "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "18:00"}],
        "zones": [{"id": "queue-bus", "kind": "queue"}, {"id": "waiting-bus", "kind": "waiting"}],
        "cameras": [
            {
                "id": CAMERA,
                "source": str(video),
                "loop": loop,
                "model": str(model),
                "counting": {"imgsz": 640, "confidence": 0.25, "near_model": near_model},
                "entry_frames": 1,
                "exit_frames": 3,
                "zones": [
                    {"zone": "queue-bus", "polygon": [[0, 600], [450, 600], [450, 1080], [0, 1080]]},
                    {"zone": "waiting-bus", "polygon": [[450, 600], [810, 600], [810, 1080], [450, 1080]]},
                ],
            }
        ],
    }


def write_hall(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def daemon_command(venv: Path, config: Path, broker_url: str) -> list[str]:
    lobbywatch = str(venv / "bin" / "lobbywatch")
    return [lobbywatch, "edge", "vision", "--config", str(config), "--camera", CAMERA, "--broker", broker_url]


def edge_env() -> dict[str, str]:
    """This environment without what would point the edge venv at this checkout or a model."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LOBBYWATCH_MODEL")}


def _rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, kB; (0, 0) once it is gone."""
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
    except OSError:
        return 0, 0
    return int(fields.get("VmRSS", "0 kB").split()[0]), int(fields.get("VmHWM", "0 kB").split()[0])


def run_daemon(venv: Path, config: Path, broker_url: str, timeout_s: float = 600) -> dict[str, Any]:
    """Run the daemon until the video ends; its peak resident memory and log."""
    proc = subprocess.Popen(
        daemon_command(venv, config, broker_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=edge_env(),
    )
    peak_hwm = peak_rss = 0
    started = time.perf_counter()
    while proc.poll() is None and time.perf_counter() - started < timeout_s:
        rss, hwm = _rss_kb(proc.pid)
        peak_rss, peak_hwm = max(peak_rss, rss), max(peak_hwm, hwm)
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    out, _ = proc.communicate()
    return {
        "returncode": proc.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(max(peak_rss, peak_hwm) / 1024, 1),
        "log": out,
    }


def exported_model(fmt: str, folder: Path) -> Path:
    """The bundled detector's ``fmt`` export from scripts/setup.sh, else one made in ``folder``."""
    beside = MODELS / EXPORTS[fmt][0]
    if beside.exists():
        return beside
    sys.path.insert(0, str(ROOT))
    from edge.vision.detector import DEFAULT_MODEL
    from edge.vision.export import export_model

    weights = folder / DEFAULT_MODEL.name
    if not weights.exists():
        shutil.copy(DEFAULT_MODEL, weights)
    return export_model(weights, fmt, 640)


def measure_profile(profile: str, venv: Path, model: Path, video: Path, broker_url: str) -> dict[str, Any]:
    """Install ``profile`` into a fresh ``venv`` and run its daemon on ``video``: the figures."""
    install_s = install_edge_venv(venv, profile)
    size = tree_bytes(venv)
    print(f"{profile} install: {install_s:.0f} s, {size / 1e6:.0f} MB on disk", file=sys.stderr)
    backend = EXPORTS[PROFILES[profile]][1]
    other = next(EXPORTS[fmt][1] for fmt in EXPORTS if EXPORTS[fmt][1] != backend)
    daemon: dict[str, Any] = {"model": model.name}
    # The shipped default (the near model beside the detector), then the detector alone, in turn.
    for near in ("auto", "none"):
        hall = hall_config("footprint", video, model, near_model=near)
        run = run_daemon(venv, write_hall(venv.parent / f"hall-{profile}-{near}.yaml", hall), broker_url)
        if run["returncode"] != 0:
            print(run["log"][-3000:], file=sys.stderr)
        daemon[f"near_{near}"] = {
            "returncode": run["returncode"],
            "seconds": run["seconds"],
            "peak_rss_mb": run["peak_rss_mb"],
            "backend_logged": f"detector: {backend} backend" in run["log"],
            "near_model_logged": "near model" in run["log"] and "not found" not in run["log"],
        }
    return {
        "install_seconds": round(install_s, 1),
        "venv_mb": round(size / 1e6, 1),
        "pyc_mb": round(pyc_bytes(venv) / 1e6, 1),
        "largest_mb": largest_packages(venv),
        "torch_import_fails": imports_fail(venv, "torch"),
        "ultralytics_import_fails": imports_fail(venv, "ultralytics"),
        f"{backend}_imports": not imports_fail(venv, backend),
        f"{other}_import_fails": imports_fail(venv, other),
        "daemon": daemon,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40, help="video length, frames")
    ap.add_argument("--profiles", nargs="+", choices=list(PROFILES), default=list(PROFILES))
    ap.add_argument("--keep", type=Path, default=None, help="build the venvs under this folder and keep them")
    a = ap.parse_args()
    from lobbywatch.services import Mosquitto

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        video = tmp / "bus.avi"
        write_video(video, a.frames)
        result: dict[str, Any] = {"video_frames": a.frames}
        with Mosquitto(tmp / "mosquitto") as broker:
            for profile in a.profiles:
                model = exported_model(PROFILES[profile], tmp)
                venv = (a.keep or tmp) / f"{profile}-venv"
                result[profile] = measure_profile(profile, venv, model, video, broker.url)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
