"""Input and output of a YOLO detector for runtimes that hand back the raw output tensor.

Written once for every such backend (ONNX Runtime, NCNN): letterboxing a batch of BGR images
into the network's input, and decoding its ``(batch, channels, anchors)`` output into
:class:`~edge.vision.detector.Detections` in image pixels (confidence and class filter,
class-agnostic NMS; a pose model's keypoints too), reading the channels as the model's
metadata says (:mod:`edge.vision.backends.yolo_meta`). Each step follows ultralytics'
predictor, so a backend gives the boxes that ``YOLO(...).predict`` gives for the same model
(tests/edge/vision/test_backend_parity.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.backends.yolo_meta import OutputLayout
from edge.vision.detector import Detections, FloatArray, Frame, nms

STRIDE = 32  # YOLOv8's largest stride: input sides are multiples of it
PAD_VALUE = 114  # grey border, as in training
MAX_DET = 300  # boxes kept per image after NMS
MAX_NMS = 30000  # candidates that go into NMS, best first


def input_side(imgsz: int) -> int:
    """``imgsz`` rounded up to a multiple of the stride (as ultralytics does)."""
    return max(STRIDE, math.ceil(imgsz / STRIDE) * STRIDE)


@dataclass(frozen=True, slots=True)
class Letterboxed:
    """An image scaled (aspect kept) and padded to the network's input, and how to undo it."""

    image: Frame
    gain: tuple[float, float]  # (x, y): input pixels per image pixel
    pad: tuple[int, int]  # (left, top) border, input pixels
    size: tuple[int, int]  # original (width, height)


def letterbox(image: Frame, shape: tuple[int, int], *, auto: bool) -> Letterboxed:
    """Fit ``image`` into ``shape`` (height, width); with ``auto`` pad only to the stride."""
    h, w = image.shape[:2]
    r = min(shape[0] / h, shape[1] / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = shape[1] - new_w, shape[0] - new_h
    if auto:
        dw, dh = dw % STRIDE, dh % STRIDE
    if (w, h) != (new_w, new_h):
        image = np.asarray(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR), np.uint8)
    top, bottom = round(dh / 2 - 0.1), round(dh / 2 + 0.1)
    left, right = round(dw / 2 - 0.1), round(dw / 2 + 0.1)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return Letterboxed(np.asarray(padded, np.uint8), (new_w / w, new_h / h), (left, top), (w, h))


def letterbox_batch(
    images: list[Frame], imgsz: int, fixed: tuple[int, int] | None = None
) -> list[Letterboxed]:
    """Letterbox every image to one input shape.

    ``fixed`` (height, width) is the input of a model exported with a static shape. Otherwise
    the input is ``imgsz`` square, trimmed to the stride when all images share one shape
    (a minimal rectangle: fewer pixels for wide frames), as ultralytics does.
    """
    if fixed is not None:
        return [letterbox(im, fixed, auto=False) for im in images]
    side = input_side(imgsz)
    same = len({im.shape for im in images}) == 1
    return [letterbox(im, (side, side), auto=same) for im in images]


def to_tensor(boxed: list[Letterboxed]) -> FloatArray:
    """NCHW float32 RGB in 0..1, the network's input."""
    batch = np.stack([b.image for b in boxed])[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255.0)


def decode(
    output: npt.NDArray[np.floating],
    boxed: Letterboxed,
    *,
    nc: int,
    kpt_shape: tuple[int, int] | None = None,
    conf: float,
    iou: float,
    classes: list[int] | None,
) -> Detections:
    """One image's raw output ``(4 + nc [+ keypoints | + mask coefficients], anchors)`` as boxes
    in image pixels.

    The ``nc`` channels after the box are the class scores; a pose model's next ones are its
    keypoints (``kpt_shape``: count, values each), anything after them (a segment model's mask
    coefficients) is not read. Best class per anchor above ``conf``, only ``classes`` when
    given, class-agnostic NMS at ``iou``, at most :data:`MAX_DET` boxes; centre/size boxes
    become corners, the letterbox is undone and boxes and keypoints are clipped to the image.
    """
    pred = np.asarray(output, np.float32).T  # (anchors, channels)
    scores = pred[:, 4 : 4 + nc]
    best = scores.max(axis=1)
    pred, scores, best = pred[best > conf], scores[best > conf], best[best > conf]
    cls = scores.argmax(axis=1).astype(np.float32)
    if classes is not None:
        wanted = np.isin(cls, np.asarray(classes, np.float32))
        pred, best, cls = pred[wanted], best[wanted], cls[wanted]
    if len(pred) > MAX_NMS:
        top = np.argsort(-best, kind="stable")[:MAX_NMS]
        pred, best, cls = pred[top], best[top], cls[top]
    xyxy = np.empty((len(pred), 4), np.float32)
    xyxy[:, :2] = pred[:, :2] - pred[:, 2:4] / 2
    xyxy[:, 2:] = pred[:, :2] + pred[:, 2:4] / 2
    keep = nms(xyxy, best, iou)[:MAX_DET]
    xyxy, best, cls, pred = xyxy[keep], best[keep], cls[keep], pred[keep]
    (gx, gy), (px, py), (w, h) = boxed.gain, boxed.pad, boxed.size
    xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - px) / gx).clip(0, w)
    xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - py) / gy).clip(0, h)
    keypoints = None
    if kpt_shape is not None:
        keypoints = pred[:, 4 + nc : 4 + nc + kpt_shape[0] * kpt_shape[1]].reshape(-1, *kpt_shape)
        keypoints[..., 0] = ((keypoints[..., 0] - px) / gx).clip(0, w)
        keypoints[..., 1] = ((keypoints[..., 1] - py) / gy).clip(0, h)
    return Detections(xyxy, best.astype(np.float32), cls, keypoints)


def decode_batch(
    outputs: list[npt.NDArray[np.floating]],
    boxed: list[Letterboxed],
    layout: OutputLayout,
    *,
    conf: float,
    iou: float,
    classes: list[int] | None,
) -> list[Detections]:
    """Each image's raw output ``(channels, anchors)`` decoded by the model's ``layout``.

    Raises :class:`~edge.vision.backends.UnsupportedModelError` when the channels
    do not fit the layout (checked on the output: a dynamic export does not declare them).
    """
    nc = layout.classes(outputs[0].shape[0]) if outputs else 0
    return [
        decode(out, b, nc=nc, kpt_shape=layout.kpt_shape, conf=conf, iou=iou, classes=classes)
        for out, b in zip(outputs, boxed, strict=True)
    ]
