"""Counting evaluation maths and the CLI's input errors (no model is loaded here)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge.vision.detector import Detections, Frame, ModelMissingError, PersonDetector, nms, resolve_model_path
from edge.vision.evaluate import (
    HEAD_DEPTH,
    Anchor,
    EvalInputError,
    count_in_roi,
    evaluate_counts,
    head_points,
    read_roi,
    read_truth,
)
from edge.vision.slicing import grid_windows
from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode
from system.cli import app
from tests.edge.vision.helpers_counting import WhiteBlobModel


def _dets(boxes: list[list[float]]) -> Detections:
    a = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(a, np.full(len(a), 0.9, np.float32), np.zeros(len(a), np.float32))


class _Fixed:
    """A counter that finds the same boxes in every frame, in one pass."""

    def __init__(self, boxes: list[list[float]]) -> None:
        self.boxes = boxes
        self.passes = 0
        self.learned = 0

    def learn(self, frame: Frame) -> None:
        self.learned += 1

    def end_learning(self) -> None:
        pass

    def detect(self, frame: Frame) -> Detections:
        self.passes += 1
        return _dets(self.boxes)


def test_evaluate_counts_mae_rmse_bias_and_roi(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((40, 40, 3), np.uint8))
    # Detector sees 3 people; one has its feet outside the ROI (x > 20).
    boxes = [[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0], [25.0, 0.0, 35.0, 10.0]]
    roi = [(0.0, 0.0), (20.0, 0.0), (20.0, 40.0), (0.0, 40.0)]
    out = tmp_path / "per_image.csv"
    counter = _Fixed(boxes)
    summary = evaluate_counts(
        tmp_path, [("a.jpg", 2), ("b.jpg", 4)], counter, roi=roi, out=out, progress=None
    )
    # Predicted 2 and 2: errors 0 and -2.
    assert summary.images == 2
    assert summary.mae == pytest.approx(1.0)
    assert summary.bias == pytest.approx(-1.0)
    assert summary.rmse == pytest.approx(2**0.5)
    assert summary.relative_error == pytest.approx(1.0 / 3.0)
    result = json.loads(summary.as_json())
    assert result["mae"] == 1.0
    assert result["passes_per_frame"] == 1.0
    assert result["ms_per_frame"] >= 0
    assert counter.learned == result["scale_learned_from"] == 2  # the first pass learns the scale
    assert out.read_text().splitlines()[1:] == ["a.jpg,2,2,0", "b.jpg,4,2,-2"]


def test_truth_and_roi_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "counts.csv"
    bad.write_text("file,n\nx.jpg,3\n")
    with pytest.raises(EvalInputError, match="header"):
        read_truth(bad)
    bad.write_text("image,persons\nx.jpg,three\n")
    with pytest.raises(EvalInputError, match=r"counts.csv:2"):
        read_truth(bad)
    roi = tmp_path / "roi.json"
    roi.write_text('{"roi_polygon": [[0, 0]]}')
    with pytest.raises(EvalInputError, match="at least 3"):
        read_roi(roi)
    roi.write_text('{"roi_polygon": [[0, 0], [5, 0], [5, 5]]}')
    assert read_roi(roi) == [(0.0, 0.0), (5.0, 0.0), (5.0, 5.0)]


def test_missing_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match="not found"):
        resolve_model_path(tmp_path / "nope.pt")


def test_cli_input_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["edge", "export-model", "--format", "tflite"])
    assert r.exit_code == 2
    assert "onnx, openvino, ncnn" in r.output
    r = runner.invoke(
        app, ["eval", "counts", "--images", str(tmp_path / "none"), "--truth", str(tmp_path / "c.csv")]
    )
    assert r.exit_code == 2
    assert "not a folder" in r.output
    r = runner.invoke(
        app,
        [
            "eval",
            "counts",
            "--images",
            str(tmp_path),
            "--truth",
            str(tmp_path / "c.csv"),
            "--camera",
            "cam-1",
        ],
    )
    assert r.exit_code == 2
    assert "--config and --camera go together" in r.output
    config = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "telecom-hall.yaml"
    r = runner.invoke(
        app,
        [
            *("eval", "counts", "--images", str(tmp_path), "--truth", str(tmp_path / "c.csv")),
            *("--config", str(config), "--camera", "nope"),
        ],
    )
    assert r.exit_code == 2
    assert "no camera 'nope'" in r.output


def test_nms_containment_removes_tile_cut_duplicates() -> None:
    full = [0, 0, 20, 60]
    half = [0, 30, 20, 60]  # the lower half of the same person, from a tile: IoU 0.5
    other = [30, 0, 50, 60]
    xyxy = np.asarray([full, half, other], np.float32)
    conf = np.asarray([0.9, 0.8, 0.7], np.float32)
    assert sorted(nms(xyxy, conf, 0.5).tolist()) == [0, 1, 2]
    assert sorted(nms(xyxy, conf, 0.5, containment=0.8).tolist()) == [0, 2]


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (2, 2), (3, 3), (2, 4)])
def test_tiles_cover_the_frame_with_overlap(rows: int, cols: int) -> None:
    wins = grid_windows(640, 480, rows, cols, 0.2)
    assert len(wins) == rows * cols
    covered = np.zeros((480, 640), bool)
    for x0, y0, x1, y1 in wins:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert max(x1 for _, _, x1, _ in wins) == 640
    assert max(y1 for _, _, _, y1 in wins) == 480


def test_vision_cli_names_an_unknown_camera() -> None:
    config = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "telecom-hall.yaml"
    r = CliRunner().invoke(app, ["edge", "vision", "--config", str(config), "--camera", "nope"])
    assert r.exit_code == 2
    assert "no camera 'nope'" in r.output
    assert "cam-entrance" in r.output


def test_slices_map_back_to_frame_pixels() -> None:
    model = WhiteBlobModel(min_px=1)
    grid = CountingConfig(slicing=SlicingConfig(mode=SlicingMode.GRID, rows=2, cols=2, overlap=0.2))
    det = PersonDetector(settings=grid, backend=model)
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[20:40, 150:170] = 255  # one "person", inside the top-right slice only
    found = det.detect(frame)
    # the whole frame and one slice found the same box: one survives, in frame pixels
    assert len(found) == 1
    assert found.xyxy[0].tolist() == [150.0, 20.0, 170.0, 40.0]
    assert det.passes == model.images == 5


def test_a_person_counts_by_the_point_the_truth_was_counted_at() -> None:
    roi = [(0.0, 100.0), (200.0, 100.0), (200.0, 300.0), (0.0, 300.0)]
    feet_in_head_out = [10.0, 40.0, 40.0, 150.0]  # head above the ROI, feet inside it
    head_in_feet_out = [60.0, 250.0, 90.0, 360.0]  # head inside the ROI, feet below it
    both_in = [120.0, 150.0, 150.0, 260.0]
    found = _dets([feet_in_head_out, head_in_feet_out, both_in])
    assert count_in_roi(found, roi, (400, 400)) == 2  # feet: the daemon's ROI, an installer's count
    assert count_in_roi(found, roi, (400, 400), Anchor.HEAD) == 2  # head: head-annotated truth
    assert head_points(found.xyxy)[1].tolist() == pytest.approx([75.0, 250.0 + HEAD_DEPTH * 110])
    only_head_in = _dets([head_in_feet_out])
    assert count_in_roi(only_head_in, roi, (400, 400)) == 0
    assert count_in_roi(only_head_in, roi, (400, 400), Anchor.HEAD) == 1


def test_a_pose_models_head_keypoints_place_the_head_where_it_saw_them() -> None:
    roi = [(0.0, 100.0), (200.0, 100.0), (200.0, 300.0), (0.0, 300.0)]
    box = [60.0, 80.0, 100.0, 300.0]  # the box's estimated head (y 95.4) is above the ROI
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :5] = [[80.0, 110.0, 0.9], [76.0, 106.0, 0.8], [84.0, 106.0, 0.2], [0, 0, 0.1], [0, 0, 0.1]]
    seen_head, unseen = _dets([box, box]), np.zeros((2, 17, 3), np.float32)
    found = Detections(seen_head.xyxy, seen_head.conf, seen_head.cls, kp)
    points = head_points(found.xyxy, found.keypoints)
    assert points[0].tolist() == pytest.approx([78.0, 108.0])  # the mean of the two it saw
    assert points[1].tolist() == pytest.approx([80.0, 80.0 + HEAD_DEPTH * 220])  # none seen: the box
    assert count_in_roi(found, roi, (400, 400), Anchor.HEAD) == 1
    blind = Detections(seen_head.xyxy, seen_head.conf, seen_head.cls, unseen)
    assert count_in_roi(blind, roi, (400, 400), Anchor.HEAD) == 0
