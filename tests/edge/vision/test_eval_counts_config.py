"""``eval counts --config HALL --camera CAM`` runs that camera's own detector (the real model)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from system.cli import app
from tests.edge.vision.helpers_counting import write_video

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "telecom-hall.yaml"


@pytest.mark.real
def test_eval_counts_of_an_example_camera_reports_accuracy_and_cost(
    tmp_path: Path, onnx_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the camera names no model: a camera node then runs LOBBYWATCH_MODEL (docs/deploy.md)
    monkeypatch.setenv("LOBBYWATCH_MODEL", str(onnx_model))
    frames = tmp_path / "frames"
    frames.mkdir()
    rows = ["image,persons"]
    for i in range(3):  # empty 720p hall pictures: nobody to count
        cv2.imwrite(str(frames / f"f{i}.jpg"), np.full((720, 1280, 3), 90 + 20 * i, np.uint8))
        rows.append(f"f{i}.jpg,0")
    truth = tmp_path / "counts.csv"
    truth.write_text("\n".join(rows) + "\n")
    args = ["eval", "counts", "--images", str(frames), "--truth", str(truth)]
    r = CliRunner().invoke(app, [*args, "--config", str(EXAMPLE), "--camera", "cam-counters"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["images"] == 3
    assert result["mae"] == 0.0
    assert result["passes_per_frame"] == 1.0  # nobody seen, no scale learned: the full frame only
    assert result["ms_per_frame"] > 0
    assert result["scale_learned_from"] == 3
    assert "learned first from 3 of the images" in r.stderr
    # the near model the node runs: the bundled one beside LOBBYWATCH_MODEL, in its format
    assert f"near model: {onnx_model.with_name('near-yolo11n-pose.onnx')}" in r.stderr


@pytest.mark.real
def test_eval_counts_of_a_video_with_a_per_frame_truth_csv(
    tmp_path: Path, onnx_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOBBYWATCH_MODEL", str(onnx_model))
    video = tmp_path / "hall.avi"
    write_video(video, [np.full((240, 320, 3), 90 + 20 * i, np.uint8) for i in range(4)])  # nobody
    truth = tmp_path / "counts.csv"
    truth.write_text("frame,persons\n0,0\n2,0\n3,0\n")
    args = ["eval", "counts", "--images", str(video), "--truth", str(truth)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2
    assert "not a folder" in r.output  # a video is a sequence
    r = CliRunner().invoke(app, [*args, "--sequence"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["images"] == 3  # frames 0, 2 and 3 of the video
    assert {"mae", "published_mae", "published_bias", "passes_per_frame", "ms_per_frame"} <= set(result)
    assert result["passes_per_frame"] >= 1.0
    r = CliRunner().invoke(app, [*args, "--sequence", "--anchor", "nose"])
    assert r.exit_code == 2
    assert "--anchor must be feet or head" in r.output
