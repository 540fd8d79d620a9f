"""Which tracks are staff: the camera's staff positions and rules (``lobbywatch.config.staff``).

A track is staff from the frame it first appears inside a staff position (when the rules
say so), or once it has been seen ``min_observed_s`` and spent at least ``share`` of the last
``window_s`` seconds inside staff positions. The judgement is sticky for the track's life.
The pipeline leaves staff out of zone membership, dwell, visits and care tasks
(docs/vision.md, "Staff").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from edge.vision.zones import Point, points_in_polygon
from lobbywatch.config.staff import StaffConfig


@dataclass(slots=True)
class _History:
    first_seen: datetime
    samples: deque[tuple[datetime, bool]] = field(default_factory=deque)


class StaffJudge:
    """Tells staff tracks from customer tracks, frame by frame."""

    def __init__(self, cfg: StaffConfig | None) -> None:
        self.cfg = cfg or StaffConfig()
        self.rules = self.cfg.rules
        self.window = timedelta(seconds=self.rules.window_s)
        self._polygons = [list(p.polygon) for p in self.cfg.positions]
        self._history: dict[int, _History] = {}
        self.staff: set[int] = set()

    def _inside(self, anchors: dict[int, Point]) -> dict[int, bool]:
        ids = list(anchors)
        if not ids or not self._polygons:
            return dict.fromkeys(ids, False)
        pts = np.asarray([anchors[i] for i in ids], np.float64)
        hit = np.zeros(len(ids), np.bool_)
        for poly in self._polygons:
            hit |= points_in_polygon(pts, poly)
        return dict(zip(ids, hit.tolist(), strict=True))

    def update(self, anchors: dict[int, Point], now: datetime) -> set[int]:
        """Feed one frame's anchors; return the tracks judged staff in this frame (new ones)."""
        if not self._polygons:
            return set()
        new: set[int] = set()
        for tid, inside in self._inside(anchors).items():
            if tid in self.staff:
                continue
            h = self._history.get(tid)
            if h is None:
                h = self._history[tid] = _History(now)
                if inside and self.rules.first_seen_inside:
                    new.add(tid)
                    continue
            h.samples.append((now, inside))
            while h.samples and h.samples[0][0] < now - self.window:
                h.samples.popleft()
            observed = (now - h.first_seen).total_seconds()
            if observed >= self.rules.min_observed_s and h.samples:
                share = sum(1 for _, i in h.samples if i) / len(h.samples)
                if share >= self.rules.share:
                    new.add(tid)
        for tid in new:
            self.staff.add(tid)
            self._history.pop(tid, None)
        return new

    def counts_in(self, zone: str) -> bool:
        """Whether staff count towards this zone's occupancy."""
        zones = self.cfg.occupancy_zones
        return zones is None or zone in zones

    def forget(self, track: int) -> None:
        """The track is gone for good."""
        self._history.pop(track, None)
        self.staff.discard(track)

    def reset(self) -> None:
        self._history.clear()
        self.staff.clear()
