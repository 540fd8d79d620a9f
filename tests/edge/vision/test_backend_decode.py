"""Decoding a pose or segment model's raw output: only the class channels are scores.

A pose model's output has 4 box + classes + 17×3 keypoint channels per anchor, a segment
model's 4 box + classes + 32 mask coefficients; read as scores, keypoint pixels and mask
coefficients become confidences far above 1. Synthetic outputs here, in the letterboxed
input's pixels (a 1280×720 frame in a 640 square: gain 0.5, 140 px of border on top); the
keypoints come out in frame pixels with their boxes, through NMS, slicing and the merge.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.vision.backends.yolo_io import Letterboxed, decode, letterbox
from edge.vision.detector import Detections, Frame, PersonDetector
from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode
from tests.edge.vision.helpers_counting import WhiteBlobModel, perspective_frame

K = 17


def _boxed() -> Letterboxed:
    boxed = letterbox(np.zeros((720, 1280, 3), np.uint8), (640, 640), auto=False)
    assert (boxed.gain, boxed.pad, boxed.size) == ((0.5, 0.5), (0, 140), (1280, 720))
    return boxed


def _keypoints(x: float, y: float) -> npt.NDArray[np.float32]:
    """17 keypoints down a line from (x, y), input pixels, visibility 0.5..0.9."""
    k = np.arange(K, dtype=np.float32)
    return np.stack([x + k, y + 4 * k, 0.5 + 0.4 * k / K], axis=1)


def _output(
    anchors: list[tuple[list[float], list[float], npt.NDArray[np.float32]]],
) -> npt.NDArray[np.float32]:
    """A raw output ``(channels, anchors)`` from (box cx cy w h, class scores, extra channels)."""
    return np.stack(
        [np.concatenate([box, scores, extra.ravel()]) for box, scores, extra in anchors], 1
    ).astype(np.float32)


def test_a_pose_output_gives_boxes_scores_and_keypoints_in_frame_pixels() -> None:
    first, duplicate, second = _keypoints(190, 260), _keypoints(10, 500), _keypoints(400, 300)
    out = _output(
        [
            ([200, 300, 40, 100], [0.9], first),
            ([202, 301, 40, 100], [0.6], duplicate),  # the same person: NMS drops it and its keypoints
            ([400, 320, 50, 120], [0.7], second),
            ([500, 400, 50, 120], [0.05], _keypoints(500, 400)),  # below the threshold
        ]
    )
    found = decode(out, _boxed(), nc=1, kpt_shape=(K, 3), conf=0.25, iou=0.7, classes=None)
    np.testing.assert_allclose(found.conf, [0.9, 0.7])  # scores, not keypoint pixels
    assert found.cls.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(found.xyxy, [[360, 220, 440, 420], [750, 240, 850, 480]])
    assert found.keypoints is not None
    assert found.keypoints.shape == (2, K, 3)
    for got, kpts in zip(found.keypoints, [first, second], strict=True):
        np.testing.assert_allclose(got[:, 0], kpts[:, 0] / 0.5, rtol=1e-6)  # letterbox undone
        np.testing.assert_allclose(got[:, 1], (kpts[:, 1] - 140) / 0.5, rtol=1e-6)
        np.testing.assert_allclose(got[:, 2], kpts[:, 2], rtol=1e-6)  # visibility as it was


def test_pose_keypoints_in_the_border_are_clipped_to_the_frame() -> None:
    kpts = _keypoints(-10, 100)  # left of the image and in the top border
    kpts[-1, :2] = 700, 600  # right of and below the image
    out = _output([([200, 300, 40, 100], [0.9], kpts)])
    found = decode(out, _boxed(), nc=1, kpt_shape=(K, 3), conf=0.25, iou=0.7, classes=None)
    assert found.keypoints is not None
    xy = found.keypoints[0, :, :2]
    assert xy[0].tolist() == [0.0, 0.0]
    assert xy[-1].tolist() == [1280.0, 720.0]
    assert (xy[:, 0] >= 0).all()
    assert (xy[:, 0] <= 1280).all()
    assert (xy[:, 1] >= 0).all()
    assert (xy[:, 1] <= 720).all()


def test_a_segment_output_reads_only_the_class_scores() -> None:
    masks = np.full(32, 50.0, np.float32)  # mask coefficients: not scores
    out = _output(
        [
            ([200, 300, 40, 100], [0.1, 0.8], masks),
            ([400, 320, 50, 120], [0.3, 0.2], -masks),
            ([500, 400, 50, 120], [0.1, 0.1], masks),
        ]
    )
    found = decode(out, _boxed(), nc=2, conf=0.25, iou=0.7, classes=None)
    np.testing.assert_allclose(found.conf, [0.8, 0.3])
    assert found.cls.tolist() == [1.0, 0.0]
    assert found.keypoints is None
    only_first = decode(out, _boxed(), nc=2, conf=0.25, iou=0.7, classes=[0])
    np.testing.assert_allclose(only_first.conf, [0.3])


def test_a_detect_output_has_no_keypoints() -> None:
    out = _output([([200, 300, 40, 100], [0.9, 0.1], np.zeros(0, np.float32))])
    found = decode(out, _boxed(), nc=2, conf=0.25, iou=0.7, classes=None)
    assert len(found) == 1
    assert found.keypoints is None


def _with_keypoints(d: Detections) -> Detections:
    """Two keypoints per box: its top centre (visibility 1) and bottom centre (0.5)."""
    mid = (d.xyxy[:, 0] + d.xyxy[:, 2]) / 2
    top = np.stack([mid, d.xyxy[:, 1], np.ones(len(d), np.float32)], 1)
    bottom = np.stack([mid, d.xyxy[:, 3], np.full(len(d), 0.5, np.float32)], 1)
    return Detections(d.xyxy, d.conf, d.cls, np.stack([top, bottom], 1).astype(np.float32))


def test_detections_carry_keypoints_through_select_moved_and_concat() -> None:
    boxes = Detections(
        np.asarray([[0, 0, 10, 20], [30, 0, 40, 20]], np.float32),
        np.asarray([0.9, 0.8], np.float32),
        np.zeros(2, np.float32),
    )
    pose = _with_keypoints(boxes)
    assert Detections.empty().keypoints is None
    picked = pose.select(np.asarray([1], np.intp))
    assert picked.keypoints is not None
    assert picked.keypoints.tolist() == [[[35, 0, 1], [35, 20, 0.5]]]
    moved = picked.moved(100, 50)
    assert moved.xyxy.tolist() == [[130, 50, 140, 70]]
    assert moved.keypoints is not None
    assert moved.keypoints.tolist() == [[[135, 50, 1], [135, 70, 0.5]]]
    assert picked.keypoints.tolist() == [[[35, 0, 1], [35, 20, 0.5]]]  # the original is not changed
    both = Detections.concat([pose, Detections.empty(), moved])  # an empty part has no say
    assert both.keypoints is not None
    assert both.keypoints.shape == (3, 2, 3)
    mixed = Detections.concat([pose, boxes])  # a detector's boxes beside a pose model's: none seen
    assert mixed.keypoints is not None
    assert mixed.keypoints.shape == (4, 2, 3)
    assert mixed.keypoints[2:].tolist() == [[[0, 0, 0], [0, 0, 0]]] * 2
    assert Detections.concat([boxes, boxes]).keypoints is None
    assert Detections.concat([Detections.empty(), Detections.empty()]).keypoints is None


class PoseBlobModel(WhiteBlobModel):
    """The white-blob stand-in as a pose model: each box with its top and bottom centre."""

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        found = super().predict(images, imgsz=imgsz, conf=conf, iou=iou, classes=classes)
        return [_with_keypoints(d) for d in found]


def test_the_detector_keeps_each_persons_keypoints_through_slicing_and_the_merge() -> None:
    settings = CountingConfig(
        imgsz=640, confidence=0.3, slicing=SlicingConfig(mode=SlicingMode.GRID, rows=2, cols=2, imgsz=640)
    )
    found = PersonDetector(settings=settings, backend=PoseBlobModel(min_px=40)).detect(perspective_frame())
    assert len(found) == 12  # the 3 people of row 60 only the slices see (25 px at the full frame)
    assert found.keypoints is not None
    # each box's own keypoints, in frame pixels, whichever view it came from
    expected = _with_keypoints(found).keypoints
    assert expected is not None
    np.testing.assert_allclose(np.asarray(found.keypoints, np.float64), np.asarray(expected, np.float64))
