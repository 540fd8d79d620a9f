"""Vision throughput: raw ultralytics predict loop against the full pipeline; the backends.

    nice .venv/bin/python bench/vision_fps.py [--frames DIR] [--n 30] [--imgsz 640]
        [--mall DIR] [--limit 20] [--int8 CALIBRATION_DIR] [--no-pipeline | --no-backends]

In one run, on the same frames:

* raw: ``YOLO(model).predict(frame)`` in a loop (what the model alone costs);
* pipeline: detect (same model and settings) + ByteTrack + zones/dwell + publish to a real
  Mosquitto (started here via ``lobbywatch.services.Mosquitto``), with per-stage ms
  (``--no-pipeline`` skips raw and pipeline);
* backends: the detector on the ``.pt`` through ultralytics against the same model's ONNX
  export on ONNX Runtime and its NCNN export on NCNN (:mod:`edge.vision.backends`), whole
  frame at ``--imgsz``: fps and CPU seconds per frame (all threads; steadier than fps on a
  shared machine). The NCNN export has a fixed square input (640x640 from scripts/setup.sh),
  so on a 4:3 frame it reads a third more pixels than the others (640x480);
* counting: ``eval counts`` (:func:`edge.vision.evaluate.evaluate_counts`, its default
  settings: scale-adaptive slicing, and the near model beside each backend's file where there
  is one, docs/vision.md "Two models") with each backend on the first ``--limit`` frames of
  the Mall sample (``--mall``: frames/, counts.csv, roi.json): MAE and seconds per image;
* with ``--int8 DIR``, the same for an INT8 copy of the ONNX export calibrated on the frames
  in DIR (:func:`edge.vision.export.quantize_onnx`; give it frames that are not counted).

The backends are interleaved frame by frame, the order rotating each frame (a b c, b c a, ...),
so that load from other processes on a shared machine hits all alike. The ONNX model is
``models/person-yolov8s.onnx`` and the NCNN one ``models/person-yolov8s_ncnn_model``
(scripts/setup.sh) for the bundled detector, else exported into a temporary folder.
Prints one JSON object last.
"""

from __future__ import annotations

import os

# Every runtime's threads sleep between parallel regions instead of spinning (ONNX Runtime's
# session sets this for itself). Set before torch loads: torch's GNU OpenMP is the one NCNN then
# runs on too, and it reads this once (spinning, NCNN took 8x the CPU time here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.vision.detector import PersonDetector, prepare_ultralytics_env, resolve_model_path  # noqa: E402

MALL = ROOT.parent / "shared" / "data" / "mall"


def _whole_frame(imgsz: int, conf: float) -> Any:
    """Counting settings for timing the model alone: the full frame, no slicing, no near model."""
    from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode

    off = SlicingConfig(mode=SlicingMode.OFF)
    return CountingConfig(imgsz=imgsz, confidence=conf, slicing=off, near_model="none")


def _frames(folder: Path | None, n: int) -> list[Any]:
    import cv2

    if folder is None:
        folder = MALL / "frames" if MALL.is_dir() else None
    if folder is None:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        paths = sorted(assets.glob("*.jpg"))
    else:
        paths = sorted(folder.glob("*.jpg"))
    images = [cv2.imread(str(p)) for p in paths[:n]]
    while len(images) < n:
        images += images[: n - len(images)]
    return images


def _site(width: int, height: int) -> Any:
    from lobbywatch.config.site import SiteConfig

    w2, h2 = width // 2, height // 2
    return SiteConfig.model_validate(
        {
            "site": "bench",
            "name": {"en": "Bench hall", "zh-CN": "基准测试厅"},
            "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "18:00"}],
            "zones": [
                {"id": "queue", "kind": "queue"},
                {"id": "waiting", "kind": "waiting"},
                {"id": "counter", "kind": "counter"},
                {"id": "entrance", "kind": "entrance"},
            ],
            "counters": [{"id": "c1", "zone": "counter", "queue": "queue"}],
            "cameras": [
                {
                    "id": "cam",
                    "source": "unused",
                    "zones": [
                        {"zone": "queue", "polygon": [[0, 0], [w2, 0], [w2, h2], [0, h2]]},
                        {"zone": "waiting", "polygon": [[w2, 0], [width, 0], [width, h2], [w2, h2]]},
                        {"zone": "counter", "polygon": [[0, h2], [w2, h2], [w2, height], [0, height]]},
                        {
                            "zone": "entrance",
                            "polygon": [[w2, h2], [width, h2], [width, height], [w2, height]],
                        },
                    ],
                }
            ],
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=Path, default=None, help="folder of .jpg frames (default: mall)")
    ap.add_argument("--n", type=int, default=30, help="frames per loop")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--mall", type=Path, default=MALL, help="Mall sample: frames/, counts.csv, roi.json")
    ap.add_argument("--limit", type=int, default=20, help="Mall frames counted per backend")
    ap.add_argument("--int8", type=Path, default=None, help="calibration frames: also compare INT8 ONNX")
    skip = ap.add_mutually_exclusive_group()
    skip.add_argument("--no-backends", action="store_true", help="skip the backend comparison")
    skip.add_argument("--no-pipeline", action="store_true", help="only the backend comparison")
    a = ap.parse_args()

    prepare_ultralytics_env()
    model_path = resolve_model_path(a.model)
    frames = _frames(a.frames, a.n)
    result: dict[str, Any] = {
        "frames": len(frames),
        "frame_size": list(frames[0].shape[1::-1]),
        "imgsz": a.imgsz,
    }
    if not a.no_pipeline:
        result.update(_pipeline(model_path, frames, a))
    if not a.no_backends:
        with tempfile.TemporaryDirectory() as tmp:
            result.update(_backends(model_path, frames, a, Path(tmp)))
    print(json.dumps(result))


def _pipeline(model_path: Path, frames: list[Any], a: argparse.Namespace) -> dict[str, Any]:
    """The raw ultralytics predict loop against the daemon's whole pipeline, interleaved."""
    from ultralytics import YOLO  # type: ignore[attr-defined]

    from edge.vision.daemon import VisionDaemon
    from edge.vision.source import FrameSource
    from edge.vision.tracker import ByteTracker
    from lobbywatch.config.site import BrokerConfig
    from lobbywatch.services import Mosquitto

    h, w = frames[0].shape[:2]
    raw_model = YOLO(str(model_path), task="detect")
    kw = {"imgsz": a.imgsz, "conf": a.conf, "iou": 0.5, "agnostic_nms": True, "verbose": False}
    detector = PersonDetector(model_path, _whole_frame(a.imgsz, a.conf))

    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp)) as broker:
        site = _site(w, h)
        daemon = VisionDaemon(
            site,
            "cam",
            broker=BrokerConfig(host=broker.host, port=broker.port),
            detector=detector,
            tracker=ByteTracker(),
            source=FrameSource("unused-not-started"),
        )
        daemon.publisher.start(daemon.pipeline.start(daemon.clock.now()))
        for f in frames[:2]:  # warm-up both paths
            raw_model.predict(f, **kw)
            daemon.process(f)
        daemon.times.totals.clear()
        daemon.times.frames = 0
        raw_s: list[float] = []
        pipe_s: list[float] = []
        for f in frames:
            t0 = time.perf_counter()
            raw_model.predict(f, **kw)
            t1 = time.perf_counter()
            daemon.process(f)
            t2 = time.perf_counter()
            raw_s.append(t1 - t0)
            pipe_s.append(t2 - t1)
        stages = daemon.times.ms_per_frame()
        daemon.publisher.stop()
        published = daemon.publisher.published

    raw_fps = len(raw_s) / sum(raw_s)
    pipe_fps = len(pipe_s) / sum(pipe_s)
    result: dict[str, Any] = {
        "raw_fps": round(raw_fps, 3),
        "pipeline_fps": round(pipe_fps, 3),
        "ratio": round(pipe_fps / raw_fps, 3),
        "overhead_pct": round((1 - pipe_fps / raw_fps) * 100, 1),
        "median_raw_ms": round(statistics.median(raw_s) * 1000, 1),
        "median_pipeline_ms": round(statistics.median(pipe_s) * 1000, 1),
        "stage_ms": stages,
        "messages_published": published,
    }
    print(f"raw predict     : {raw_fps:.2f} fps", file=sys.stderr)
    print(f"full pipeline   : {pipe_fps:.2f} fps (ratio {pipe_fps / raw_fps:.3f})", file=sys.stderr)
    print(f"per stage (ms)  : {stages}", file=sys.stderr)
    return result


def _export_for(model_path: Path, fmt: str, folder: Path) -> Path:
    """The ``fmt`` (onnx, ncnn) export of ``model_path``: next to it as scripts/setup.sh writes
    it when there, else exported (at 640) into ``folder``."""
    beside = (
        model_path.with_suffix(".onnx")
        if fmt == "onnx"
        else model_path.with_name(f"{model_path.stem}_ncnn_model")
    )
    if beside.exists():
        return beside
    from edge.vision.export import export_model

    weights = folder / model_path.name
    if not weights.exists():
        shutil.copy(model_path, weights)
    return export_model(weights, fmt, 640)


def _backends(model_path: Path, frames: list[Any], a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The .pt on ultralytics against its ONNX export (and INT8 copy) on ONNX Runtime and its
    NCNN export on NCNN: fps, CPU time, counting MAE and time."""
    from edge.vision.evaluate import evaluate_counts, read_roi, read_truth

    paths = {k: _export_for(model_path, k, tmp) for k in ("onnx", "ncnn")}
    paths = {"pt": model_path, **paths}
    if a.int8 is not None:
        from edge.vision.export import quantize_onnx

        fp32 = tmp / "fp32.onnx"
        shutil.copy(paths["onnx"], fp32)
        paths["int8"] = quantize_onnx(fp32, sorted(a.int8.glob("*.jpg")), 640)
    out: dict[str, Any] = {"onnx_model": str(paths["onnx"]), "ncnn_model": str(paths["ncnn"])}
    plain = {k: PersonDetector(p, _whole_frame(a.imgsz, a.conf)) for k, p in paths.items()}
    wall: dict[str, list[float]] = {k: [] for k in plain}
    cpu: dict[str, list[float]] = {k: [] for k in plain}
    for det in plain.values():
        det.detect(frames[0])  # warm-up
    keys = list(plain)
    for i, f in enumerate(frames):
        for k in keys[i % len(keys) :] + keys[: i % len(keys)]:
            det = plain[k]
            c0, t0 = time.process_time(), time.perf_counter()
            det.detect(f)
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    for k in plain:
        out[f"{k}_fps"] = round(len(wall[k]) / sum(wall[k]), 3)
        out[f"{k}_cpu_s_per_frame"] = round(statistics.mean(cpu[k]), 3)
        if k != "pt":
            out[f"{k}_speedup"] = round(out[f"{k}_fps"] / out["pt_fps"], 3)
            out[f"{k}_cpu_speedup"] = round(out["pt_cpu_s_per_frame"] / out[f"{k}_cpu_s_per_frame"], 3)
        print(
            f"{k:5} whole frame: {out[f'{k}_fps']} fps, CPU {out[f'{k}_cpu_s_per_frame']} s/frame",
            file=sys.stderr,
        )
    if not (a.mall / "counts.csv").exists() or a.limit <= 0:
        return out
    # eval counts' defaults (lobbywatch/config/counting.py): scale-adaptive slicing
    counting = {k: PersonDetector(p) for k, p in paths.items()}
    roi = read_roi(a.mall / "roi.json")
    errors: dict[str, list[float]] = {k: [] for k in counting}
    seconds: dict[str, float] = dict.fromkeys(counting, 0.0)
    for i, row in enumerate(read_truth(a.mall / "counts.csv")[: a.limit]):
        for k in keys[i % len(keys) :] + keys[: i % len(keys)]:
            one = evaluate_counts(a.mall / "frames", [row], counting[k], roi=roi, progress=None)
            errors[k].append(one.bias)  # predicted - true, for this one image
            seconds[k] += one.ms_per_frame / 1000
    out["mall_images"] = len(errors["pt"])
    for k in counting:
        out[f"{k}_mae"] = round(statistics.mean(abs(e) for e in errors[k]), 3)
        out[f"{k}_count_s_per_image"] = round(seconds[k] / max(len(errors[k]), 1), 2)
        print(
            f"{k:5} counting: MAE {out[f'{k}_mae']} on {out['mall_images']} Mall images, "
            f"{out[f'{k}_count_s_per_image']} s/image",
            file=sys.stderr,
        )
        if k != "pt":
            out[f"{k}_count_speedup"] = round(out["pt_count_s_per_image"] / out[f"{k}_count_s_per_image"], 3)
            out[f"{k}_same_counts_as_pt"] = sum(p == o for p, o in zip(errors["pt"], errors[k], strict=True))
    return out


if __name__ == "__main__":
    main()
