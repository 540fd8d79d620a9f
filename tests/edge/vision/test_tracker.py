"""The torch-free ByteTrack follows people like ultralytics' BYTETracker, which it ports."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

import numpy as np
import pytest

from edge.vision.detector import Detections
from edge.vision.tracker import ByteTracker


def _walk(frames: int, seed: int) -> list[Detections]:
    """People walking across a 1280x720 frame: jitter, missed frames, weak and spurious boxes."""
    rng = np.random.default_rng(seed)
    people = 8
    start = rng.uniform([0, 100], [1100, 500], size=(people, 2))
    speed = rng.uniform(-6, 6, size=(people, 2))
    size = rng.uniform([40, 110], [70, 200], size=(people, 2))
    out: list[Detections] = []
    for f in range(frames):
        boxes: list[list[float]] = []
        conf: list[float] = []
        for p in range(people):
            if rng.random() < 0.1:  # missed
                continue
            x, y = start[p] + speed[p] * f + rng.normal(0, 2, 2)
            w, h = size[p] * rng.uniform(0.95, 1.05, 2)
            boxes.append([x, y, x + w, y + h])
            conf.append(float(rng.uniform(0.05, 0.95)))
        if rng.random() < 0.3:  # a spurious box
            x, y = rng.uniform(0, 1200), rng.uniform(0, 600)
            boxes.append([x, y, x + 50, y + 120])
            conf.append(float(rng.uniform(0.1, 0.6)))
        xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
        out.append(Detections(xyxy, np.asarray(conf, np.float32), np.zeros(len(conf), np.float32)))
    return out


def test_a_person_keeps_one_id_through_a_missed_frame() -> None:
    tracker = ByteTracker(track_buffer=5)
    seen: list[set[int]] = []
    for f in range(8):
        if f == 4:
            det = Detections.empty()
        else:
            box = np.asarray([[100 + 5 * f, 100, 160 + 5 * f, 260]], np.float32)
            det = Detections(box, np.asarray([0.9], np.float32), np.zeros(1, np.float32))
        seen.append({t.track_id for t in tracker.update(det, (720, 1280))})
    assert seen[4] == set()
    assert set().union(*seen) == {1}
    tracker.reset()
    box = np.asarray([[0, 0, 50, 100]], np.float32)
    again = tracker.update(Detections(box, np.ones(1, np.float32), box[:, 0]), (9, 9))
    assert [t.track_id for t in again] == [1]  # ids start over


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_tracks_as_ultralytics(seed: int) -> None:
    from edge.vision.detector import prepare_ultralytics_env

    prepare_ultralytics_env()
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.byte_tracker import BYTETracker

    args = Namespace(
        track_high_thresh=0.3,
        track_low_thresh=0.1,
        new_track_thresh=0.3,
        track_buffer=10,
        match_thresh=0.8,
        fuse_score=True,
    )
    theirs: Any = BYTETracker(args)  # type: ignore[no-untyped-call]
    ours = ByteTracker(high_thresh=0.3, low_thresh=0.1, new_track_thresh=0.3, track_buffer=10)
    tracks = 0
    for det in _walk(60, seed):
        data = np.zeros((len(det), 6), np.float32)
        data[:, :4], data[:, 4] = det.xyxy, det.conf
        rows = np.asarray(theirs.update(Boxes(data, (720, 1280)))).reshape(-1, 8)
        mine = ours.update(det, (720, 1280))
        assert [t.track_id for t in mine] == [int(r[4]) for r in rows]
        np.testing.assert_allclose([t.xyxy for t in mine] or np.zeros((0, 4)), rows[:, :4], rtol=0, atol=1e-3)
        np.testing.assert_allclose([t.conf for t in mine], rows[:, 5], rtol=0, atol=1e-6)
        tracks += len(mine)
    assert tracks > 100
