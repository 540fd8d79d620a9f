"""A model whose runtime is not installed: the daemon's backend choice names the extra to install.

A camera node has one torch-free runtime (``lobbywatch[edge]``: ONNX Runtime,
``lobbywatch[edge-ncnn]``: NCNN); the other runtime's import failing is simulated by a ``None``
entry in ``sys.modules``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.vision.backends import BackendMissingError, load_backend


def _ncnn_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "person-yolov8s_ncnn_model"
    folder.mkdir()
    (folder / "model.ncnn.param").write_text("7767517\n", encoding="utf-8")
    return folder


def _onnx_file(tmp_path: Path) -> Path:
    return tmp_path / "person-yolov8s.onnx"


@pytest.mark.parametrize(
    ("runtime", "model", "extra"),
    [("ncnn", _ncnn_folder, "edge-ncnn"), ("onnxruntime", _onnx_file, "edge")],
    ids=["ncnn-folder-on-an-edge-node", "onnx-file-on-an-edge-ncnn-node"],
)
def test_a_missing_runtime_names_the_extra_to_install(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runtime: str,
    model: Callable[[Path], Path],
    extra: str,
) -> None:
    path = model(tmp_path)
    monkeypatch.setitem(sys.modules, runtime, None)  # `import runtime` now fails as if not installed
    with pytest.raises(BackendMissingError) as err:
        load_backend(path)
    message = str(err.value)
    assert f"install lobbywatch[{extra}]" in message, message
    assert f"{runtime} is missing" in message
    assert str(path) in message
