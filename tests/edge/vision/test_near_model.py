"""Which near model a camera runs (``counting.near_model``): the bundled one beside the camera's
model, in its format, by default; none, or a given file, when the hall file says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.vision.detector import REPO_ROOT, PersonDetector
from edge.vision.near_model import bundled_near_model, near_model_path
from lobbywatch.config.counting import CountingConfig

MODELS = REPO_ROOT / "models"


@pytest.mark.parametrize(
    ("camera", "near"),
    [
        ("person-yolov8s.pt", "near-yolo11n-pose.pt"),
        ("person-yolov8s.onnx", "near-yolo11n-pose.onnx"),
        ("person-yolov8s-int8.onnx", "near-yolo11n-pose.onnx"),
        ("person-yolov8s_ncnn_model", "near-yolo11n-pose_ncnn_model"),
        ("my_cam_openvino_model", "near-yolo11n-pose_openvino_model"),
        ("person-yolov8s.engine", "near-yolo11n-pose.engine"),
    ],
)
def test_auto_is_the_bundled_model_beside_the_cameras_in_its_format(
    tmp_path: Path, camera: str, near: str
) -> None:
    assert bundled_near_model(tmp_path / camera) == tmp_path / near
    (tmp_path / near).touch()
    assert near_model_path("auto", tmp_path / camera) == tmp_path / near


def test_auto_without_the_file_runs_the_cameras_model_alone_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.vision.near_model"):
        assert near_model_path("auto", tmp_path / "person-yolov8s.onnx") is None
    (record,) = caplog.records
    message = record.getMessage()
    assert str(tmp_path / "near-yolo11n-pose.onnx") in message
    assert "counting.near_model: none" in message
    assert "近景模型" in message


def test_none_a_path_an_unknown_camera_model_and_the_near_model_itself(tmp_path: Path) -> None:
    camera = tmp_path / "person-yolov8s.onnx"
    (tmp_path / "near-yolo11n-pose.onnx").touch()
    assert near_model_path("none", camera) is None
    assert near_model_path(Path("/x/pose.onnx"), camera) == Path("/x/pose.onnx")
    assert near_model_path("auto", None) is None  # a stand-in backend: no file to look beside
    assert near_model_path("auto", tmp_path / "near-yolo11n-pose.onnx") is None  # not twice


def test_the_setting_reads_auto_none_or_a_path() -> None:
    assert CountingConfig().near_model == "auto"
    assert CountingConfig.model_validate({"near_model": "none"}).near_model == "none"
    assert CountingConfig.model_validate({"near_model": "m/pose.onnx"}).near_model == Path("m/pose.onnx")
    with pytest.raises(ValidationError, match="near_model"):
        CountingConfig.model_validate({"near_model": None})


@pytest.mark.real
@pytest.mark.parametrize("camera", ["person-yolov8s.onnx", "person-yolov8s_ncnn_model"])
def test_the_default_detector_runs_the_bundled_near_model_of_its_runtime(camera: str) -> None:
    """What scripts/setup.sh exports is what a camera with the defaults runs (no torch)."""
    detector = PersonDetector(MODELS / camera)
    assert detector.near_model == bundled_near_model(MODELS / camera)
    assert detector.near_backend is not None
    assert detector.near_backend.name == detector.backend.name
    alone = PersonDetector(MODELS / camera, CountingConfig(near_model="none"))
    assert alone.near_model is None
    assert alone.near_backend is None
