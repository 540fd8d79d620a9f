"""Where to slice a frame, and how the slices' boxes merge with the full frame's.

:func:`plan_slices` returns the slices (frame rectangles run magnified at the slice input)
and the band of rows whose people the slices own. Adaptive planning slices only the rows
where the scale model expects people smaller than ``min_person_px`` at the full-frame
input, with slices sized so the smallest person in each row of slices reaches
``target_person_px``; the full frame owns every other row. :func:`merge_views` keeps the
slice boxes whose feet lie in the band, drops the slice boxes that are parts of a person
the full frame saw whole, and merges everything with NMS plus containment (across passes;
within one pass only a part and the box it lies in).
See docs/vision.md ("Counting").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.vision.detector import Detections, nms
from edge.vision.scale import ScaleModel
from lobbywatch.config.counting import CountingConfig, SlicingMode

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
HEAD_ROOM = 1.15  # a slice row starts this many person heights above the first feet it owns
FOOT_ROOM = 0.1  # ... and owns feet up to this many person heights above its bottom edge
WIDEN = 1.25  # when a plan has too many slices, make every slice this much larger and replan


@dataclass(frozen=True, slots=True)
class SlicePlan:
    """The slices of one frame, and the rows ``[y0, y1)`` whose people they own (None: all)."""

    windows: list[Window]
    band: tuple[float, float] | None

    @property
    def passes(self) -> int:
        """Detector passes per frame: the full frame plus one per slice."""
        return 1 + len(self.windows)


def grid_windows(width: int, height: int, rows: int, cols: int, overlap: float) -> list[Window]:
    """A ``rows x cols`` grid of overlapping rectangles covering the frame."""
    out: list[Window] = []
    tw = width / (cols - (cols - 1) * overlap)
    th = height / (rows - (rows - 1) * overlap)
    for r in range(rows):
        for c in range(cols):
            x0 = round(c * tw * (1 - overlap))
            y0 = round(r * th * (1 - overlap))
            out.append((x0, y0, min(width, round(x0 + tw)), min(height, round(y0 + th))))
    return out


def plan_slices(
    width: int,
    height: int,
    settings: CountingConfig,
    scale: ScaleModel,
    region: Window | None = None,
) -> SlicePlan:
    """The slices for a ``width x height`` frame; ``region`` bounds where people are counted."""
    s = settings.slicing
    if s.mode == SlicingMode.OFF:
        return SlicePlan([], (0.0, 0.0))
    if s.mode == SlicingMode.GRID:
        return SlicePlan(grid_windows(width, height, s.rows, s.cols, s.overlap), None)
    if not scale.ready:  # warming up: the full frame only, which also teaches the scale
        return SlicePlan([], (0.0, 0.0))
    x0, y0, x1, y1 = region or (0, 0, width, height)
    full_gain = settings.imgsz / max(width, height)  # input pixels per frame pixel, full frame
    rows = np.arange(max(y0, 0), min(y1, height) + 1, dtype=np.float64)
    small = rows[full_gain * scale.height_at(rows) < s.min_person_px]
    if small.size == 0:
        return SlicePlan([], (0.0, 0.0))
    band = (float(small.min()), float(small.max()) + 1)
    widen = 1.0
    while True:
        windows = _rows_of_slices(width, height, settings, scale, band, (x0, x1), full_gain, widen)
        if len(windows) <= s.max_slices or widen > 16:
            return SlicePlan(windows, band)
        widen *= WIDEN


def _rows_of_slices(
    width: int,
    height: int,
    settings: CountingConfig,
    scale: ScaleModel,
    band: tuple[float, float],
    xs: tuple[int, int],
    full_gain: float,
    widen: float,
) -> list[Window]:
    """Rows of square slices, top down, until every row of ``band`` is owned by one."""
    s = settings.slicing
    out: list[Window] = []
    u = band[0]
    while u < band[1]:
        hu = float(scale.height_at(u))
        side = s.imgsz * hu / s.target_person_px * widen
        side = max(side, s.imgsz / (s.max_zoom * full_gain))  # never magnify beyond max_zoom
        side = min(side, width, height)
        top = max(0.0, u - HEAD_ROOM * hu)
        bottom = min(float(height), top + side)
        top = max(0.0, bottom - side)
        out += _row(top, bottom, side, xs, width, s.overlap)
        v = bottom - FOOT_ROOM * float(scale.height_at(bottom))
        if bottom >= height or v <= u:  # the frame's bottom, or people taller than a slice
            break
        u = v
    return out


def _row(
    top: float, bottom: float, side: float, xs: tuple[int, int], width: int, overlap: float
) -> list[Window]:
    """One row of slices ``side`` wide covering columns ``xs`` with the given overlap."""
    lo, hi = max(0, xs[0]), min(width, xs[1])
    span = hi - lo
    n = 1 if span <= side else math.ceil((span - side * overlap) / (side * (1 - overlap)))
    starts = (
        np.linspace(lo, max(lo, hi - side), n) if n > 1 else np.asarray([max(0.0, lo + (span - side) / 2)])
    )
    return [(round(x), round(top), min(width, round(x + side)), round(bottom)) for x in starts.tolist()]


def merge_views(
    full: Detections,
    slices: Detections,
    plan: SlicePlan,
    settings: CountingConfig,
    scale: ScaleModel,
    views: npt.NDArray[np.intp] | None = None,
) -> Detections:
    """One set of people from the full frame's boxes and the slices' (in frame pixels).

    ``views`` gives each slice box the index of its slice (None: each box its own slice);
    containment merges boxes of different passes, and within one pass only a part (a box
    shorter than ``part_height`` of a person at its row) with the box it lies in
    (:func:`edge.vision.detector.nms`).
    """
    m = settings.merge
    keep = np.ones(len(slices), np.bool_)
    bottoms = slices.xyxy[:, 3]
    if plan.band is not None:
        keep &= (bottoms >= plan.band[0]) & (bottoms < plan.band[1])
    if scale.ready and m.part_height > 0 and len(full) and len(slices):
        short = (slices.xyxy[:, 3] - slices.xyxy[:, 1]) < m.part_height * scale.height_at(bottoms)
        keep &= ~(short & (_overlap_share(slices.xyxy, full.xyxy).max(axis=1) >= m.containment))
    kept = slices.select(keep)
    slice_views = np.arange(len(slices)) if views is None else np.asarray(views, np.intp)
    passes = np.concatenate([np.full(len(full), -1, np.intp), slice_views[keep]])
    merged = Detections.concat([full, kept])
    containment = m.containment if m.containment < 1.0 else None
    parts = None
    if scale.ready and m.part_height > 0:
        tall = merged.xyxy[:, 3] - merged.xyxy[:, 1]
        parts = tall < m.part_height * scale.height_at(merged.xyxy[:, 3])
    return merged.select(nms(merged.xyxy, merged.conf, m.iou, containment, passes, parts))


def _overlap_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """(len(a), len(b)): the share of each box of ``a`` that lies inside each box of ``b``."""
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-6)
    return np.asarray(w * h / area[:, None])
