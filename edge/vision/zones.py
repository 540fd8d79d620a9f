"""Zone geometry and membership with separate entry and exit debounce.

A person's position is the *anchor*: the bottom-centre of their box (where the feet touch
the floor), which is what a zone drawn on the floor contains. A track *enters* a zone after
``entry_frames`` consecutive processed frames with its anchor inside, and *exits* after
``exit_frames`` consecutive frames outside (or unseen). An optional region of interest
drops every detection whose anchor is outside it before anything else looks at it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Polygon = list[tuple[float, float]]


# How far inside the frame a clamped anchor lies: below the last pixel row's index (h - 1),
# so that a zone or ROI drawn along the frame's bottom edge contains it.
_EDGE_INSET = 1.5


def anchors_of(
    xyxy: npt.NDArray[np.float32], frame_size: tuple[int, int] | None = None
) -> npt.NDArray[np.float64]:
    """Bottom-centre anchor points (N, 2) of boxes (N, 4) ``x1, y1, x2, y2``.

    With ``frame_size`` (width, height), a box cut by the frame's bottom edge (the person's
    feet are out of view) is anchored just inside the frame instead of on its border, where
    no polygon drawn on the picture could contain it.

    >>> anchors_of(np.asarray([[10, 20, 30, 480]], np.float32), (640, 480)).tolist()
    [[20.0, 478.5]]
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    y = boxes[:, 3]
    if frame_size is not None:
        y = np.minimum(y, frame_size[1] - _EDGE_INSET)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, y], axis=1)


def anchor(xyxy: tuple[float, float, float, float], frame_size: tuple[int, int] | None = None) -> Point:
    """Bottom-centre of one box (clamped into the frame as :func:`anchors_of` does)."""
    x1, _y1, x2, y2 = xyxy
    if frame_size is not None:
        y2 = min(y2, frame_size[1] - _EDGE_INSET)
    return ((x1 + x2) / 2.0, y2)


def points_in_polygon(points: npt.NDArray[np.float64], polygon: Polygon) -> npt.NDArray[np.bool_]:
    """Even-odd rule; points exactly on the left/top edge count as inside."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 <= y) != (y2 <= y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    inside = crosses & (x < x_at)
    return np.asarray(inside.sum(axis=1) % 2 == 1, np.bool_)


def point_in_polygon(point: Point, polygon: Polygon) -> bool:
    return bool(points_in_polygon(np.asarray([point], np.float64), polygon)[0])


@dataclass(slots=True)
class _Presence:
    inside: bool = False
    streak_in: int = 0
    streak_out: int = 0
    first_in: datetime | None = None
    last_in: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A confirmed entry or exit of one track into/out of one zone.

    ``at`` is when it happened: for an entry the first frame of the inside streak, for an
    exit the last frame the track was seen inside.
    """

    zone: str
    track: int
    entered: bool
    at: datetime


@dataclass(slots=True)
class ZoneMembership:
    """Debounced membership of tracks in one zone.

    Only tracks *seen* in a frame are updated: a track the tracker did not report keeps its
    membership until it is seen again or dropped with :meth:`drop` (lost-track timeout), so
    a person hidden for a moment neither leaves nor re-enters.
    """

    zone: str
    polygon: Polygon
    entry_frames: int
    exit_frames: int
    _tracks: dict[int, _Presence] = field(default_factory=dict)

    def update(self, anchors: dict[int, Point], now: datetime) -> list[Transition]:
        """Feed one processed frame: ``anchors`` of the tracks seen in it (id -> point)."""
        out: list[Transition] = []
        ids = list(anchors)
        if not ids:
            return out
        pts = np.asarray([anchors[i] for i in ids], np.float64)
        for tid, is_in in zip(ids, points_in_polygon(pts, self.polygon).tolist(), strict=True):
            p = self._tracks.setdefault(tid, _Presence())
            if is_in:
                if p.streak_in == 0 and not p.inside:
                    p.first_in = now
                p.streak_in += 1
                p.streak_out = 0
                p.last_in = now
                if not p.inside and p.streak_in >= self.entry_frames:
                    p.inside = True
                    out.append(Transition(self.zone, tid, True, p.first_in or now))
            else:
                p.streak_out += 1
                p.streak_in = 0
                if p.inside and p.streak_out >= self.exit_frames:
                    p.inside = False
                    out.append(Transition(self.zone, tid, False, p.last_in or now))
                if not p.inside:
                    del self._tracks[tid]
        return out

    def drop(self, track: int) -> bool:
        """Forget a track (lost for good); True when it was inside (the caller closes it)."""
        p = self._tracks.pop(track, None)
        return p is not None and p.inside

    def members(self) -> set[int]:
        """Tracks confirmed inside."""
        return {tid for tid, p in self._tracks.items() if p.inside}

    def reset(self) -> None:
        self._tracks.clear()


def filter_roi(anchors: dict[int, Point], roi: Polygon | None) -> dict[int, Point]:
    """Keep only tracks whose anchor lies inside ``roi`` (all when there is none)."""
    if roi is None or not anchors:
        return dict(anchors)
    ids = list(anchors)
    keep = points_in_polygon(np.asarray([anchors[i] for i in ids], np.float64), roi)
    return {tid: anchors[tid] for tid, k in zip(ids, keep.tolist(), strict=True) if k}


def zone_count(anchors: Iterable[Point], polygon: Polygon) -> int:
    """Raw (undebounced) number of anchors inside ``polygon``."""
    pts = np.asarray(list(anchors), np.float64)
    if pts.size == 0:
        return 0
    return int(points_in_polygon(pts, polygon).sum())
