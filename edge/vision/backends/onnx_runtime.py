"""The ONNX Runtime backend: runs an exported ``.onnx`` detector without torch.

The session uses every core (one thread per core, graph optimisations on) and its threads
sleep between runs instead of spinning: a camera node shares its cores with the gateway and
broker, and spinning measured slower on a busy CPU (docs/benchmarks.md). A model exported
with dynamic axes (``lobbywatch edge export-model --format onnx`` does) takes any input size
and a whole batch of tiles in one run; a static export gets its fixed input shape. The
export's metadata (``metadata_props``) says which output channels are class scores (a pose or
segment model has more channels: :mod:`edge.vision.backends.yolo_meta`).
See docs/vision.md (Backends).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge.vision.backends.yolo_io import decode_batch, letterbox_batch, to_tensor
from edge.vision.backends.yolo_meta import OutputLayout, literal_metadata
from edge.vision.detector import Detections, Frame

log = logging.getLogger(__name__)
# CUDA first where onnxruntime-gpu provides it (Jetson, a server GPU); the CPU everywhere else.
PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


class OnnxRuntimeBackend:
    """An ONNX Runtime session over a YOLO detector's raw output."""

    name = "onnxruntime"

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = set(ort.get_available_providers())
        self.session: Any = ort.InferenceSession(
            str(path), sess_options=options, providers=[p for p in PROVIDERS if p in available]
        )
        meta = literal_metadata(self.session.get_modelmeta().custom_metadata_map)
        self.layout = OutputLayout.from_metadata(meta, str(path))
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        batch, _channels, height, width = inp.shape
        self.batched = not isinstance(batch, int)
        # Static height and width: the export's fixed input (imgsz is then ignored).
        self.fixed = (height, width) if isinstance(height, int) and isinstance(width, int) else None
        self._warned = False

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        if self.fixed is not None and self.fixed != (imgsz, imgsz) and not self._warned:
            log.warning("model input is fixed at %s; imgsz %d is not used", self.fixed, imgsz)
            self._warned = True
        boxed = letterbox_batch(images, imgsz, self.fixed)
        batch = to_tensor(boxed)
        if self.batched:
            outputs = self.session.run(None, {self.input_name: batch})[0]
        else:
            outputs = np.concatenate(
                [self.session.run(None, {self.input_name: batch[i : i + 1]})[0] for i in range(len(batch))]
            )
        return decode_batch(list(outputs), boxed, self.layout, conf=conf, iou=iou, classes=classes)
