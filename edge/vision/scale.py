"""The scale model: how tall a person is at each image row, learned from the camera itself.

On a fixed camera looking at a floor, a standing person's box height grows about linearly
with the row of their feet (perspective of a ground plane). :class:`ScaleModel` keeps the
latest confident full-frame boxes in a bounded window and fits ``height = a + b * y_bottom``
robustly (least squares, then again without the boxes far off the line: sitting, occluded or
cut people). The slope is never negative (feet higher in the picture are farther from a camera
above the floor) and is only fitted once the boxes span enough rows; before that the height
is the same everywhere (their median), which never invents small people far away. Until it
has seen enough boxes it is not ready and the detector runs the full frame only; a set of
stills has no more boxes to come, so after reading them :meth:`ScaleModel.settle` fits on
what there is.
See docs/vision.md ("Counting").
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from lobbywatch.config.counting import ScaleConfig

MIN_HEIGHT_PX = 4.0  # the fit never predicts people smaller than this (frame pixels)
EDGE_PX = 2.0  # boxes this close to the frame's top or bottom edge are cut: not learned from
TRIM_MADS = 2.5  # residuals beyond this many MADs are left out of the second fit
MIN_SPREAD = 0.1  # the slope is fitted only once the boxes' bottoms span this share of the height
MIN_SETTLE_BOXES = 5  # settle(): the fewest boxes a scale is fitted on when no more will come


class ScaleModel:
    """Robust linear fit of person box height (frame pixels) by the row of the box bottom."""

    def __init__(self, settings: ScaleConfig | None = None) -> None:
        self.settings = settings or ScaleConfig()
        self._samples: deque[tuple[float, float]] = deque(maxlen=self.settings.window)
        self._since_fit = 0
        self.coef: tuple[float, float] | None = None  # (a, b): height = a + b * y
        self._min_spread = 1.0

    @property
    def ready(self) -> bool:
        return self.coef is not None

    @property
    def samples(self) -> int:
        return len(self._samples)

    def observe(
        self, xyxy: npt.NDArray[np.float32], conf: npt.NDArray[np.float32], frame_height: int
    ) -> None:
        """Learn from one frame's full-frame boxes (the confident, uncut, upright ones)."""
        self._min_spread = MIN_SPREAD * frame_height
        if len(xyxy) == 0:
            return
        h = xyxy[:, 3] - xyxy[:, 1]
        w = xyxy[:, 2] - xyxy[:, 0]
        good = (
            (conf >= self.settings.min_confidence)
            & (xyxy[:, 1] > EDGE_PX)
            & (xyxy[:, 3] < frame_height - EDGE_PX)
            & (h >= w)  # upright: a person standing or walking, not a part or a sitting person
        )
        for y, hh in zip(xyxy[good, 3].tolist(), h[good].tolist(), strict=True):
            self._samples.append((y, hh))
            self._since_fit += 1
        due = self._since_fit >= self.settings.refit_every or self.coef is None
        if due and len(self._samples) >= self.settings.warmup_boxes:
            self._fit()

    def settle(self) -> None:
        """Fit now on the boxes seen (at least ``MIN_SETTLE_BOXES``), however few: for stills,
        whose learning pass has seen every box there is (the daemon waits for ``warmup_boxes``
        because more are coming)."""
        if self.coef is None and len(self._samples) >= MIN_SETTLE_BOXES:
            self._fit()

    def _fit(self) -> None:
        data = np.asarray(self._samples, np.float64)
        y, h = data[:, 0], data[:, 1]
        coef = _line(y, h, self._min_spread)
        resid = h - (coef[0] + coef[1] * y)
        mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
        inliers = np.abs(resid) <= TRIM_MADS * max(mad, 1.0)
        if inliers.sum() >= max(3, len(y) // 2):
            coef = _line(y[inliers], h[inliers], self._min_spread)
        self.coef = coef
        self._since_fit = 0

    def height_at(self, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Expected person height (frame pixels) for boxes whose bottom is at row ``y``."""
        if self.coef is None:
            raise RuntimeError("the scale model has not seen enough people yet")
        a, b = self.coef
        return np.maximum(a + b * np.asarray(y, np.float64), MIN_HEIGHT_PX)


def _line(y: npt.NDArray[np.float64], h: npt.NDArray[np.float64], min_spread: float) -> tuple[float, float]:
    """Least-squares ``h = a + b * y`` with ``b >= 0``; the median height when the rows
    span less than ``min_spread`` pixels or the slope comes out negative."""
    if float(np.ptp(y)) >= max(min_spread, 1.0):
        b, a = np.polyfit(y, h, 1)
        if b >= 0:
            return float(a), float(b)
    return float(np.median(h)), 0.0
