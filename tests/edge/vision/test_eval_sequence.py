"""``eval counts --sequence``: consecutive frames also report the published occupancy's error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.vision.detector import Detections, Frame
from edge.vision.evaluate import evaluate_counts
from tests.edge.vision.helpers_counting import dets


class _PixelCounter:
    """A stand-in counter: as many people as the frame's first pixel value says."""

    def __init__(self) -> None:
        self.passes = 0

    def learn(self, frame: Frame) -> None:
        pass

    def detect(self, frame: Frame) -> Detections:
        self.passes += 1
        return dets([[10.0 * i, 0.0, 10.0 * i + 5, 20.0] for i in range(int(frame[0, 0, 0]))])


def test_one_frame_misses_do_not_reach_the_published_occupancy(tmp_path: Path) -> None:
    truth = [4, 4, 4, 4, 4, 4, 4, 4]
    seen = [4, 4, 1, 4, 4, 7, 4, 4]  # a one-frame miss and a one-frame double count
    rows = []
    for i, (t, n) in enumerate(zip(truth, seen, strict=True)):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), np.full((20, 60, 3), n, np.uint8))
        rows.append((f"f{i:03d}.png", t))

    summary = evaluate_counts(tmp_path, rows, _PixelCounter(), progress=None, sequence=True)

    assert summary.mae == 6 / 8  # per frame: the two bad frames
    assert summary.published == (0.0, 0.0)  # the daemon's median smoothing absorbs both
    result = summary.as_dict()
    assert result["published_mae"] == 0.0
    assert result["published_bias"] == 0.0

    stills = evaluate_counts(tmp_path, rows, _PixelCounter(), progress=None)
    assert stills.published is None
    assert "published_mae" not in stills.as_dict()


def test_a_lasting_change_reaches_the_published_occupancy_one_frame_late(tmp_path: Path) -> None:
    truth = [2, 2, 2, 5, 5, 5]
    rows = []
    for i, t in enumerate(truth):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((20, 60, 3), t, np.uint8))
        rows.append((f"f{i}.png", t))
    summary = evaluate_counts(tmp_path, rows, _PixelCounter(), progress=None, sequence=True)
    assert summary.mae == 0
    assert summary.published is not None
    # the smoother publishes 2, 2, 2, 2, 5, 5: one frame behind the step of 3 people
    assert summary.published == (3 / 6, -3 / 6)
