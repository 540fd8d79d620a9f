"""Detector backends: what runs the model. Each maps a batch of BGR images to boxes.

The backend follows from the model path: an ``.onnx`` file runs on ONNX Runtime and an NCNN
export folder (``model.ncnn.param``/``.bin``) on NCNN, both without torch (the ``edge``
install brings ONNX Runtime, ``edge-ncnn`` NCNN: one runtime per camera node); everything
else (``.pt``, a TensorRT ``.engine``, an OpenVINO folder) through ultralytics (torch: the
``vision`` install). Tiling, merging and tracking sit above the
backend and are the same for all (:mod:`edge.vision.detector`). See docs/vision.md.
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


class UnsupportedModelError(ValueError):
    """The model's output is not person boxes (an obb or classify model, an export with NMS
    built in, metadata that does not explain its output); the message names the model."""


#: The install profile (``lobbywatch[...]``, pyproject.toml) that brings each torch-free runtime.
RUNTIME_EXTRAS = {"onnxruntime": "edge", "ncnn": "edge-ncnn"}


def backend_name(path: Path) -> str:
    """``onnxruntime`` for an ``.onnx`` file, ``ncnn`` for an NCNN export folder, else ``ultralytics``."""
    from edge.vision.backends.ncnn_backend import is_ncnn_folder

    if path.suffix.lower() == ".onnx":
        return "onnxruntime"
    return "ncnn" if is_ncnn_folder(path) else "ultralytics"


def load_backend(path: Path, *, device: str = "cpu") -> DetectorBackend:
    """The backend for the model at ``path`` (see :func:`backend_name`), with the model loaded.

    Raises :class:`BackendMissingError` when its runtime is not installed and
    :class:`UnsupportedModelError` when the model gives no person boxes (obb, classify).
    """
    name = backend_name(path)
    try:
        if name == "onnxruntime":
            from edge.vision.backends.onnx_runtime import OnnxRuntimeBackend

            return OnnxRuntimeBackend(path)
        if name == "ncnn":
            from edge.vision.backends.ncnn_backend import NcnnBackend

            return NcnnBackend(path)
        from edge.vision.backends.ultralytics_yolo import UltralyticsBackend

        return UltralyticsBackend(path, device=device)
    except ImportError as exc:
        if name != "ultralytics":
            extra = RUNTIME_EXTRAS[name]
            raise BackendMissingError(
                f"{path}: this model needs {name} ({exc.name} is missing): "
                f"install lobbywatch[{extra}] (pip install 'lobbywatch[{extra}]')"
            ) from None
        raise BackendMissingError(
            f"{path}: this model format needs torch and ultralytics ({exc.name} is missing): "
            "pip install 'lobbywatch[vision]', or use the ONNX or NCNN export (models/person-yolov8s.onnx, "
            "models/person-yolov8s_ncnn_model, written by scripts/setup.sh) on a camera node with the "
            "edge install"
        ) from None
