"""Synthetic people for the counting tests: a perspective scene and a stand-in model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.vision.detector import Detections, Frame

# A ground-plane camera: a person whose feet are at row y is A + B * y pixels tall.
A, B = 10.0, 0.25


def person_height(y: float) -> float:
    return A + B * y


def person_heights(ys: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    return np.asarray(A + B * ys, np.float64)


def dets(boxes: list[list[float]], conf: float = 0.9) -> Detections:
    a = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(a, np.full(len(a), conf, np.float32), np.zeros(len(a), np.float32))


class WhiteBlobModel:
    """A stand-in backend: one box per white blob taller than ``min_px`` at the input scale.

    Like a real detector it misses people that are small at its input, so slices find the
    distant people the full frame misses. Counts its calls' images in ``images``.
    """

    name = "white-blobs"

    def __init__(self, min_px: float = 40.0) -> None:
        self.min_px = min_px
        self.images = 0

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        import cv2

        out: list[Detections] = []
        for img in images:
            self.images += 1
            gain = imgsz / max(img.shape[:2])
            n, _labels, stats, _c = cv2.connectedComponentsWithStats((img[:, :, 0] > 127).astype(np.uint8))
            boxes = [
                [float(x), float(y), float(x + w), float(y + h)]
                for x, y, w, h, _area in stats[1:n].tolist()
                if h * gain >= self.min_px
            ]
            out.append(dets(boxes))
        return out


class SplittingNearModel(WhiteBlobModel):
    """A stand-in second model: it sees the near people as two each (a close group the camera
    model merges), and a spurious small box far away (where it must have no say)."""

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        out = []
        for found in super().predict(images, imgsz=imgsz, conf=conf, iou=iou, classes=classes):
            boxes = [[10.0, 35.0, 18.0, 60.0]]  # far: a row the camera model owns
            for x0, y0, x1, y1 in found.xyxy.tolist():
                mid = (x0 + x1) / 2
                boxes += [[x0, y0, mid, y1], [mid, y0, x1, y1]] if y1 > 350 else [[x0, y0, x1, y1]]
            out.append(dets(boxes))
        return out


class GroupNearModel(WhiteBlobModel):
    """A stand-in near model: each person it finds below row 200 has someone half hidden
    behind them, scored ``hidden_score``; like a real model it returns no box below the
    threshold it is asked for (``thresholds`` records them)."""

    def __init__(self, hidden_score: float) -> None:
        super().__init__(min_px=0)
        self.hidden_score = hidden_score
        self.thresholds: list[float] = []

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        self.thresholds.append(conf)
        out = []
        for found in super().predict(images, imgsz=imgsz, conf=conf, iou=iou, classes=classes):
            boxes, scores = [], []
            for x0, y0, x1, y1 in found.xyxy.tolist():
                boxes.append([x0, y0, x1, y1])
                scores.append(0.9)
                if y1 > 200:
                    w = x1 - x0
                    boxes.append([x0 + 0.8 * w, y0 - 4, x1 + 0.8 * w, y1 - 4])  # behind, to the right
                    scores.append(self.hidden_score)
            a = np.asarray(boxes, np.float32).reshape(-1, 4)
            c = np.asarray(scores, np.float32)
            keep = c >= conf
            out.append(Detections(a[keep], c[keep], np.zeros(int(keep.sum()), np.float32)))
        return out


def perspective_frame(
    width: int = 640, height: int = 480, rows: tuple[int, ...] = (60, 140, 260, 400)
) -> Frame:
    """White upright "people" (width = height / 3) with feet on the given rows, 3 per row."""
    frame = np.zeros((height, width, 3), np.uint8)
    for y in rows:
        h = person_height(y)
        w = max(2, round(h / 3))
        for x in (width // 6, width // 2, 5 * width // 6):
            frame[round(y - h) : y, x : x + w] = 255
    return frame


def write_video(path: Path, frames: list[Frame], fps: float = 5.0) -> None:
    """An MJPG video of ``frames`` (all of one size) at ``path``."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
