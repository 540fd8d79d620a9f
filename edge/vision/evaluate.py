"""Counting accuracy: detect people in still images and compare with true counts.

``counts.csv`` has the header ``image,persons``; an optional ``roi.json`` holds
``{"roi_polygon": [[x, y], ...]}`` in pixels, and only people whose anchor point (the
bottom-centre of their box) lies inside it are counted.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from edge.vision.detector import Detections, Frame
from edge.vision.zones import Polygon, anchors_of, points_in_polygon


class EvalInputError(ValueError):
    """A truth file, ROI file or image that cannot be used; the message says which and why."""


def read_truth(path: Path) -> list[tuple[str, int]]:
    """``image,persons`` rows of ``counts.csv``."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"image", "persons"} <= set(reader.fieldnames):
                raise EvalInputError(f"{path}: header must be 'image,persons', got {reader.fieldnames}")
            rows: list[tuple[str, int]] = []
            for lineno, row in enumerate(reader, start=2):
                try:
                    n = int(row["persons"])
                except (TypeError, ValueError):
                    raise EvalInputError(
                        f"{path}:{lineno}: persons must be a whole number, got {row['persons']!r}"
                    ) from None
                if n < 0:
                    raise EvalInputError(f"{path}:{lineno}: persons cannot be negative")
                rows.append((row["image"], n))
    except OSError as exc:
        raise EvalInputError(f"{path}: cannot read ({exc.strerror})") from None
    if not rows:
        raise EvalInputError(f"{path}: no rows")
    return rows


def read_roi(path: Path) -> Polygon:
    """The ``roi_polygon`` of a ``roi.json`` file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalInputError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise EvalInputError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    pts = data.get("roi_polygon") if isinstance(data, dict) else None
    if not isinstance(pts, list) or len(pts) < 3:
        raise EvalInputError(f"{path}: roi_polygon must be a list of at least 3 [x, y] points")
    try:
        return [(float(x), float(y)) for x, y in pts]
    except (TypeError, ValueError):
        raise EvalInputError(f"{path}: roi_polygon points must be [x, y] number pairs") from None


def count_in_roi(det: Detections, roi: Polygon | None, frame_size: tuple[int, int] | None = None) -> int:
    """People whose anchor point lies inside ``roi`` (all of them without a ROI).

    ``frame_size`` (width, height) clamps anchors of boxes cut by the frame's bottom edge
    into the frame (:func:`edge.vision.zones.anchors_of`).
    """
    if roi is None:
        return len(det)
    return int(points_in_polygon(anchors_of(det.xyxy, frame_size), roi).sum())


@dataclass(frozen=True, slots=True)
class EvalSummary:
    images: int
    mae: float
    rmse: float
    bias: float
    seconds_per_image: float

    def as_json(self) -> str:
        return json.dumps(
            {
                "images": self.images,
                "mae": round(self.mae, 3),
                "rmse": round(self.rmse, 3),
                "bias": round(self.bias, 3),
                "seconds_per_image": round(self.seconds_per_image, 3),
            }
        )


def _progress(done: int, total: int, stream: TextIO) -> None:
    width = 30
    filled = width * done // max(total, 1)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        stream.write("\n")
    stream.flush()


def evaluate_counts(
    images: Path,
    truth: Iterable[tuple[str, int]],
    detect: Callable[[Frame], Detections | Sequence[Detections]],
    *,
    roi: Polygon | None = None,
    out: Path | None = None,
    progress: TextIO | None = sys.stderr,
) -> EvalSummary:
    """Run ``detect`` on every image of ``truth``; per-image rows go to ``out`` (CSV).

    ``detect`` returns the frame's boxes, or several readings of the frame (e.g. as seen
    and mirrored: :meth:`edge.vision.detector.PersonDetector.detect_orientations`); the
    count is then the mean of their counts.
    """
    import cv2

    rows = list(truth)
    errors: list[float] = []
    per_image: list[tuple[str, int, float]] = []
    started = time.perf_counter()
    for i, (name, true_n) in enumerate(rows, start=1):
        path = images / name
        frame = cv2.imread(str(path))
        if frame is None:
            raise EvalInputError(f"{path}: missing or not an image")
        found = detect(np.asarray(frame, np.uint8))
        readings = [found] if isinstance(found, Detections) else list(found)
        size = (frame.shape[1], frame.shape[0])
        predicted = sum(count_in_roi(d, roi, size) for d in readings) / max(len(readings), 1)
        errors.append(predicted - true_n)
        per_image.append((name, true_n, predicted))
        if progress is not None:
            _progress(i, len(rows), progress)
    elapsed = time.perf_counter() - started
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "persons", "predicted", "error"])
            for name, t, p in per_image:
                w.writerow([name, t, f"{p:g}", f"{p - t:g}"])
    err = np.asarray(errors, np.float64)
    return EvalSummary(
        images=len(rows),
        mae=float(np.abs(err).mean()),
        rmse=float(math.sqrt(float((err**2).mean()))),
        bias=float(err.mean()),
        seconds_per_image=elapsed / max(len(rows), 1),
    )
