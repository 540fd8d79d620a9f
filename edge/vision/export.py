"""Export the detector to another runtime's format (ultralytics' exporter; needs torch).

Used by ``lobbywatch edge export-model``, ``scripts/setup.sh`` (the ONNX model that camera
nodes run without torch) and the benchmarks. ONNX is exported with dynamic axes, so one file
takes any input size and a batch of tiles at once, and without onnxslim (ONNX Runtime
optimises the graph itself when it loads it), so the export needs no network.
Imports nothing heavy at module level (the command line reads :data:`EXPORT_FORMATS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# "engine" is TensorRT (Jetson): it must be exported on the device that will run it.
EXPORT_FORMATS = ("onnx", "openvino", "ncnn", "engine")


def export_model(weights: Path, fmt: str, imgsz: int) -> Path:
    """Export ``weights`` (.pt) to ``fmt``; returns the file or folder written next to it."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    from edge.vision.detector import prepare_ultralytics_env

    prepare_ultralytics_env()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    options: dict[str, Any] = {"dynamic": True, "simplify": False} if fmt == "onnx" else {}
    out = YOLO(str(weights), task="detect").export(format=fmt, imgsz=imgsz, verbose=False, **options)
    return Path(str(out))
