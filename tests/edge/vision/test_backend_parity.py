"""The torch-free backends (ONNX Runtime, NCNN) find what the ultralytics backend finds.

Frames: ultralytics' bundled images (bus.jpg: people in front of a bus; zidane.jpg: two men),
as they are, mirrored and at half size; once whole-frame at 640 and once tiled (2x2 tiles,
the whole frame and the mirror image, as ``eval counts`` reads a still). Required: the same
person count on every frame, and each ultralytics box matched by a box of the other backend
with IoU >= 0.9, except at most MAX_UNMATCHED_SHARE of all boxes (in practice they agree to
the pixel). The NCNN export has a fixed 640x640 input, so the ``.pt`` it is compared with
letterboxes to that square too (``rect=False``), and its tiles run at 640 (without the mirror).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics

from edge.vision.backends.ncnn_backend import NcnnBackend
from edge.vision.backends.ultralytics_yolo import UltralyticsBackend
from edge.vision.detector import DEFAULT_MODEL, Detections, Frame, PersonDetector
from lobbywatch.config.site import TilingConfig

ASSETS = Path(ultralytics.__file__).parent / "assets"
MIN_IOU = 0.9
MAX_UNMATCHED_SHARE = 0.05


@pytest.fixture(scope="session")
def ncnn_model() -> Path:
    """The NCNN export of the bundled detector that ``scripts/setup.sh`` writes (a folder)."""
    folder = DEFAULT_MODEL.with_name(f"{DEFAULT_MODEL.stem}_ncnn_model")
    assert (folder / "model.ncnn.param").is_file(), f"{folder} is missing: run scripts/setup.sh"
    return folder


def _frames() -> list[Frame]:
    out: list[Frame] = []
    for path in sorted(ASSETS.glob("*.jpg")):
        img = np.asarray(cv2.imread(str(path)), np.uint8)
        h, w = img.shape[:2]
        half = np.asarray(cv2.resize(img, (w // 2, h // 2)), np.uint8)
        out += [img, np.ascontiguousarray(img[:, ::-1]), half]
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = (np.minimum(a[:, None, 2], b[:, 2]) - np.maximum(a[:, None, 0], b[:, 0])).clip(0)
    h = (np.minimum(a[:, None, 3], b[:, 3]) - np.maximum(a[:, None, 1], b[:, 1])).clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(w * h / (area_a[:, None] + area_b - w * h), np.float64)


def _unmatched(reference: Detections, other: Detections) -> int:
    """Reference boxes without a box of IoU >= MIN_IOU in ``other`` (each used once)."""
    if len(reference) == 0 or len(other) == 0:
        return len(reference)
    iou = _iou(reference.xyxy, other.xyxy)
    missing = 0
    for i in np.argsort(-reference.conf):
        j = int(np.argmax(iou[i]))
        if iou[i, j] >= MIN_IOU:
            iou[:, j] = -1.0
        else:
            missing += 1
    return missing


def _compare(pt: PersonDetector, other: PersonDetector) -> tuple[int, int]:
    boxes = unmatched = 0
    for frame in _frames():
        for a, b in zip(pt.detect_orientations(frame), other.detect_orientations(frame), strict=True):
            assert len(a) == len(b), f"person count differs on a {frame.shape} frame: {len(a)} vs {len(b)}"
            boxes += len(a)
            unmatched += _unmatched(a, b)
    return boxes, unmatched


def test_the_backend_follows_the_model_file(onnx_model: Path, ncnn_model: Path) -> None:
    assert PersonDetector(onnx_model).backend.name == "onnxruntime"
    assert PersonDetector(ncnn_model).backend.name == "ncnn"
    assert PersonDetector(onnx_model.with_suffix(".pt")).backend.name == "ultralytics"


@pytest.mark.parametrize(
    "tiling",
    [None, TilingConfig(rows=2, cols=2, tile_imgsz=320, flip=True, containment=0.6)],
    ids=["whole-frame", "tiled"],
)
def test_onnx_runtime_matches_ultralytics(onnx_model: Path, tiling: TilingConfig | None) -> None:
    conf = 0.25 if tiling is None else 0.1
    pt = PersonDetector(onnx_model.with_suffix(".pt"), imgsz=640, conf=conf, tiling=tiling)
    onnx = PersonDetector(onnx_model, imgsz=640, conf=conf, tiling=tiling)
    boxes, unmatched = _compare(pt, onnx)
    assert boxes >= 10  # the frames do hold people
    assert unmatched <= MAX_UNMATCHED_SHARE * boxes, f"{unmatched} of {boxes} boxes unmatched"


@pytest.mark.parametrize(
    "tiling",
    # No mirror image here: tiles at 640 cost four times those at 320, and the ONNX test covers it.
    [None, TilingConfig(rows=2, cols=2, tile_imgsz=640, flip=False, containment=0.6)],
    ids=["whole-frame", "tiled"],
)
def test_ncnn_matches_ultralytics(ncnn_model: Path, tiling: TilingConfig | None) -> None:
    conf = 0.25 if tiling is None else 0.1
    pt = PersonDetector(DEFAULT_MODEL, imgsz=640, conf=conf, tiling=tiling)
    pt.backend = UltralyticsBackend(DEFAULT_MODEL, rect=False)  # the square input NCNN's export has
    ncnn = PersonDetector(ncnn_model, imgsz=640, conf=conf, tiling=tiling)
    # One thread: beside torch, NCNN runs on torch's spinning OpenMP (slow on a shared box).
    ncnn.backend = NcnnBackend(ncnn_model, threads=1)
    boxes, unmatched = _compare(pt, ncnn)
    assert boxes >= 10
    assert unmatched <= MAX_UNMATCHED_SHARE * boxes, f"{unmatched} of {boxes} boxes unmatched"
