"""Shared by the backend tests: the bundled detector exported to ONNX once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.vision.detector import DEFAULT_MODEL


def export_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled .pt copied to a temporary folder and exported there (dynamic axes)."""
    pytest.importorskip("ultralytics")
    if not DEFAULT_MODEL.exists():
        pytest.skip("run scripts/setup.sh for the model")
    from edge.vision.export import export_model

    folder = tmp_path_factory.mktemp("onnx")
    weights = folder / DEFAULT_MODEL.name
    shutil.copy(DEFAULT_MODEL, weights)
    return export_model(weights, "onnx", 640)
