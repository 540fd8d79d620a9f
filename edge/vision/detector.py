"""Person detection with a YOLO model: the boxes, the NMS, and the counting detector.

The detector loads a model *by file path* and runs it on a backend chosen from the file
(:mod:`edge.vision.backends`: ONNX Runtime for ``.onnx`` and NCNN for an NCNN export folder,
both without torch; ultralytics for ``.pt``, TensorRT engines and OpenVINO folders). It keeps
only the classes that count as a person, and merges all classes with class-agnostic NMS (the
bundled model has two person classes, "Normal" and "Fall", that may both fire on one person).

:class:`PersonDetector` is the one counting path: the vision daemon and ``lobbywatch eval
counts`` both build it from a camera's ``counting`` settings (:func:`build_detector`). Each
frame it runs the full frame, plus the slices that the planner (:mod:`edge.vision.slicing`)
asks for where the learned scale (:mod:`edge.vision.scale`) says people are too small, and
merges the views. See docs/vision.md ("Counting").
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge.vision.scale import ScaleModel
from lobbywatch.config.counting import CountingConfig

if TYPE_CHECKING:
    from edge.vision.backends import DetectorBackend
    from edge.vision.zones import Polygon
    from lobbywatch.config.site import CameraConfig

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
    """Boxes of one frame: ``xyxy`` (N, 4) pixels, ``conf`` (N,), ``cls`` (N,).

    ``keypoints`` (N, K, 3): each box's keypoints from a pose model (x, y in pixels,
    visibility), None from any other model; carried along with the boxes, not counted.
    """

    xyxy: FloatArray
    conf: FloatArray
    cls: FloatArray
    keypoints: FloatArray | None = None

    @classmethod
    def empty(cls) -> Detections:
        z = np.zeros((0,), np.float32)
        return cls(np.zeros((0, 4), np.float32), z, z.copy())

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """All parts' boxes in one. Keypoints when a part with boxes has them: a part without
        gets keypoints none of which was seen (visibility 0, e.g. a detector's boxes beside a
        pose model's); None when no part has them, or the parts' keypoints differ in shape."""
        shapes = {p.keypoints.shape[1:] for p in parts if p.keypoints is not None and len(p)}
        kpts = None
        if len(shapes) == 1:
            k = shapes.pop()
            kpts = np.concatenate(
                [
                    p.keypoints if p.keypoints is not None else np.zeros((len(p), *k), np.float32)
                    for p in parts
                ]
            ).astype(np.float32)
        return cls(
            np.concatenate([p.xyxy for p in parts]).reshape(-1, 4).astype(np.float32),
            np.concatenate([p.conf for p in parts]).astype(np.float32),
            np.concatenate([p.cls for p in parts]).astype(np.float32),
            kpts,
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Detections:
        kpts = None if self.keypoints is None else self.keypoints[mask]
        return Detections(self.xyxy[mask], self.conf[mask], self.cls[mask], kpts)

    def moved(self, dx: float, dy: float) -> Detections:
        """The same boxes (and keypoints) ``dx``, ``dy`` pixels further right and down."""
        kpts = None
        if self.keypoints is not None:
            kpts = self.keypoints.copy()
            kpts[..., 0] += dx
            kpts[..., 1] += dy
        return Detections(self.xyxy + np.asarray([dx, dy, dx, dy], np.float32), self.conf, self.cls, kpts)


def nms(
    xyxy: FloatArray,
    conf: FloatArray,
    iou: float,
    containment: float | None = None,
    views: npt.NDArray[np.intp] | None = None,
    parts: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.intp]:
    """Indices kept by greedy non-maximum suppression (class-agnostic), best first.

    With ``containment``, a box is also suppressed when that share of the smaller box lies
    inside a better one (a tile-cut half person inside a full-frame box has a low IoU); with
    ``views`` (the pass each box came from), only by a better box of another pass, or when
    one of the two is a part (``parts``: shorter than a person at its row): within one pass
    the model saw both whole, and a person-sized box inside another is a person in front of
    or behind them.
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
            if views is None:
                keep_mask &= iomin <= containment
            else:
                whole = ~(parts[rest] | parts[i]) if parts is not None else True
                keep_mask &= (iomin <= containment) | ((views[rest] == views[i]) & whole)
        order = rest[keep_mask]
    return np.asarray(keep, np.intp)


class PersonDetector:
    """The counting detector. ``detect(frame)`` returns the frame's people as :class:`Detections`.

    ``settings`` are a camera's ``counting`` block (defaults: scale-adaptive slicing);
    ``roi`` bounds where people are counted, so nothing outside it is sliced. ``passes`` and
    ``frames`` count detector passes (full frame and slices) and frames since start.
    Raises :class:`ModelMissingError` when the file is not there,
    :class:`edge.vision.backends.BackendMissingError` when its runtime is not installed and
    :class:`edge.vision.backends.UnsupportedModelError` when it gives no person boxes.
    """

    def __init__(
        self,
        model: Path | str | None = None,
        settings: CountingConfig | None = None,
        *,
        roi: Polygon | None = None,
        device: str = "cpu",
        backend: DetectorBackend | None = None,
        near_backend: DetectorBackend | None = None,
    ) -> None:
        from edge.vision.backends import load_backend
        from edge.vision.near_model import load_near_model

        self.settings = settings or CountingConfig()
        path = None
        if backend is None:  # the model file's backend (``backend``: tests inject a stand-in)
            path = resolve_model_path(model)
            backend = load_backend(path, device=device)
            log.info("detector: %s backend, model %s", backend.name, path)
        self.backend: DetectorBackend = backend
        # The near model's file (``counting.near_model``; None when injected or not run).
        self.near_model: Path | None = None
        if near_backend is None and (near := load_near_model(self.settings.near_model, path, device=device)):
            self.near_model, near_backend = near
        self.near_backend: DetectorBackend | None = near_backend
        self.scale = ScaleModel(self.settings.scale)
        self.region: tuple[int, int, int, int] | None = None
        if roi:
            xs, ys = [p[0] for p in roi], [p[1] for p in roi]
            self.region = (int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1)
        self.passes = 0
        self.near_passes = 0  # of ``passes``, the near model's
        self.frames = 0

    def _predict(self, images: list[Frame], imgsz: int, conf: float) -> list[Detections]:
        # Each view's own NMS is only a pre-filter (at ultralytics' default IoU); the merge
        # decides once every view's boxes are in (edge.vision.slicing.merge_views).
        self.passes += len(images)
        return self.backend.predict(
            images,
            imgsz=imgsz,
            conf=conf,
            iou=max(self.settings.merge.iou, VIEW_NMS_IOU),
            classes=self.settings.person_classes,
        )

    def _full_frame(self, frame: Frame) -> Detections:
        full = self._predict([frame], self.settings.imgsz, self.settings.confidence)[0]
        self.scale.observe(full.xyxy, full.conf, frame.shape[0])
        return full

    def learn(self, frame: Frame) -> None:
        """Run the full frame only, to teach the scale model (stills have no warm-up)."""
        self._full_frame(frame)

    def end_learning(self) -> None:
        """The learning pass over a set of stills is over: fit the scale on what it saw."""
        self.scale.settle()

    def _near_rows(self, frame: Frame, full: Detections) -> Detections:
        """With a ``near_model``: its boxes (at ``near_confidence``) in the rows where the learned
        person height at the full-frame input is at least ``slicing.min_person_px`` (the rows
        not sliced), the camera model's elsewhere; one more pass, none when no row is that near.
        Without one, or before the scale is learned: ``full`` as it is."""
        if self.near_backend is None or not self.scale.ready:
            return full
        s = self.settings
        gain = s.imgsz / max(frame.shape[:2])

        def large(bottoms: npt.ArrayLike) -> npt.NDArray[np.bool_]:
            return np.asarray(gain * self.scale.height_at(bottoms) >= s.slicing.min_person_px)

        if not large(frame.shape[0]).any():  # the bottom row is the nearest (the scale never shrinks down)
            return full
        self.passes += 1
        self.near_passes += 1
        near = self.near_backend.predict(
            [frame], imgsz=s.imgsz, conf=s.near_confidence, iou=max(s.merge.iou, VIEW_NMS_IOU), classes=[0]
        )[0]
        return Detections.concat([full.select(~large(full.xyxy[:, 3])), near.select(large(near.xyxy[:, 3]))])

    def _slice_threshold(self, crop: Frame) -> float:
        """The threshold of one slice: ``slicing.confidence``, lowered in proportion where the
        slice magnifies the picture more than ``slicing.sharp_zoom`` (a blurrier person scores
        lower; docs/vision.md, "Counting")."""
        s = self.settings.slicing
        zoom = s.imgsz / max(crop.shape[:2])
        return float(s.confidence * min(1.0, s.sharp_zoom / zoom))

    def detect(self, frame: Frame) -> Detections:
        """The people in one BGR frame: the full frame and the planned slices, merged."""
        from edge.vision.slicing import merge_views, plan_slices

        h, w = frame.shape[:2]
        full = self._near_rows(frame, self._full_frame(frame))  # first: it teaches the scale
        plan = plan_slices(w, h, self.settings, self.scale, self.region)
        self.frames += 1
        if not plan.windows:  # the merge still decides (the pass's own NMS is a loose pre-filter)
            return merge_views(full, Detections.empty(), plan, self.settings, self.scale)
        crops = [np.ascontiguousarray(frame[y0:y1, x0:x1]) for x0, y0, x1, y1 in plan.windows]
        thresholds = [self._slice_threshold(c) for c in crops]
        found = self._predict(crops, self.settings.slicing.imgsz, min(thresholds))
        sliced = [d.select(d.conf >= t) for d, t in zip(found, thresholds, strict=True)]
        slices = Detections.concat(
            [d.moved(x0, y0) for (x0, y0, _x1, _y1), d in zip(plan.windows, sliced, strict=True)]
        )
        views = np.concatenate([np.full(len(d), i, np.intp) for i, d in enumerate(sliced)])
        return merge_views(full, slices, plan, self.settings, self.scale, views)


def build_detector(camera: CameraConfig) -> PersonDetector:
    """The detector a camera runs: its model, its ``counting`` settings, its ROI."""
    return PersonDetector(camera.model, camera.counting, roi=camera.roi)
