"""Counting accuracy: detect people in still images and compare with true counts.

The counter is the daemon's own detector (:func:`edge.vision.detector.build_detector`), so
the figures are what a camera with those settings does; the result carries their cost
(detector passes and milliseconds per frame). ``counts.csv`` has the header
``image,persons``; an optional ``roi.json`` holds ``{"roi_polygon": [[x, y], ...]}`` in
pixels, and only people whose anchor point lies inside it are counted: the point of the
person the truth was counted at (:class:`Anchor`: the feet, as an installer counts and the
daemon's ROI tests, or the head, as head-annotated datasets such as Mall are counted). For
consecutive frames (``sequence``: an ordered folder, or a video file whose frames the truth
rows number), the result adds the error of the published occupancy: the per-frame counts
passed through the daemon's own smoother (:class:`edge.vision.dwell.OccupancySmoother`),
which is what reaches staff. See docs/vision.md ("Counting").
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np
import numpy.typing as npt

from edge.vision.detector import Detections, Frame
from edge.vision.dwell import OccupancySmoother
from edge.vision.zones import Polygon, anchors_of, points_in_polygon

LEARN_IMAGES = 60  # stills read once to learn the person scale before counting
HEAD_DEPTH = 0.07  # a box's head point lies this share of its height below its top (head centre)
COCO_KEYPOINTS = 17  # a pose model's keypoints (COCO order: nose, eyes, ears first)
HEAD_KEYPOINTS = 5  # ... of which the first five are on the head
KEYPOINT_SEEN = 0.5  # a keypoint counts as seen at this visibility score or more


class Anchor(StrEnum):
    """The point of a person tested against the ROI: the one the truth was counted at."""

    FEET = "feet"  # bottom-centre of the box: the daemon's ROI and zones, an installer's count
    HEAD = "head"  # head centre estimated from the box: head-annotated truth (Mall's heads.json)


class EvalInputError(ValueError):
    """A truth file, ROI file or image that cannot be used; the message says which and why."""


def read_truth(path: Path) -> list[tuple[str, int]]:
    """``image,persons`` rows of ``counts.csv`` (``frame,persons`` for a video: frame numbers)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or ())
            key = "image" if "image" in fields else "frame"
            if not {key, "persons"} <= fields:
                raise EvalInputError(
                    f"{path}: header must be 'image,persons' (or 'frame,persons'), got {reader.fieldnames}"
                )
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
                rows.append((row[key], n))
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


def head_points(
    xyxy: npt.NDArray[np.float32], keypoints: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float64]:
    """Head centres (N, 2) of person boxes (N, 4).

    A pose model's head keypoints (COCO's first five: nose, eyes, ears) where it saw at least
    one of them (visibility ``KEYPOINT_SEEN``): their mean; otherwise the box's top-centre,
    ``HEAD_DEPTH`` of its height down (an estimate: a box of a person cut by something in
    front still has its head at the top).
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    y = boxes[:, 1] + HEAD_DEPTH * (boxes[:, 3] - boxes[:, 1])
    points = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, y], axis=1)
    if keypoints is not None and keypoints.shape[1:] == (COCO_KEYPOINTS, 3):
        head = np.asarray(keypoints[:, :HEAD_KEYPOINTS], np.float64)
        seen = head[:, :, 2] >= KEYPOINT_SEEN
        n = seen.sum(axis=1)
        mean = (head[:, :, :2] * seen[:, :, None]).sum(axis=1) / np.maximum(n, 1)[:, None]
        points[n > 0] = mean[n > 0]
    return points


def count_in_roi(
    det: Detections,
    roi: Polygon | None,
    frame_size: tuple[int, int] | None = None,
    anchor: Anchor = Anchor.FEET,
) -> int:
    """People whose ``anchor`` point lies inside ``roi`` (all of them without a ROI).

    ``frame_size`` (width, height) clamps feet of boxes cut by the frame's bottom edge into
    the frame (:func:`edge.vision.zones.anchors_of`).
    """
    if roi is None:
        return len(det)
    if anchor == Anchor.HEAD:
        points = head_points(det.xyxy, det.keypoints)
    else:
        points = anchors_of(det.xyxy, frame_size)
    return int(points_in_polygon(points, roi).sum())


@dataclass(frozen=True, slots=True)
class EvalSummary:
    images: int
    mae: float
    rmse: float
    bias: float
    mean_true: float
    passes_per_frame: float
    ms_per_frame: float
    scale_learned_from: int  # images read once before counting to learn the scale (0: none)
    published: tuple[float, float] | None = None  # sequence: (MAE, bias) of the published occupancy

    @property
    def relative_error(self) -> float:
        """MAE divided by the mean true count."""
        return self.mae / self.mean_true if self.mean_true > 0 else math.inf

    def as_dict(self) -> dict[str, float | int]:
        published: dict[str, float] = {}
        if self.published is not None:
            published = {
                "published_mae": round(self.published[0], 3),
                "published_bias": round(self.published[1], 3),
            }
        return {
            "images": self.images,
            "mae": round(self.mae, 3),
            "rmse": round(self.rmse, 3),
            "bias": round(self.bias, 3),
            "mean_true": round(self.mean_true, 3),
            "relative_error": round(self.relative_error, 4),
            "passes_per_frame": round(self.passes_per_frame, 2),
            "ms_per_frame": round(self.ms_per_frame, 1),
            "scale_learned_from": self.scale_learned_from,
            **published,
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict())


class Counter(Protocol):
    """What :func:`evaluate_counts` runs: :class:`edge.vision.detector.PersonDetector`."""

    passes: int

    def learn(self, frame: Frame) -> None: ...

    def end_learning(self) -> None: ...

    def detect(self, frame: Frame) -> Detections: ...


def _progress(done: int, total: int, stream: TextIO) -> None:
    width = 30
    filled = width * done // max(total, 1)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        stream.write("\n")
    stream.flush()


def read_image(path: Path) -> Frame:
    """A still as a BGR frame; :class:`EvalInputError` naming the file when it cannot be read
    (``eval counts`` and ``edge calibrate`` read their snapshots through it)."""
    import cv2

    frame = cv2.imread(str(path))
    if frame is None:
        raise EvalInputError(f"{path}: missing or not an image")
    return np.asarray(frame, np.uint8)


def read_frames(source: Path, names: list[str]) -> Iterator[Frame]:
    """The frames ``names`` of ``source``, in order: files of a folder, or frame numbers
    (0 = the first) of a video file, which must be increasing."""
    if source.is_dir():
        for name in names:
            yield read_image(source / name)
        return
    import cv2

    try:
        wanted = [int(n) for n in names]
    except ValueError:
        raise EvalInputError(f"{source}: a video's truth rows must be frame numbers") from None
    if any(b <= a for a, b in itertools.pairwise(wanted)) or (wanted and wanted[0] < 0):
        raise EvalInputError(f"{source}: a video's frame numbers must be increasing and >= 0")
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise EvalInputError(f"{source}: missing, or neither a folder nor a readable video")
    try:
        index = -1
        for target in wanted:
            frame = None
            while index < target:
                ok, frame = cap.read()
                index += 1
                if not ok:
                    raise EvalInputError(f"{source}: the video ends before frame {target}")
            yield np.asarray(frame, np.uint8)
    finally:
        cap.release()


def evaluate_counts(
    images: Path,
    truth: Iterable[tuple[str, int]],
    counter: Counter,
    *,
    roi: Polygon | None = None,
    out: Path | None = None,
    learn_from: int = LEARN_IMAGES,
    progress: TextIO | None = None,
    sequence: bool = False,
    anchor: Anchor = Anchor.FEET,
) -> EvalSummary:
    """Count the people of every image of ``truth``; per-image rows go to ``out`` (CSV).

    ``images`` is a folder of stills, or a video file whose frames the rows number
    (:func:`read_frames`); a person counts when their ``anchor`` point lies in ``roi``.

    Stills have no warm-up, so the counter first reads up to ``learn_from`` of the images,
    spread over the set (:meth:`~edge.vision.detector.PersonDetector.learn`: the full frame
    only), to learn the person scale, as the daemon does in its first minutes, and fits it on
    what it saw (:meth:`~edge.vision.detector.PersonDetector.end_learning`); only the counting pass
    is timed. With ``sequence`` the rows are consecutive frames in order and
    the result adds the error of the published (smoothed) occupancy.
    """
    rows = list(truth)
    learning = rows[:: max(1, math.ceil(len(rows) / learn_from))] if learn_from > 0 else []
    for frame in read_frames(images, [name for name, _n in learning]):
        counter.learn(frame)
    if learning:
        counter.end_learning()
    errors: list[float] = []
    per_image: list[tuple[str, int, int]] = []
    passes_before = counter.passes
    elapsed = 0.0
    frames = read_frames(images, [name for name, _n in rows])
    for i, ((name, true_n), frame) in enumerate(zip(rows, frames, strict=True), start=1):
        started = time.perf_counter()
        found = counter.detect(frame)
        elapsed += time.perf_counter() - started
        predicted = count_in_roi(found, roi, (frame.shape[1], frame.shape[0]), anchor)
        errors.append(predicted - true_n)
        per_image.append((name, true_n, predicted))
        if progress is not None:
            _progress(i, len(rows), progress)
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "persons", "predicted", "error"])
            for name, t, p in per_image:
                w.writerow([name, t, p, p - t])
    err = np.asarray(errors, np.float64)
    n = max(len(rows), 1)
    return EvalSummary(
        images=len(rows),
        mae=float(np.abs(err).mean()),
        rmse=float(math.sqrt(float((err**2).mean()))),
        bias=float(err.mean()),
        mean_true=float(np.mean([t for _, t in rows])),
        passes_per_frame=(counter.passes - passes_before) / n,
        ms_per_frame=elapsed * 1000 / n,
        scale_learned_from=len(learning),
        published=_published_error(per_image) if sequence else None,
    )


def _published_error(per_image: list[tuple[str, int, int]]) -> tuple[float, float]:
    """(MAE, bias) of the occupancy the daemon would publish for these consecutive counts."""
    smoother = OccupancySmoother()
    err = np.asarray([smoother.update(p) - t for _name, t, p in per_image], np.float64)
    return float(np.abs(err).mean()), float(err.mean())
