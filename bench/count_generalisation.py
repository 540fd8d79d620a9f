"""Counting on cameras it was never tuned on: scale-shifted variants of the Mall frames.

From ``heads.json`` (every person's head position in each Mall frame) this builds variants
with exact truth, under a cache folder (never the repo), and counts them with the default
counting settings through the daemon's own detector (:func:`edge.vision.detector.PersonDetector`
with :class:`lobbywatch.config.counting.CountingConfig` defaults, via
:func:`edge.vision.evaluate.evaluate_counts`, which first learns the scale from the images):

* ``mall``: the frames as they are, with the Mall ROI (truth: ``counts.csv``);
* ``zoom2``, ``zoom2.5``: crops of the near part, enlarged so people are 2x and 2.5x larger;
* ``half``: the whole frame at half size (people smaller), with the ROI halved;
* ``edge``: a crop of the sparse left edge, as it is.

Truth is the number of heads inside the counted region (the ROI), the Mall's own convention
(its ``counts.csv`` is exactly the heads inside its ROI), and the counter tests the same point
of each detected person, its estimated head (:class:`edge.vision.evaluate.Anchor`), on every
variant alike. A crop's edges cut people (a body whose head is above the top edge, a head
whose body is below the bottom edge), so a crop's ROI is the crop inset by ``INSET`` of its
smaller side: every head inside it belongs to a person whose head is in the picture, and
every box cut by the crop's border has its head point outside it. Nothing is tuned to
one variant. Each variant prints one JSON line: MAE, bias and relative error for all, even
and odd frames, detector passes and ms per frame (``--frames even`` or ``odd`` runs one
half). Run (about 2 CPU-hours for all 200 frames; ``--every 4`` for a quarter)::

    PYTHONPATH=$PWD .venv/bin/python -m bench.count_generalisation --every 1 --data ../shared/data/mall
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MALL = ROOT.parent / "shared" / "data" / "mall"
MODEL = ROOT / "models" / "person-yolov8s.onnx"
NearSetting = Path | Literal["auto", "none"]

Rect = tuple[int, int, int, int]
INSET = 0.1  # a crop's ROI is the crop inset by this share of its smaller side, on every side


@dataclass(frozen=True)
class Variant:
    name: str
    crop: Rect  # x0, y0, x1, y1 in Mall pixels
    zoom: float  # output pixels per Mall pixel
    roi: bool  # count inside the Mall ROI (the whole frame); else inside the inset crop


VARIANTS = (
    Variant("mall", (0, 0, 640, 480), 1.0, True),
    Variant("zoom2", (160, 240, 480, 480), 2.0, False),
    Variant("zoom2.5", (192, 288, 448, 480), 2.5, False),
    Variant("edge", (0, 160, 240, 480), 1.0, False),
    Variant("half", (0, 0, 640, 480), 0.5, True),
)


def build(
    variant: Variant, names: list[str], out: Path, data: Path
) -> tuple[Path, list[tuple[str, int]], list[tuple[float, float]]]:
    """Write the variant's images under ``out``; its truth rows and counting ROI (pixels)."""
    import cv2

    from edge.vision.evaluate import read_roi
    from edge.vision.zones import points_in_polygon

    heads = json.loads((data / "heads.json").read_text(encoding="utf-8"))
    x0, y0, x1, y1 = variant.crop
    if variant.roi:
        region = read_roi(data / "roi.json")  # Mall pixels
    else:
        m = INSET * min(x1 - x0, y1 - y0)
        region = [(x0 + m, y0 + m), (x1 - m, y0 + m), (x1 - m, y1 - m), (x0 + m, y1 - m)]
    folder = out / variant.name
    folder.mkdir(parents=True, exist_ok=True)
    truth: list[tuple[str, int]] = []
    for name in names:
        pts = np.asarray(heads[name], np.float64).reshape(-1, 2)
        truth.append((name, int(points_in_polygon(pts, region).sum())))
        target = folder / name
        if not target.exists():
            frame = cv2.imread(str(data / "frames" / name))
            if frame is None:
                sys.exit(f"{data / 'frames' / name}: missing or not an image")
            crop = frame[y0:y1, x0:x1]
            size = (round((x1 - x0) * variant.zoom), round((y1 - y0) * variant.zoom))
            if variant.zoom != 1.0:
                crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
            cv2.imwrite(str(target), crop)
    roi = [((x - x0) * variant.zoom, (y - y0) * variant.zoom) for x, y in region]
    return folder, truth, roi


def summarise(rows: list[tuple[str, int, int]]) -> dict[str, float]:
    if not rows:
        return {"images": 0}
    err = np.asarray([p - t for _, t, p in rows], np.float64)
    mean_true = float(np.mean([t for _, t, _ in rows]))
    mae = float(np.abs(err).mean())
    return {
        "images": len(rows),
        "mean_true": round(mean_true, 2),
        "mae": round(mae, 3),
        "bias": round(float(err.mean()), 3),
        "relative_error": round(mae / mean_true, 4) if mean_true else float("inf"),
    }


def run(
    variant: Variant,
    names: list[str],
    cache: Path,
    data: Path,
    model: Path = MODEL,
    near_model: NearSetting = "auto",
) -> dict[str, object]:
    from edge.vision.detector import PersonDetector
    from edge.vision.evaluate import Anchor, evaluate_counts
    from lobbywatch.config.counting import CountingConfig

    folder, truth, roi = build(variant, names, cache, data)
    settings = CountingConfig(near_model=near_model)  # the defaults: what a camera runs unconfigured
    detector = PersonDetector(model, settings, roi=roi)
    tag = model.stem if detector.near_model is None else f"{model.stem}+{detector.near_model.stem}"
    per_image = cache / f"{variant.name}-{tag}.csv"
    summary = evaluate_counts(
        folder, truth, detector, roi=roi, out=per_image, progress=None, anchor=Anchor.HEAD
    )
    with per_image.open(encoding="utf-8") as fh:
        rows = [(r["image"], int(r["persons"]), int(r["predicted"])) for r in csv.DictReader(fh)]
    index = {name: i for i, name in enumerate(sorted(json.loads((data / "heads.json").read_text())))}
    return {
        "variant": variant.name,
        "model": model.name,
        "near_model": None if detector.near_model is None else detector.near_model.name,
        "all": summarise(rows),
        "even": summarise([r for r in rows if index[r[0]] % 2 == 0]),
        "odd": summarise([r for r in rows if index[r[0]] % 2 == 1]),
        "passes_per_frame": round(summary.passes_per_frame, 2),
        "ms_per_frame": round(summary.ms_per_frame, 1),
        "scale": None if detector.scale.coef is None else [round(c, 3) for c in detector.scale.coef],
    }


def near_setting(text: str) -> NearSetting:
    """``--near-model``: 'auto', 'none' or a path, as ``counting.near_model`` takes them."""
    return "auto" if text == "auto" else "none" if text == "none" else Path(text)


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every Mall-variant benchmark takes (data, frames, variants, model, cache)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=MALL, help="The Mall sample (frames/, heads.json, roi.json).")
    p.add_argument("--every", type=int, default=1, help="Use frames 2k*every and 2k*every+1 (pairs).")
    p.add_argument("--variants", nargs="*", default=[v.name for v in VARIANTS])
    p.add_argument(
        "--model",
        type=Path,
        default=MODEL,
        help="Another detector to compare (any ultralytics detect or pose export); default: the shipped one.",
    )
    p.add_argument(
        "--near-model",
        type=near_setting,
        default="auto",
        help=(
            "The detector for the rows where people are large (counting.near_model): a path, 'none' "
            "(the camera's model everywhere) or 'auto' (default: the bundled one beside --model)."
        ),
    )
    p.add_argument(
        "--frames",
        choices=("all", "even", "odd"),
        default="all",
        help="Only the even frames (where settings are chosen) or the odd ones (checked apart).",
    )
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lobbywatch-count-variants")
    return p


def frame_names(a: argparse.Namespace) -> list[str]:
    """The frames ``--every`` and ``--frames`` select, in order."""
    names = sorted(json.loads((a.data / "heads.json").read_text(encoding="utf-8")))
    index = {n: i for i, n in enumerate(names)}
    # an even and an odd frame from every pair kept, so both halves are represented
    names = [n for i, n in enumerate(names) if (i // 2) % a.every == 0]
    if a.frames != "all":
        names = [n for n in names if (index[n] % 2 == 0) == (a.frames == "even")]
    return names


def main() -> None:
    a = arguments(__doc__).parse_args()
    names = frame_names(a)
    for v in VARIANTS:
        if v.name in a.variants:
            print(json.dumps(run(v, names, a.cache, a.data, a.model, a.near_model)), flush=True)
    print(f"images and per-image CSVs: {a.cache}", file=sys.stderr)


if __name__ == "__main__":
    main()
