"""The INT8 copy of the ONNX export (``export-model --int8``) still finds the people; the
command refuses what it cannot quantize before loading anything."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx  # noqa: F401 - the quantizer needs it (a dependency, never skipped)
import pytest
import ultralytics
from typer.testing import CliRunner

from edge.vision.detector import PersonDetector
from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode
from system.cli import app

ASSETS = Path(ultralytics.__file__).parent / "assets"


@pytest.mark.parametrize(("fmt", "with_frame"), [("onnx", False), ("ncnn", True)])
def test_int8_needs_onnx_and_frames(tmp_path: Path, fmt: str, with_frame: bool) -> None:
    if with_frame:
        (tmp_path / "a.jpg").write_bytes(b"jpeg")
    r = CliRunner().invoke(app, ["edge", "export-model", "--format", fmt, "--int8", str(tmp_path)])
    assert r.exit_code == 2
    assert "--int8 needs --format onnx and a folder of .jpg/.png frames" in r.output


def test_int8_copy_finds_the_people_of_the_float_model(tmp_path: Path, onnx_model: Path) -> None:
    from edge.vision.export import quantize_onnx

    model = onnx_model
    frames: list[Path] = []
    for path in sorted(ASSETS.glob("*.jpg")):  # calibration: the pictures, mirrored and halved
        img = cv2.imread(str(path))
        assert img is not None
        h, w = img.shape[:2]
        for i, variant in enumerate([img, img[:, ::-1], cv2.resize(img, (w // 2, h // 2))]):
            frames.append(tmp_path / f"{path.stem}-{i}.jpg")
            cv2.imwrite(str(frames[-1]), np.ascontiguousarray(variant))
    int8 = quantize_onnx(model, frames, 640)
    assert int8.name == f"{model.stem}-int8.onnx"
    assert int8.stat().st_size < model.stat().st_size / 3
    bus = np.asarray(cv2.imread(str(ASSETS / "bus.jpg")), np.uint8)
    whole_frame = CountingConfig(imgsz=640, confidence=0.25, slicing=SlicingConfig(mode=SlicingMode.OFF))
    fp32_found = PersonDetector(model, whole_frame).detect(bus)
    int8_found = PersonDetector(int8, whole_frame).detect(bus)
    assert len(int8_found) == len(fp32_found) == 3
    # the same three people, box for box (sorted left to right)
    a = fp32_found.xyxy[np.argsort(fp32_found.xyxy[:, 0])]
    b = int8_found.xyxy[np.argsort(int8_found.xyxy[:, 0])]
    np.testing.assert_allclose(a, b, atol=25)
