"""Person detection with a YOLO model, with optional sliced (tiled) inference.

The detector loads a model *by file path* and runs it on a backend chosen from the file
(:mod:`edge.vision.backends`: ONNX Runtime for ``.onnx``, without torch; ultralytics for
``.pt``, TensorRT engines, OpenVINO and NCNN folders). It keeps only the classes that count
as a person, and merges all classes with class-agnostic NMS (the bundled model has two person
classes, "Normal" and "Fall", that may both fire on one person).

Tiling splits the frame into ``rows x cols`` overlapping tiles, runs the model on each tile
(at the same input size, so small distant people are magnified) and, optionally, on the
whole frame (for people near the camera, who are cut by tile borders); all boxes are then
merged with NMS plus containment suppression (a tile-cut part of a person inside the whole
person's box). Each view's own NMS is only a loose pre-filter, so that suppression is decided
with every view's boxes in. With ``tiling.flip`` the mirrored frame is read the same way:
:meth:`PersonDetector.detect_orientations` returns both readings (still-image counting
averages their counts), :meth:`PersonDetector.detect` merges them (tracking needs one set).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lobbywatch.config.site import TilingConfig

if TYPE_CHECKING:
    from edge.vision.backends import DetectorBackend

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO_ROOT / "models" / "person-yolov8s.pt"
MODEL_ENV = "LOBBYWATCH_MODEL"
VIEW_NMS_IOU = 0.7  # per-view NMS of tiled detection (ultralytics' default); see _views()

FloatArray = npt.NDArray[np.float32]
Frame = npt.NDArray[np.uint8]


class ModelMissingError(FileNotFoundError):
    """The detector weights are not where they should be."""


def prepare_ultralytics_env() -> None:
    """Keep ultralytics offline and its settings inside the project (call before importing it)."""
    if "YOLO_CONFIG_DIR" not in os.environ:
        # Only then: an installed package may sit on a read-only file system (systemd units set it).
        config_dir = REPO_ROOT / ".cache" / "ultralytics"
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "False")


def resolve_model_path(model: Path | str | None = None) -> Path:
    """The weights to load: ``model``, else ``$LOBBYWATCH_MODEL``, else the bundled detector.

    Raises :class:`ModelMissingError` with what to do when the file does not exist.
    """
    if model is not None:
        path = Path(model)
    elif os.environ.get(MODEL_ENV):
        path = Path(os.environ[MODEL_ENV])
    else:
        path = DEFAULT_MODEL
    if not path.exists():
        hint = (
            "run scripts/setup.sh to fetch the bundled person detector"
            if path == DEFAULT_MODEL
            else "check the path (models are loaded by file path only, never downloaded)"
        )
        raise ModelMissingError(f"detector model not found: {path} — {hint}")
    return path


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes of one frame: ``xyxy`` (N, 4) pixels, ``conf`` (N,), ``cls`` (N,)."""

    xyxy: FloatArray
    conf: FloatArray
    cls: FloatArray

    @classmethod
    def empty(cls) -> Detections:
        z = np.zeros((0,), np.float32)
        return cls(np.zeros((0, 4), np.float32), z, z.copy())

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Detections:
        return Detections(self.xyxy[mask], self.conf[mask], self.cls[mask])


def nms(
    xyxy: FloatArray, conf: FloatArray, iou: float, containment: float | None = None
) -> npt.NDArray[np.intp]:
    """Indices kept by greedy non-maximum suppression (class-agnostic), best first.

    With ``containment``, a box is also suppressed when that share of the smaller box lies
    inside a better one (a tile-cut half person inside a full-frame box has a low IoU).
    """
    if len(xyxy) == 0:
        return np.zeros((0,), np.intp)
    x1, y1, x2, y2 = xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = np.argsort(-conf, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        iou_v = inter / np.maximum(union, 1e-6)
        keep_mask = iou_v <= iou
        if containment is not None:
            iomin = inter / np.maximum(np.minimum(areas[i], areas[rest]), 1e-6)
            keep_mask &= iomin <= containment
        order = rest[keep_mask]
    return np.asarray(keep, np.intp)


def tile_windows(width: int, height: int, tiling: TilingConfig) -> list[tuple[int, int, int, int]]:
    """Tile rectangles ``(x0, y0, x1, y1)`` covering the frame with the configured overlap."""
    out: list[tuple[int, int, int, int]] = []
    tw = width / (tiling.cols - (tiling.cols - 1) * tiling.overlap)
    th = height / (tiling.rows - (tiling.rows - 1) * tiling.overlap)
    for r in range(tiling.rows):
        for c in range(tiling.cols):
            x0 = round(c * tw * (1 - tiling.overlap))
            y0 = round(r * th * (1 - tiling.overlap))
            out.append((x0, y0, min(width, round(x0 + tw)), min(height, round(y0 + th))))
    return out


class PersonDetector:
    """YOLO person detector. ``detect(frame)`` returns merged :class:`Detections`.

    Raises :class:`ModelMissingError` when the file is not there and
    :class:`edge.vision.backends.BackendMissingError` when its runtime is not installed.
    """

    def __init__(
        self,
        model: Path | str | None = None,
        *,
        imgsz: int = 960,
        conf: float = 0.25,
        iou: float = 0.5,
        person_classes: list[int] | None = None,
        tiling: TilingConfig | None = None,
        device: str = "cpu",
    ) -> None:
        from edge.vision.backends import load_backend

        self.model_path = resolve_model_path(model)
        self.backend: DetectorBackend = load_backend(self.model_path, device=device)
        log.info("detector: %s backend, model %s", self.backend.name, self.model_path)
        self.imgsz = imgsz
        self.tile_imgsz = (tiling.tile_imgsz if tiling else None) or imgsz
        self.conf = conf
        self.iou = iou
        self.person_classes = person_classes
        self.tiling = tiling
        # containment 1.0 means off (tiling.containment's documented meaning)
        self.containment = tiling.containment if tiling and tiling.containment < 1.0 else None

    def _predict(self, images: list[Frame], imgsz: int, iou: float | None = None) -> list[Detections]:
        return self.backend.predict(
            images,
            imgsz=imgsz,
            conf=self.conf,
            iou=self.iou if iou is None else iou,
            classes=self.person_classes,
        )

    def _views(self, frame: Frame) -> list[Detections]:
        """Boxes of every view of one frame (whole frame and tiles), in frame pixels."""
        assert self.tiling is not None
        h, w = frame.shape[:2]
        windows = tile_windows(w, h, self.tiling)
        parts: list[Detections] = []
        # Each view's own NMS is only a pre-filter (at ultralytics' default IoU); the configured
        # IoU and containment decide once every view's boxes are in (:meth:`_merge`).
        view_iou = max(self.iou, VIEW_NMS_IOU)
        if self.tiling.full_frame:
            parts += self._predict([frame], self.imgsz, view_iou)
        crops = [np.ascontiguousarray(frame[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
        tiles = self._predict(crops, self.tile_imgsz, view_iou)
        for (x0, y0, _x1, _y1), det in zip(windows, tiles, strict=True):
            shifted = det.xyxy + np.asarray([x0, y0, x0, y0], np.float32)
            parts.append(Detections(shifted, det.conf, det.cls))
        return parts

    def detect_orientations(self, frame: Frame) -> list[Detections]:
        """Merged boxes of the frame as seen and, with ``tiling.flip``, of its mirror image.

        Each entry is one complete reading of the frame, in frame pixels. Counting on stills
        averages their counts (:func:`edge.vision.evaluate.evaluate_counts`); :meth:`detect`
        merges them into one set of boxes for tracking.
        """
        if self.tiling is None:
            return self._predict([frame], self.imgsz)
        readings = [self._merge(self._views(frame))]
        if self.tiling.flip:
            w = frame.shape[1]
            mirrored: list[Detections] = []
            for det in self._views(np.ascontiguousarray(frame[:, ::-1])):
                x1, y1, x2, y2 = det.xyxy.T
                unflipped = np.stack([w - x2, y1, w - x1, y2], axis=1).astype(np.float32)
                mirrored.append(Detections(unflipped, det.conf, det.cls))
            readings.append(self._merge(mirrored))
        return readings

    def detect(self, frame: Frame) -> Detections:
        """Detect people in one BGR frame (full frame, tiles, mirrored views: merged by NMS)."""
        readings = self.detect_orientations(frame)
        return readings[0] if len(readings) == 1 else self._merge(readings)

    def _merge(self, parts: list[Detections]) -> Detections:
        merged = Detections(
            np.concatenate([p.xyxy for p in parts]).reshape(-1, 4).astype(np.float32),
            np.concatenate([p.conf for p in parts]).astype(np.float32),
            np.concatenate([p.cls for p in parts]).astype(np.float32),
        )
        return merged.select(nms(merged.xyxy, merged.conf, self.iou, self.containment))
