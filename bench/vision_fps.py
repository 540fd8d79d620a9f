"""Vision throughput: raw ultralytics predict loop against the full pipeline, .pt against ONNX.

    .venv/bin/python bench/vision_fps.py [--frames DIR] [--n 30] [--imgsz 640] [--no-onnx]

In one run, on the same frames:

* raw: ``YOLO(model).predict(frame)`` in a loop (what the model alone costs);
* pipeline: detect (same model and settings) + ByteTrack + zones/dwell + publish to a real
  Mosquitto (started here via ``lobbywatch.services.Mosquitto``), with per-stage ms;
* the same raw loop on the ONNX export of the model.

Raw and pipeline frames are interleaved (raw, pipeline, raw, ...) so that load from other
processes on a shared machine hits both alike. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.vision.detector import prepare_ultralytics_env, resolve_model_path  # noqa: E402

MALL = ROOT.parent / "shared" / "data" / "mall" / "frames"


def _frames(folder: Path | None, n: int) -> list[Any]:
    import cv2

    if folder is None:
        folder = MALL if MALL.is_dir() else None
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
    ap.add_argument("--no-onnx", action="store_true")
    a = ap.parse_args()

    prepare_ultralytics_env()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    from edge.vision.daemon import VisionDaemon
    from edge.vision.detector import PersonDetector
    from edge.vision.source import FrameSource
    from edge.vision.tracker import ByteTracker
    from lobbywatch.config.site import BrokerConfig
    from lobbywatch.services import Mosquitto

    model_path = resolve_model_path(a.model)
    frames = _frames(a.frames, a.n)
    h, w = frames[0].shape[:2]
    raw_model = YOLO(str(model_path), task="detect")
    kw = {"imgsz": a.imgsz, "conf": a.conf, "iou": 0.5, "agnostic_nms": True, "verbose": False}
    detector = PersonDetector(model_path, imgsz=a.imgsz, conf=a.conf, iou=0.5)

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
        "frames": len(frames),
        "frame_size": [w, h],
        "imgsz": a.imgsz,
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

    if not a.no_onnx:
        # Exported at this run's input size (written next to the model, as export-model does).
        onnx_path = Path(
            YOLO(str(model_path), task="detect").export(format="onnx", imgsz=a.imgsz, verbose=False)
        )
        onnx_model = YOLO(str(onnx_path), task="detect")
        onnx_model.predict(frames[0], **kw)
        pt_s: list[float] = []
        ox_s: list[float] = []
        for f in frames:
            t0 = time.perf_counter()
            raw_model.predict(f, **kw)
            t1 = time.perf_counter()
            onnx_model.predict(f, **kw)
            t2 = time.perf_counter()
            pt_s.append(t1 - t0)
            ox_s.append(t2 - t1)
        result["pt_fps"] = round(len(pt_s) / sum(pt_s), 3)
        result["onnx_fps"] = round(len(ox_s) / sum(ox_s), 3)
        print(f".pt vs ONNX     : {result['pt_fps']} vs {result['onnx_fps']} fps", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
