"""``eval counts --sequence``: consecutive frames (a folder or a video) also report the published
occupancy's error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.detector import Detections, Frame
from edge.vision.evaluate import EvalInputError, evaluate_counts, read_truth
from tests.edge.vision.helpers_counting import dets, write_video


class _PixelCounter:
    """A stand-in counter: as many people as the frame's first pixel value says."""

    def __init__(self) -> None:
        self.passes = 0

    def learn(self, frame: Frame) -> None:
        pass

    def end_learning(self) -> None:
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


class _BrightnessCounter(_PixelCounter):
    """As many people as the frame's mean brightness / 40 (survives video compression)."""

    def detect(self, frame: Frame) -> Detections:
        self.passes += 1
        n = round(float(frame.mean()) / 40)
        return dets([[10.0 * i, 0.0, 10.0 * i + 5, 20.0] for i in range(n)])


def _video(path: Path, people: list[int]) -> None:
    write_video(path, [np.full((48, 64, 3), 40 * n, np.uint8) for n in people])


def test_a_video_with_a_per_frame_truth_csv(tmp_path: Path) -> None:
    video = tmp_path / "hall.avi"
    _video(video, [1, 2, 3, 3, 0, 3, 3, 2])  # frame 4: a one-frame miss
    truth = tmp_path / "counts.csv"
    truth.write_text("frame,persons\n0,1\n1,2\n2,3\n3,3\n4,3\n5,3\n6,3\n7,2\n")

    summary = evaluate_counts(video, read_truth(truth), _BrightnessCounter(), progress=None, sequence=True)

    assert summary.images == 8
    assert summary.mae == 3 / 8
    assert summary.published is not None
    assert summary.published[0] < summary.mae  # the smoothing absorbs the one-frame miss


def test_a_video_can_skip_frames_but_not_go_back(tmp_path: Path) -> None:
    video = tmp_path / "hall.avi"
    _video(video, [1, 2, 3, 4, 5])
    rows = [("1", 2), ("3", 4)]  # every other frame
    summary = evaluate_counts(video, rows, _BrightnessCounter(), progress=None, sequence=True)
    assert summary.mae == 0
    with pytest.raises(EvalInputError, match="increasing"):
        evaluate_counts(video, [("3", 4), ("1", 2)], _BrightnessCounter(), progress=None)
    with pytest.raises(EvalInputError, match="ends before frame 9"):
        evaluate_counts(video, [("9", 1)], _BrightnessCounter(), progress=None, learn_from=0)
    with pytest.raises(EvalInputError, match="frame numbers"):
        evaluate_counts(video, [("a.jpg", 1)], _BrightnessCounter(), progress=None)
