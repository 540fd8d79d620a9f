"""The ultralytics backend: ``.pt`` weights and the formats only ultralytics loads (TensorRT
engines, OpenVINO folders). Needs torch: the ``vision`` install, not ``edge``. A detect, pose
(keypoints carried on the boxes) or segment (boxes only) model; see docs/vision.md (Backends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.vision.backends.yolo_meta import check_task
from edge.vision.detector import Detections, Frame, prepare_ultralytics_env


class UltralyticsBackend:
    """``YOLO(path).predict`` with ultralytics' own pre-processing and class-agnostic NMS.

    ``rect=False`` letterboxes every image to the whole ``imgsz`` square, the input a
    fixed-shape export (NCNN) sees, instead of the minimal rectangle (the parity test
    compares the two on the same input).
    """

    name = "ultralytics"

    def __init__(self, path: Path, *, device: str = "cpu", rect: bool = True) -> None:
        prepare_ultralytics_env()
        from ultralytics import YOLO  # type: ignore[attr-defined]

        self.model: Any = YOLO(str(path))  # its task: the checkpoint's, or an export's metadata
        check_task(str(self.model.task), str(path))
        self.device = device
        self.rect = rect

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        results = self.model.predict(
            images,
            imgsz=imgsz,
            conf=conf,
            iou=iou,
            classes=classes,
            agnostic_nms=True,
            device=self.device,
            rect=self.rect,
            verbose=False,
        )
        out: list[Detections] = []
        for r in results:
            boxes = r.boxes
            kpts = None if r.keypoints is None else np.asarray(r.keypoints.data.cpu().numpy(), np.float32)
            out.append(
                Detections(
                    np.asarray(boxes.xyxy.cpu().numpy(), np.float32).reshape(-1, 4),
                    np.asarray(boxes.conf.cpu().numpy(), np.float32).reshape(-1),
                    np.asarray(boxes.cls.cpu().numpy(), np.float32).reshape(-1),
                    kpts,
                )
            )
        return out
