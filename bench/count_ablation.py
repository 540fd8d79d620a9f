"""Counting ablation: run the detector once per *view*, cache raw boxes, then score merges.

A full evaluation of one tiled setting takes tens of minutes on a 2-core CPU. The views
(full frame at an input size, ``RxC`` tiles at an input size, optionally mirrored) do not
depend on the merge settings, so this script runs each view once per image, caches the raw
boxes (low confidence, in frame pixels) in an ``.npz`` file, and then scores any merge
(which views, confidence threshold, NMS IoU, containment) in milliseconds.

    # 1. cache the views (slow: about 4 s per image on a 2-core CPU; resumable)
    .venv/bin/python -m bench.count_ablation cache --data ../shared/data/mall \
        --views full@640 3x3@640 full@640f 3x3@640f --cache /tmp/mall-views.npz
    # 2. score merges: MAE on all frames, on the selection subset (every 10th frame) and on
    #    the other 180 (held out); --mirror averages the count with the mirrored views' count
    .venv/bin/python -m bench.count_ablation score --cache /tmp/mall-views.npz \
        --views full@640 3x3@640 --mirror --conf-grid 0.075 0.1 0.125 --containment-grid 0.6 0.8

A view is ``full@SIZE`` (whole frame) or ``RxC@SIZE`` (tiles, 20 % overlap), with a trailing
``f`` for the mirror image. The cache keeps boxes down to confidence 0.05 (model NMS at IoU
0.7), so scores are within a few hundredths of ``lobbywatch eval counts``, which is the
reference.

Reads the data by path only (research licence); nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge.vision.detector import Detections, PersonDetector, nms
from edge.vision.evaluate import count_in_roi, read_roi, read_truth
from edge.vision.slicing import grid_windows
from lobbywatch.config.counting import CountingConfig, MergeConfig

FRAME_SIZE = (640, 480)  # the Mall frames
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mall"


def parse_view(spec: str) -> tuple[int, int, int, bool]:
    """``full@640``, ``3x3@640``, ``3x3@640f`` (mirrored) -> (rows, cols, imgsz, flip)."""
    grid, _, size = spec.partition("@")
    flip = size.endswith("f")
    imgsz = int(size.rstrip("f"))
    if grid == "full":
        return 0, 0, imgsz, flip
    r, c = (int(v) for v in grid.lower().split("x"))
    return r, c, imgsz, flip


def run_view(det: PersonDetector, frame: np.ndarray, spec: str, overlap: float) -> np.ndarray:
    """Raw boxes of one view as an (N, 6) array: x1, y1, x2, y2, conf, cls (frame pixels)."""
    rows, cols, imgsz, flip = parse_view(spec)
    h, w = frame.shape[:2]
    src = frame[:, ::-1] if flip else frame
    src = np.ascontiguousarray(src)
    windows = [(0, 0, w, h)] if rows == 0 else grid_windows(w, h, rows, cols, overlap)
    crops = [np.ascontiguousarray(src[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
    out = []
    for (x0, y0, _, _), d in zip(windows, det._predict(crops, imgsz, det.settings.confidence), strict=True):
        xyxy = d.xyxy + np.asarray([x0, y0, x0, y0], np.float32)
        if flip:
            xyxy = np.stack([w - xyxy[:, 2], xyxy[:, 1], w - xyxy[:, 0], xyxy[:, 3]], axis=1)
        out.append(np.concatenate([xyxy, d.conf[:, None], d.cls[:, None]], axis=1))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 6), np.float32)


def cache(args: argparse.Namespace) -> None:
    import cv2

    truth = read_truth(args.data / "counts.csv")
    store: dict[str, np.ndarray] = {}
    if args.cache.exists():
        store = dict(np.load(args.cache))
    # The camera model's raw views only (the near model is the detector's, not a view here).
    settings = CountingConfig(confidence=args.conf, merge=MergeConfig(iou=args.nms_iou), near_model="none")
    det = PersonDetector(args.model, settings)
    todo = [(name, v) for name, _ in truth for v in args.views if f"{name}|{v}" not in store]
    started = time.perf_counter()
    for i, (name, view) in enumerate(todo, start=1):
        frame = cv2.imread(str(args.data / "frames" / name))
        if frame is None:
            sys.exit(f"{name}: missing or not an image")
        store[f"{name}|{view}"] = run_view(det, frame, view, args.overlap)
        if i % 10 == 0 or i == len(todo):
            np.savez(args.cache, **store)  # type: ignore[arg-type]
            rate = (time.perf_counter() - started) / i
            print(f"{i}/{len(todo)} views, {rate:.2f} s/view", file=sys.stderr, flush=True)


def cut_flags(boxes: np.ndarray, view: str, overlap: float = 0.2, tol: float = 2.0) -> np.ndarray:
    """Boxes of a tiled view that end on an inner edge of a tile (a person cut by the tile)."""
    rows, cols, _, _ = parse_view(view)
    cut = np.zeros(len(boxes), np.bool_)
    if rows == 0 or len(boxes) == 0:
        return cut
    w, h = FRAME_SIZE
    bx1, by1, bx2, by2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    for x0, y0, x1, y1 in grid_windows(w, h, rows, cols, overlap):
        inside = (bx1 >= x0 - 1) & (by1 >= y0 - 1) & (bx2 <= x1 + 1) & (by2 <= y1 + 1)
        edge = np.zeros(len(boxes), np.bool_)
        if x0 > 0:
            edge |= np.abs(bx1 - x0) < tol
        if y0 > 0:
            edge |= np.abs(by1 - y0) < tol
        if x1 < w:
            edge |= np.abs(bx2 - x1) < tol
        if y1 < h:
            edge |= np.abs(by2 - y1) < tol
        cut |= inside & edge
    return cut


def _areas(xyxy: np.ndarray) -> np.ndarray:
    areas: np.ndarray = np.maximum(0, xyxy[:, 2] - xyxy[:, 0]) * np.maximum(0, xyxy[:, 3] - xyxy[:, 1])
    return areas


def _overlap(
    xyxy: np.ndarray, areas: np.ndarray, i: int, others: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intersection areas and IoUs of box ``i`` with ``others``."""
    a, b = xyxy[i], xyxy[others]
    w = np.maximum(0, np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]))
    h = np.maximum(0, np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]))
    inter = w * h
    return inter, inter / np.maximum(areas[i] + areas[others] - inter, 1e-6)


def cut_nms(
    xyxy: np.ndarray, conf: np.ndarray, cut: np.ndarray, iou: float, containment: float
) -> np.ndarray:
    """NMS by IoU; containment suppresses only boxes cut by a tile edge."""
    areas = _areas(xyxy)
    order = np.argsort(-conf, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        inter, iou_v = _overlap(xyxy, areas, i, rest)
        inside = inter / np.maximum(areas[rest], 1e-6)  # share of the other box inside this one
        drop = (iou_v > iou) | (cut[rest] & (inside > containment))
        order = rest[~drop]
    return np.asarray(keep, np.intp)


def vote_keep(
    boxes: np.ndarray,
    view_ids: np.ndarray,
    n_views: int,
    iou: float,
    containment: float | None,
    min_score: float,
) -> np.ndarray:
    """Greedy clusters (best box first; members overlap it by IoU or containment); a cluster
    is kept when the mean over views of its best score in that view reaches ``min_score``."""
    xyxy, conf = boxes[:, :4], boxes[:, 4]
    areas = _areas(xyxy)
    order = np.argsort(-conf, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        inter, iou_v = _overlap(xyxy, areas, i, order)
        member = iou_v > iou
        if containment is not None:
            member |= inter / np.maximum(np.minimum(areas[i], areas[order]), 1e-6) > containment
        member[0] = True
        best = np.zeros(n_views)
        np.maximum.at(best, view_ids[order[member]], conf[order[member]])
        if best.mean() >= min_score:
            keep.append(i)
        order = order[~member]
    return np.asarray(keep, np.intp)


def merged_count(
    store: dict[str, np.ndarray],
    name: str,
    views: list[str],
    conf: float,
    iou: float,
    containment: float | None,
    roi: list[tuple[float, float]] | None,
    vote: float | None = None,
    clamp: tuple[int, int] | None = None,
    cut_only: bool = False,
) -> int:
    parts = [store[f"{name}|{v}"] for v in views]
    boxes = np.concatenate(parts)
    view_ids = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    cut = np.concatenate([cut_flags(p, v) for p, v in zip(parts, views, strict=True)])
    sel = boxes[:, 4] >= conf
    boxes, view_ids, cut = boxes[sel], view_ids[sel], cut[sel]
    if cut_only:
        keep = cut_nms(boxes[:, :4], boxes[:, 4], cut, iou, containment or 1.0)
    elif vote is None:
        keep = nms(boxes[:, :4], boxes[:, 4], iou, containment)
    else:
        keep = vote_keep(boxes, view_ids, len(views), iou, containment, vote)
    kept = boxes[keep]
    return count_in_roi(Detections(kept[:, :4], kept[:, 4], kept[:, 5]), roi, clamp)


def score(args: argparse.Namespace) -> None:
    truth = read_truth(args.data / "counts.csv")
    roi_path = args.data / "roi.json"
    roi = read_roi(roi_path) if roi_path.exists() else None
    store = dict(np.load(args.cache))
    readings = [args.views]
    if args.mirror:  # count the mirrored views too and report the mean of both counts
        readings.append([v if v.endswith("f") else v + "f" for v in args.views])
    needed = [v for r in readings for v in r]
    truth = [(n, c) for n, c in truth if all(f"{n}|{v}" in store for v in needed)]
    grid = itertools.product(
        args.conf_grid or [args.conf],
        args.iou_grid or [args.iou],
        args.containment_grid or [args.containment],
        args.vote_grid or [args.vote],
    )
    clamp = None if args.no_clamp else FRAME_SIZE
    true_n = np.asarray([n for _, n in truth], np.float64)
    for conf, iou, cont, vote in grid:
        counts = [
            [
                merged_count(store, name, views, conf, iou, cont, roi, vote, clamp, args.cut_only)
                for name, _ in truth
            ]
            for views in readings
        ]
        errs = np.mean(np.asarray(counts, np.float64), axis=0) - true_n
        sel = np.arange(len(errs)) % 10 == 0
        print(
            json.dumps(
                {
                    "views": args.views,
                    "mirror": args.mirror,
                    "conf": conf,
                    "iou": iou,
                    "containment": cont,
                    "vote": vote,
                    "images": len(errs),
                    "mae_all": round(float(np.abs(errs).mean()), 3),
                    "bias_all": round(float(errs.mean()), 3),
                    "mae_select": round(float(np.abs(errs[sel]).mean()), 3),
                    "mae_heldout": round(float(np.abs(errs[~sel]).mean()), 3),
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    s = sub.add_parser("score")
    for p in (c, s):
        p.add_argument("--data", type=Path, default=DEFAULT_DATA)
        p.add_argument("--cache", type=Path, required=True)
        p.add_argument("--views", nargs="+", default=["full@640", "3x3@640"])
    c.add_argument("--model", type=Path, default=None)
    c.add_argument("--conf", type=float, default=0.05)
    c.add_argument("--nms-iou", type=float, default=0.7)
    c.add_argument("--overlap", type=float, default=0.2)
    s.add_argument("--conf", type=float, default=0.1)
    s.add_argument("--iou", type=float, default=0.5)
    s.add_argument("--containment", type=float, default=0.8)
    s.add_argument("--mirror", action="store_true", help="average with the mirrored views' count")
    s.add_argument("--vote", type=float, default=None)
    s.add_argument("--cut-only", action="store_true", help="containment only for tile-cut boxes")
    s.add_argument("--vote-grid", type=float, nargs="*")
    s.add_argument("--no-clamp", action="store_true", help="anchor cut boxes on the frame edge")
    s.add_argument("--conf-grid", type=float, nargs="*")
    s.add_argument("--iou-grid", type=float, nargs="*")
    s.add_argument("--containment-grid", type=float, nargs="*")
    a = ap.parse_args()
    cache(a) if a.cmd == "cache" else score(a)


if __name__ == "__main__":
    main()
