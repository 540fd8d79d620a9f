"""What a count's MAE hides: people missed and boxes that are nobody, on the Mall variants.

A count can be right with a person missed and a false box elsewhere. This matches each
counted person's head point (:func:`edge.vision.evaluate.head_points`: a pose model's head
keypoints where it saw them, else the box's estimate) to the annotated heads of
``heads.json`` inside the same counted region (greedy, nearest first, within ``--within``
of the box's height) and reports, per variant: recall (annotated heads matched), false boxes
per frame (counted people matched to no head), misses per frame (both also for the upper
and lower half of the frame) and the count's MAE, the
same detector, settings and variants as :mod:`bench.count_generalisation`. Run::

    PYTHONPATH=$PWD .venv/bin/python -m bench.count_matching --every 2 --frames even \\
        --data ../shared/data/mall [--model PATH] [--variants mall zoom2]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.count_generalisation import VARIANTS, NearSetting, Variant, arguments, build, frame_names

Points = npt.NDArray[np.float64]


def match(found: Points, heights: Points, truth: Points, within: float) -> list[tuple[int, int]]:
    """The (found, truth) index pairs: each of ``found`` (N, 2) with a distinct ``truth``
    (M, 2) head, nearest first, each within ``within`` times its box's height."""
    if not len(found) or not len(truth):
        return []
    dist = np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=2) / np.maximum(heights, 1.0)[:, None]
    pairs: list[tuple[int, int]] = []
    for flat in np.argsort(dist, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, dist.shape)
        if not np.isfinite(dist[i, j]):  # its box or its head is taken
            continue
        if dist[i, j] > within:
            break
        pairs.append((int(i), int(j)))
        dist[i, :] = np.inf
        dist[:, j] = np.inf
    return pairs


def run(
    variant: Variant,
    names: list[str],
    cache: Path,
    data: Path,
    model: Path,
    within: float,
    near_model: NearSetting = "auto",
) -> dict[str, object]:
    from edge.vision.detector import PersonDetector
    from edge.vision.evaluate import head_points, read_frames
    from edge.vision.zones import points_in_polygon
    from lobbywatch.config.counting import CountingConfig

    folder, truth, roi = build(variant, names, cache, data)
    heads = json.loads((data / "heads.json").read_text(encoding="utf-8"))
    detector = PersonDetector(model, CountingConfig(near_model=near_model), roi=roi)
    for frame in read_frames(folder, names[:: max(1, len(names) // 60)]):  # the scale, as eval counts
        detector.learn(frame)
    detector.end_learning()
    x0, y0 = variant.crop[0], variant.crop[1]
    matched = counted_err = true_total = 0
    misses = np.zeros(2, np.int64)  # upper, lower half of the frame (far, near on a tilted camera)
    false = np.zeros(2, np.int64)
    frames = read_frames(folder, [name for name, _n in truth])
    for (name, true_n), frame in zip(truth, frames, strict=True):
        found = detector.detect(frame)
        points = head_points(found.xyxy, found.keypoints)
        inside = points_in_polygon(points, roi) if len(points) else np.zeros(0, np.bool_)
        points = points[inside]
        annotated = (np.asarray(heads[name], np.float64).reshape(-1, 2) - [x0, y0]) * variant.zoom
        annotated = annotated[points_in_polygon(annotated, roi)] if len(annotated) else annotated
        heights = (found.xyxy[:, 3] - found.xyxy[:, 1]).astype(np.float64)[inside]
        pairs = match(points, heights, annotated, within)
        middle = frame.shape[0] / 2
        for k in set(range(len(points))) - {i for i, _ in pairs}:
            false[int(points[k, 1] >= middle)] += 1
        for k in set(range(len(annotated))) - {j for _, j in pairs}:
            misses[int(annotated[k, 1] >= middle)] += 1
        matched += len(pairs)
        counted_err += abs(len(points) - true_n)
        true_total += true_n
    n = max(len(truth), 1)
    return {
        "variant": variant.name,
        "model": model.name,
        "near_model": None if detector.near_model is None else detector.near_model.name,
        "images": len(truth),
        "mean_true": round(true_total / n, 2),
        "recall": round(matched / max(true_total, 1), 3),
        "misses_per_frame": round(int(misses.sum()) / n, 2),
        "false_per_frame": round(int(false.sum()) / n, 2),
        "misses_per_frame_upper_lower": [round(int(m) / n, 2) for m in misses],
        "false_per_frame_upper_lower": [round(int(f) / n, 2) for f in false],
        "count_mae": round(counted_err / n, 3),
    }


def main() -> None:
    p = arguments(__doc__)
    p.add_argument("--within", type=float, default=0.5, help="Match radius, in box heights.")
    a = p.parse_args()
    names = frame_names(a)
    for v in VARIANTS:
        if v.name in a.variants:
            print(json.dumps(run(v, names, a.cache, a.data, a.model, a.within, a.near_model)), flush=True)


if __name__ == "__main__":
    main()
