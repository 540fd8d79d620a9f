"""Multi-object tracking: ByteTrack over our detections, in numpy (no torch, no ultralytics).

A port of ultralytics' ``BYTETracker`` (AGPL-3.0, as this project; Kalman filter in
(centre x, centre y, aspect, height) space, two-stage IoU association, ``lap`` for the
assignment), kept step for step so that it gives the same tracks: the camera node's edge
install has no torch, and ultralytics' tracker imports it. Tracking is independent of how
detections were made, so tiled detections are tracked like any others. See docs/vision.md.
"""

from __future__ import annotations

import sys
from enum import IntEnum

import lap
import numpy as np
import numpy.typing as npt

from edge.vision.detector import Detections
from edge.vision.pipeline import TrackedBox

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
DUPLICATE_IOU_DISTANCE = 0.15  # tracked and lost tracks closer than this are one object
REMOVED_MEMORY = 1000  # removed tracks remembered (a removed track never comes back)


class _State(IntEnum):
    NEW = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


class _Kalman:
    """Constant-velocity Kalman filter on (x, y, a, h) boxes (ultralytics' ``KalmanFilterXYAH``)."""

    POS = 1.0 / 20
    VEL = 1.0 / 160

    def __init__(self) -> None:
        self.motion = np.eye(8)
        for i in range(4):
            self.motion[i, 4 + i] = 1.0

    def initiate(self, xyah: F64) -> tuple[F64, F64]:
        h = xyah[3]
        std = [2 * self.POS * h, 2 * self.POS * h, 1e-2, 2 * self.POS * h]
        std += [10 * self.VEL * h, 10 * self.VEL * h, 1e-5, 10 * self.VEL * h]
        return np.r_[xyah, np.zeros_like(xyah)], np.diag(np.square(std))

    def predict_many(self, mean: F64, cov: F64) -> tuple[F64, F64]:
        h = mean[:, 3]
        ones = np.ones_like(h)
        std = [self.POS * h, self.POS * h, 1e-2 * ones, self.POS * h]
        std += [self.VEL * h, self.VEL * h, 1e-5 * ones, self.VEL * h]
        sqr = np.square(np.r_[std]).T
        motion_cov = np.zeros((sqr.shape[0], 8, 8))
        motion_cov[:, range(8), range(8)] = sqr
        mean = np.dot(mean, self.motion.T)
        left = np.dot(self.motion, cov).transpose((1, 0, 2))
        return mean, np.dot(left, self.motion.T) + motion_cov

    def update(self, mean: F64, cov: F64, xyah: F64) -> tuple[F64, F64]:
        h = mean[3]
        innovation_cov = np.diag(np.square([self.POS * h, self.POS * h, 1e-1, self.POS * h]))
        projected_mean, projected_cov = mean[:4].copy(), cov[:4, :4] + innovation_cov
        gain = np.linalg.solve(projected_cov, cov[:, :4].T).T
        new_mean = mean + np.dot(xyah - projected_mean, gain.T)
        return new_mean, cov - np.linalg.multi_dot((gain, projected_cov, gain.T))


def _xyah(tlwh: npt.NDArray[np.floating]) -> F64:
    ret = np.asarray(tlwh, np.float64).copy()
    ret[:2] += ret[2:] / 2
    ret[2] /= ret[3]
    return ret


class _Track:
    """One tracklet: a detection until activated, then a Kalman state."""

    def __init__(self, tlwh: F32, score: float) -> None:
        self._tlwh = tlwh
        self.score = score
        self.mean: F64 | None = None
        self.cov: F64 | None = None
        self.state = _State.NEW
        self.is_activated = False
        self.track_id = 0
        self.frame_id = 0
        self.start_frame = 0

    @property
    def tlwh(self) -> npt.NDArray[np.floating]:
        if self.mean is None:
            return self._tlwh.copy()
        ret = self.mean[:4].copy()
        ret[2] *= ret[3]
        ret[:2] -= ret[2:] / 2
        return ret

    @property
    def xyxy(self) -> npt.NDArray[np.floating]:
        ret = self.tlwh
        ret[2:] += ret[:2]
        return ret

    def activate(self, kf: _Kalman, frame_id: int, track_id: int) -> None:
        self.track_id = track_id
        self.mean, self.cov = kf.initiate(_xyah(self._tlwh))
        self.state = _State.TRACKED
        self.is_activated = frame_id == 1
        self.frame_id = self.start_frame = frame_id

    def update(self, kf: _Kalman, det: _Track, frame_id: int) -> None:
        """Follow a matched detection (also re-finds a lost track)."""
        assert self.mean is not None
        assert self.cov is not None
        self.mean, self.cov = kf.update(self.mean, self.cov, _xyah(det.tlwh))
        self.state = _State.TRACKED
        self.is_activated = True
        self.frame_id = frame_id
        self.score = det.score


def _iou_distance(a: list[_Track], b: list[_Track]) -> F32:
    cost = np.ones((len(a), len(b)), np.float32)
    if a and b:
        b1 = np.ascontiguousarray([t.xyxy for t in a], dtype=np.float32)
        b2 = np.ascontiguousarray([t.xyxy for t in b], dtype=np.float32)
        w = (np.minimum(b1[:, None, 2], b2[:, 2]) - np.maximum(b1[:, None, 0], b2[:, 0])).clip(0)
        h = (np.minimum(b1[:, None, 3], b2[:, 3]) - np.maximum(b1[:, None, 1], b2[:, 1])).clip(0)
        inter = w * h
        area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
        area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
        cost = 1 - inter / (area2 + area1[:, None] - inter + 1e-7)
    return cost


def _fuse_score(cost: F32, dets: list[_Track]) -> F32:
    if cost.size == 0:
        return cost
    scores = np.array([d.score for d in dets])[None].repeat(cost.shape[0], axis=0)
    return np.asarray(1 - (1 - cost) * scores, np.float32)


def _assign(cost: F32, thresh: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost matching with costs above ``thresh`` left unmatched (lap's Jonker-Volgenant)."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
    matches = [(i, int(j)) for i, j in enumerate(x) if j >= 0]
    return matches, [int(i) for i in np.where(x < 0)[0]], [int(j) for j in np.where(y < 0)[0]]


def _joint(a: list[_Track], b: list[_Track]) -> list[_Track]:
    ids = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in ids]


def _sub(a: list[_Track], b: list[_Track]) -> list[_Track]:
    ids = {t.track_id for t in b}
    return [t for t in a if t.track_id not in ids]


def _remove_duplicates(a: list[_Track], b: list[_Track]) -> tuple[list[_Track], list[_Track]]:
    dup_a: set[int] = set()
    dup_b: set[int] = set()
    for p, q in zip(*np.where(_iou_distance(a, b) < DUPLICATE_IOU_DISTANCE), strict=True):
        if a[p].frame_id - a[p].start_frame > b[q].frame_id - b[q].start_frame:
            dup_b.add(int(q))
        else:
            dup_a.add(int(p))
    return [t for i, t in enumerate(a) if i not in dup_a], [t for i, t in enumerate(b) if i not in dup_b]


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
        self.high_thresh = high_thresh
        self.low_thresh = min(low_thresh, high_thresh)
        self.new_track_thresh = new_track_thresh
        self.track_buffer = track_buffer
        self.match_thresh = match_thresh
        self.reset()

    def reset(self) -> None:
        self.tracked: list[_Track] = []
        self.lost: list[_Track] = []
        self.removed: list[_Track] = []
        self.frame_id = 0
        self.kf = _Kalman()
        self._ids = iter(range(1, sys.maxsize))

    def _detections(self, det: Detections) -> tuple[list[_Track], list[_Track]]:
        """High- and low-score detections as unactivated tracks (degenerate boxes dropped)."""
        xyxy = det.xyxy.astype(np.float32).reshape(-1, 4)
        xywh = np.empty_like(xyxy)
        xywh[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2
        xywh[:, 1] = (xyxy[:, 1] + xyxy[:, 3]) / 2
        xywh[:, 2] = xyxy[:, 2] - xyxy[:, 0]
        xywh[:, 3] = xyxy[:, 3] - xyxy[:, 1]
        scores = det.conf.astype(np.float32)
        valid = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        high = valid & (scores >= self.high_thresh)
        low = valid & (scores > self.low_thresh) & (scores < self.high_thresh)
        wide = xywh.astype(np.float64)
        tlwh = wide.copy()
        tlwh[:, :2] -= wide[:, 2:] / 2

        def make(mask: npt.NDArray[np.bool_]) -> list[_Track]:
            return [_Track(tlwh[i].astype(np.float32), scores[i]) for i in np.flatnonzero(mask)]

        return make(high), make(low)

    def _predict(self, tracks: list[_Track]) -> None:
        if not tracks:
            return
        mean = np.asarray([t.mean for t in tracks])
        cov = np.asarray([t.cov for t in tracks])
        for i, t in enumerate(tracks):
            if t.state != _State.TRACKED:
                mean[i][7] = 0
        mean, cov = self.kf.predict_many(mean, cov)
        for t, m, c in zip(tracks, mean, cov, strict=True):
            t.mean, t.cov = m, c

    def _dists(self, tracks: list[_Track], dets: list[_Track]) -> F32:
        return _fuse_score(_iou_distance(tracks, dets), dets)

    def _match(self, pairs: list[tuple[int, int]], pool: list[_Track], dets: list[_Track]) -> list[_Track]:
        """Apply matches; returns the tracks that were lost and are found again."""
        refound: list[_Track] = []
        for it, idet in pairs:
            track = pool[it]
            if track.state != _State.TRACKED:
                refound.append(track)
            track.update(self.kf, dets[idet], self.frame_id)
        return refound

    def update(self, det: Detections, frame_shape: tuple[int, int]) -> list[TrackedBox]:
        """Associate one frame's detections; returns the confirmed tracks seen in it."""
        del frame_shape  # boxes are in frame pixels already
        self.frame_id += 1
        high, low = self._detections(det)
        unconfirmed = [t for t in self.tracked if not t.is_activated]
        confirmed = [t for t in self.tracked if t.is_activated]
        pool = _joint(confirmed, self.lost)
        self._predict(pool)

        # 1: confirmed and lost tracks against the confident detections
        pairs, u_track, u_det = _assign(self._dists(pool, high), self.match_thresh)
        refind = self._match(pairs, pool, high)
        activated = [pool[i] for i, _ in pairs if pool[i] not in refind]

        # 2: tracks still unmatched against the weak detections
        remaining = [pool[i] for i in u_track if pool[i].state == _State.TRACKED]
        lost: list[_Track] = []
        if remaining and low:
            pairs2, u_remaining, _ = _assign(_iou_distance(remaining, low), 0.5)
            refind += self._match(pairs2, remaining, low)
            activated += [remaining[i] for i, _ in pairs2 if remaining[i] not in refind]
        else:
            u_remaining = list(range(len(remaining)))
        for i in u_remaining:
            remaining[i].state = _State.LOST
            lost.append(remaining[i])

        # 3: tracks seen once (unconfirmed) against the confident detections left
        left = [high[i] for i in u_det]
        removed: list[_Track] = []
        u_left = list(range(len(left)))
        if unconfirmed:
            pairs3, u_unconfirmed, u_left = _assign(self._dists(unconfirmed, left), 0.7)
            for it, idet in pairs3:
                unconfirmed[it].update(self.kf, left[idet], self.frame_id)
                activated.append(unconfirmed[it])
            for it in u_unconfirmed:
                unconfirmed[it].state = _State.REMOVED
                removed.append(unconfirmed[it])

        # 4: new tracks from confident detections nobody claimed; expire long-lost tracks
        for i in u_left:
            if left[i].score >= self.new_track_thresh:
                left[i].activate(self.kf, self.frame_id, next(self._ids))
                activated.append(left[i])
        for t in self.lost:
            if self.frame_id - t.frame_id > self.track_buffer:
                t.state = _State.REMOVED
                removed.append(t)

        self.tracked = [t for t in self.tracked if t.state == _State.TRACKED]
        self.tracked = _joint(_joint(self.tracked, activated), refind)
        self.lost = _sub(self.lost, self.tracked) + lost
        self.lost = _sub(self.lost, self.removed)
        self.tracked, self.lost = _remove_duplicates(self.tracked, self.lost)
        self.removed = (self.removed + removed)[-REMOVED_MEMORY:]
        out: list[TrackedBox] = []
        for t in self.tracked:
            if t.is_activated:
                x1, y1, x2, y2 = (float(v) for v in t.xyxy.astype(np.float32))
                out.append(TrackedBox(t.track_id, (x1, y1, x2, y2), float(np.float32(t.score))))
        return out
