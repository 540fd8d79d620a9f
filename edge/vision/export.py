"""Export the detector to another runtime's format (ultralytics' exporter; needs torch).

Used by ``lobbywatch edge export-model``, ``scripts/setup.sh`` (the ONNX file and NCNN folder
that camera nodes run without torch) and the benchmarks. ONNX is exported with dynamic axes, so
one file takes any input size and a batch of tiles at once, and without onnxslim (ONNX Runtime
optimises the graph itself when it loads it), so the export needs no network. NCNN is
converted by PNNX (the ``pnnx`` wheel, which scripts/setup.sh installs) with a fixed input
shape. INT8 (:func:`quantize_onnx`) is a benchmark option, not shipped (docs/benchmarks.md).
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


def quantize_onnx(model: Path, calibration: list[Path], imgsz: int = 640) -> Path:
    """An INT8 copy of an ONNX detector (``<name>-int8.onnx`` beside it), for ONNX Runtime.

    Static quantization (QDQ, per-channel weights) calibrated on ``calibration``: frames of
    the scenes the cameras see, letterboxed as at inference. The detection head's decoding
    (box distribution, sigmoid, concatenation of boxes in pixels with scores in 0..1) stays
    in float: quantized together they lose every score. Smaller and faster on CPUs with int8
    instructions, at a small cost in counting accuracy (docs/benchmarks.md).
    """
    import cv2
    import numpy as np
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edge.vision.backends.yolo_io import letterbox_batch, to_tensor

    read = (cv2.imread(str(p)) for p in calibration)
    images = [np.asarray(img, np.uint8) for img in read if img is not None]
    if not images:
        raise ValueError("no readable calibration images")
    graph = onnx.load(str(model)).graph
    input_name = graph.input[0].name
    # The head is the last top-level module (/model.<N>/...); keep all but its convolutions in float.
    modules = [n.name.split("/")[1] for n in graph.node if n.name.startswith("/model.")]
    head = f"/model.{max(int(m.split('.')[1]) for m in modules)}/"
    keep_float = [n.name for n in graph.node if n.name.startswith(head) and n.op_type != "Conv"]
    keep_float += [n.name for n in graph.node if n.name.startswith(f"{head}dfl")]

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = iter(images)

        def get_next(self) -> dict[str, Any] | None:
            img = next(self.left, None)
            return None if img is None else {input_name: to_tensor(letterbox_batch([img], imgsz))}

    prepared = model.with_name(f"{model.stem}-prep.onnx")
    out = model.with_name(f"{model.stem}-int8.onnx")
    try:
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
        )
    finally:
        prepared.unlink(missing_ok=True)
    return out
