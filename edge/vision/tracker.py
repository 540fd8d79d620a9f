"""Multi-object tracking: ultralytics' ByteTrack used directly on our detections.

Using the tracker class directly (rather than ``model.track``) keeps tracking independent
of how detections were made, so tiled detections are tracked like any others.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

import numpy as np

from edge.vision.detector import Detections, prepare_ultralytics_env
from edge.vision.pipeline import TrackedBox


class ByteTracker:
    """ByteTrack (Zhang et al. 2022) over per-frame :class:`Detections`.

    ``track_buffer`` is in processed frames: how long a lost track can still be re-found.
    The first-stage threshold follows the detector's confidence so that every reported
    detection can start or continue a track; weaker ones only continue tracks.
    """

    def __init__(
        self,
        *,
        high_thresh: float = 0.25,
        low_thresh: float = 0.1,
        new_track_thresh: float = 0.25,
        track_buffer: int = 30,
        match_thresh: float = 0.8,
    ) -> None:
        prepare_ultralytics_env()
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = Namespace(
            track_high_thresh=high_thresh,
            track_low_thresh=min(low_thresh, high_thresh),
            new_track_thresh=new_track_thresh,
            track_buffer=track_buffer,
            match_thresh=match_thresh,
            fuse_score=True,
        )
        self._tracker: Any = BYTETracker(args)  # type: ignore[no-untyped-call]

    def update(self, det: Detections, frame_shape: tuple[int, int]) -> list[TrackedBox]:
        """Associate one frame's detections; returns the confirmed tracks seen in it."""
        from ultralytics.engine.results import Boxes

        data = np.zeros((len(det), 6), np.float32)
        if len(det):
            data[:, 0:4] = det.xyxy
            data[:, 4] = det.conf
        boxes = Boxes(data, frame_shape)
        rows = self._tracker.update(boxes)
        out: list[TrackedBox] = []
        for row in np.asarray(rows).reshape(-1, 8) if len(rows) else []:
            x1, y1, x2, y2, tid, score = (float(v) for v in row[:6])
            out.append(TrackedBox(int(tid), (x1, y1, x2, y2), score))
        return out

    def reset(self) -> None:
        self._tracker.reset()
