"""The torch-free backends (ONNX Runtime, NCNN) find what the ultralytics backend finds.

Frames: ultralytics' bundled images (bus.jpg: people in front of a bus; zidane.jpg: two men),
as they are, mirrored and at half size; once whole-frame at 640 and once sliced (the whole
frame and a 2x2 grid of slices, merged as the counting detector merges them). Required: the same
person count on every frame, and each ultralytics box matched by a box of the other backend
with IoU >= 0.9, except at most MAX_UNMATCHED_SHARE of all boxes (in practice they agree to
the pixel). The NCNN export has a fixed 640x640 input, so the ``.pt`` it is compared with
letterboxes to that square too (``rect=False``), and its slices run at 640.
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
from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode

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
        a, b = pt.detect(frame), other.detect(frame)
        assert len(a) == len(b), f"person count differs on a {frame.shape} frame: {len(a)} vs {len(b)}"
        boxes += len(a)
        unmatched += _unmatched(a, b)
    return boxes, unmatched


def test_the_backend_follows_the_model_file(onnx_model: Path, ncnn_model: Path) -> None:
    assert PersonDetector(onnx_model).backend.name == "onnxruntime"
    assert PersonDetector(ncnn_model).backend.name == "ncnn"
    assert PersonDetector(onnx_model.with_suffix(".pt")).backend.name == "ultralytics"


@pytest.mark.parametrize(
    "settings",
    [
        CountingConfig(imgsz=640, confidence=0.25, slicing=SlicingConfig(mode=SlicingMode.OFF)),
        CountingConfig(
            imgsz=640,
            confidence=0.1,
            slicing=SlicingConfig(mode=SlicingMode.GRID, rows=2, cols=2, imgsz=320, confidence=0.1),
        ),
    ],
    ids=["whole-frame", "sliced"],
)
def test_onnx_runtime_matches_ultralytics(onnx_model: Path, settings: CountingConfig) -> None:
    pt = PersonDetector(onnx_model.with_suffix(".pt"), settings)
    onnx = PersonDetector(onnx_model, settings)
    boxes, unmatched = _compare(pt, onnx)
    assert boxes >= 10  # the frames do hold people
    assert unmatched <= MAX_UNMATCHED_SHARE * boxes, f"{unmatched} of {boxes} boxes unmatched"


@pytest.mark.parametrize(
    "settings",
    [
        CountingConfig(imgsz=640, confidence=0.25, slicing=SlicingConfig(mode=SlicingMode.OFF)),
        CountingConfig(
            imgsz=640,
            confidence=0.1,
            slicing=SlicingConfig(mode=SlicingMode.GRID, rows=2, cols=2, imgsz=640, confidence=0.1),
        ),
    ],
    ids=["whole-frame", "sliced"],
)
def test_ncnn_matches_ultralytics(ncnn_model: Path, settings: CountingConfig) -> None:
    # The .pt letterboxed to the square input NCNN's export has; NCNN on one thread: beside
    # torch it runs on torch's spinning OpenMP (slow on a shared box).
    pt = PersonDetector(DEFAULT_MODEL, settings, backend=UltralyticsBackend(DEFAULT_MODEL, rect=False))
    ncnn = PersonDetector(ncnn_model, settings, backend=NcnnBackend(ncnn_model, threads=1))
    boxes, unmatched = _compare(pt, ncnn)
    assert boxes >= 10
    assert unmatched <= MAX_UNMATCHED_SHARE * boxes, f"{unmatched} of {boxes} boxes unmatched"
