"""Detector backends: what runs the model. Each maps a batch of BGR images to boxes.

The backend follows from the model file: ``.onnx`` runs on ONNX Runtime (no torch: the
``edge`` install), everything else (``.pt``, a TensorRT ``.engine``, an OpenVINO or NCNN
folder) through ultralytics (torch: the ``vision`` install). Tiling, merging and tracking
sit above the backend and are the same for all (:mod:`edge.vision.detector`). See docs/vision.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from edge.vision.detector import Detections, Frame


class DetectorBackend(Protocol):
    """Runs the model on images: boxes above ``conf`` after class-agnostic NMS at ``iou``."""

    name: str

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]: ...


class BackendMissingError(ImportError):
    """The runtime a model file needs is not installed here; the message says what to do."""


def backend_name(path: Path) -> str:
    """``onnxruntime`` for an ``.onnx`` file, else ``ultralytics``."""
    return "onnxruntime" if path.suffix.lower() == ".onnx" else "ultralytics"


def load_backend(path: Path, *, device: str = "cpu") -> DetectorBackend:
    """The backend for the model file ``path`` (see :func:`backend_name`), with the model loaded."""
    if backend_name(path) == "onnxruntime":
        try:
            from edge.vision.backends.onnx_runtime import OnnxRuntimeBackend
        except ImportError as exc:
            raise BackendMissingError(
                f"{path}: ONNX models need onnxruntime ({exc.name} is missing): "
                "pip install 'lobbywatch[edge]'"
            ) from None
        return OnnxRuntimeBackend(path)
    try:
        from edge.vision.backends.ultralytics_yolo import UltralyticsBackend

        return UltralyticsBackend(path, device=device)
    except ImportError as exc:
        raise BackendMissingError(
            f"{path}: this model format needs torch and ultralytics ({exc.name} is missing): "
            "pip install 'lobbywatch[vision]', or use the ONNX export (models/person-yolov8s.onnx, "
            "written by scripts/setup.sh) on a camera node with the edge install"
        ) from None
