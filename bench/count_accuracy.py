"""Counting accuracy of the vision detector on a folder of frames (e.g. ../shared/data/mall).

    .venv/bin/python bench/count_accuracy.py --data ../shared/data/mall --imgsz 960 \
        --tiles 2x2 --tile-imgsz 640 --conf 0.15 [--every 4]

Reads the data by path only; prints the same JSON summary as ``lobbywatch eval counts``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.vision.detector import PersonDetector  # noqa: E402
from edge.vision.evaluate import evaluate_counts, read_roi, read_truth  # noqa: E402
from lobbywatch.config.site import TilingConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "mall")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--tiles", default="", help="ROWSxCOLS, e.g. 2x2; empty for none")
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--tile-imgsz", type=int, default=None)
    ap.add_argument("--no-full-frame", action="store_true")
    ap.add_argument("--containment", type=float, default=0.8)
    ap.add_argument("--edge-margin", type=float, default=None)
    ap.add_argument("--every", type=int, default=1, help="use every Nth frame (quick looks)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    tiling = None
    if a.tiles:
        r, c = (int(v) for v in a.tiles.lower().split("x"))
        tiling = TilingConfig(rows=r, cols=c, overlap=a.overlap, full_frame=not a.no_full_frame)
    det = PersonDetector(
        a.model,
        imgsz=a.imgsz,
        conf=a.conf,
        iou=a.iou,
        tiling=tiling,
        tile_imgsz=a.tile_imgsz,
        containment=a.containment,
        edge_margin=a.edge_margin,
    )
    truth = read_truth(a.data / "counts.csv")[:: a.every]
    roi_path = a.data / "roi.json"
    summary = evaluate_counts(
        a.data / "frames",
        truth,
        det.detect,
        roi=read_roi(roi_path) if roi_path.exists() else None,
        out=a.out,
    )
    print(summary.as_json())


if __name__ == "__main__":
    main()
