"""The NCNN backend: runs an ultralytics NCNN export (a folder) without torch.

NCNN is the fastest CPU runtime on ARM boards (Raspberry Pi). The folder is what
``lobbywatch edge export-model --format ncnn`` (and ``scripts/setup.sh``) writes:
``model.ncnn.param``, ``model.ncnn.bin`` and ``metadata.yaml``. The export has a fixed input
shape (``imgsz`` in the metadata; its anchors are baked into the graph), so every image is
letterboxed to it and ``imgsz`` is not used; images run one at a time. The metadata also says
which output channels are class scores (:mod:`edge.vision.backends.yolo_meta`). Letterbox,
decoding and NMS are :mod:`edge.vision.backends.yolo_io`'s. See docs/vision.md (Backends).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edge.vision.backends import UnsupportedModelError
from edge.vision.backends.yolo_io import decode_batch, letterbox_batch, to_tensor
from edge.vision.backends.yolo_meta import OutputLayout
from edge.vision.detector import Detections, Frame

log = logging.getLogger(__name__)
PARAM = "model.ncnn.param"
WEIGHTS = "model.ncnn.bin"
METADATA = "metadata.yaml"


def is_ncnn_folder(path: Path) -> bool:
    """Whether ``path`` is an NCNN export folder (it holds :data:`PARAM`)."""
    return path.is_dir() and (path / PARAM).is_file()


def read_metadata(folder: Path) -> dict[str, Any]:
    """The folder's ``metadata.yaml`` (task, names, imgsz, ...); a clear error when it is missing."""
    path = folder / METADATA
    if not path.is_file():
        raise UnsupportedModelError(f"{folder}: no {METADATA}: not an ultralytics NCNN export")
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise UnsupportedModelError(f"{path}: not a mapping of metadata")
    return meta


def export_input_shape(meta: dict[str, Any]) -> tuple[int, int]:
    """The (height, width) the model was exported for, from its metadata."""
    imgsz = meta["imgsz"]
    return (int(imgsz[0]), int(imgsz[1])) if isinstance(imgsz, list) else (int(imgsz), int(imgsz))


class NcnnBackend:
    """An NCNN net over a YOLO model's raw output (``(channels, anchors)`` per image)."""

    name = "ncnn"

    def __init__(self, folder: Path, *, threads: int | None = None) -> None:
        # Threads sleep between layers instead of spinning (as the ONNX Runtime backend's do): a
        # camera node shares its cores with the gateway and broker. The wheel's GNU OpenMP reads
        # this once, when ncnn loads (opt.openmp_blocktime is for other OpenMPs); spinning cost
        # 8x the CPU time on the loaded 2-core box here (docs/benchmarks.md). In a process that
        # loaded torch first, NCNN runs on torch's OpenMP, which has read it already.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import ncnn  # type: ignore[import-untyped]

        meta = read_metadata(folder)
        self.fixed = export_input_shape(meta)
        self.layout = OutputLayout.from_metadata(meta, str(folder))
        self.net: Any = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads or os.cpu_count() or 1
        if self.net.load_param(str(folder / PARAM)) or self.net.load_model(str(folder / WEIGHTS)):
            raise ValueError(f"{folder}: NCNN could not load {PARAM} and {WEIGHTS}")
        self.input_name: str = self.net.input_names()[0]
        self.output_name: str = self.net.output_names()[0]
        self._warned = False

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        import ncnn  # type: ignore[import-untyped]

        if self.fixed != (imgsz, imgsz) and not self._warned:
            log.warning("NCNN model input is fixed at %s; imgsz %d is not used", self.fixed, imgsz)
            self._warned = True
        boxed = letterbox_batch(images, imgsz, self.fixed)
        batch = to_tensor(boxed)
        outputs: list[np.ndarray[Any, Any]] = []
        for tensor in batch:
            with self.net.create_extractor() as ex:
                ex.input(self.input_name, ncnn.Mat(tensor))
                _, raw = ex.extract(self.output_name)
                outputs.append(np.array(raw))  # a copy: the Mat is the extractor's
        return decode_batch(outputs, boxed, self.layout, conf=conf, iou=iou, classes=classes)
