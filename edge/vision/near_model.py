"""Which file is a camera's near model (``counting.near_model``): the one rule for its path.

``auto`` is the bundled pose model (:data:`lobbywatch.config.counting.NEAR_MODEL_STEM`, fetched
and exported by scripts/setup.sh) beside the camera's model and in its format, so a node that
runs ``person-yolov8s.onnx`` runs ``near-yolo11n-pose.onnx`` and one that runs an NCNN folder
runs the near model's NCNN folder: one runtime per node. Where there is none, the camera's model
counts every row and a warning says so. See docs/vision.md ("Two models").
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from lobbywatch.config.counting import NEAR_MODEL_STEM

if TYPE_CHECKING:
    from edge.vision.backends import DetectorBackend

log = logging.getLogger(__name__)

_EXPORT_FOLDER = re.compile(r"_[a-z0-9]+_model$")  # ultralytics' export folders: X_ncnn_model, ...


def bundled_near_model(camera_model: Path) -> Path:
    """The bundled near model in the format of ``camera_model``, in the same folder.

    >>> bundled_near_model(Path("/opt/lobbywatch/models/person-yolov8s.onnx")).name
    'near-yolo11n-pose.onnx'
    >>> bundled_near_model(Path("models/person-yolov8s_ncnn_model")).name
    'near-yolo11n-pose_ncnn_model'
    """
    folder = _EXPORT_FOLDER.search(camera_model.name)
    suffix = folder.group(0) if folder else camera_model.suffix
    return camera_model.with_name(NEAR_MODEL_STEM + suffix)


def near_model_path(setting: Path | Literal["auto", "none"], camera_model: Path | None) -> Path | None:
    """The near model a camera runs: None for ``none``; the path as given; for ``auto`` the
    bundled one beside ``camera_model`` (None, with a warning, where it is absent, and None
    when the camera's model is unknown or is that file itself)."""
    if setting == "none":
        return None
    if setting != "auto":
        return Path(setting)
    if camera_model is None:
        return None
    near = bundled_near_model(camera_model)
    if near.resolve() == camera_model.resolve():
        return None
    if not near.exists():
        log.warning(
            "near model %s not found beside the camera's model: the camera's model counts every "
            "row, close groups less well (run scripts/setup.sh, ship the file, or set "
            "counting.near_model: none) / 近景模型 %s 不存在：所有区域由摄像头模型计数，"
            "近处人群计数偏少（请运行 scripts/setup.sh 或部署该文件，或设置 counting.near_model: none）",
            near,
            near,
        )
        return None
    return near


def load_near_model(
    setting: Path | Literal["auto", "none"], camera_model: Path | None, *, device: str = "cpu"
) -> tuple[Path, DetectorBackend] | None:
    """The near model a camera runs (:func:`near_model_path`) and its backend, loaded; None when
    it runs none. Raises as the camera's model does when a given path is missing or unusable."""
    from edge.vision.backends import load_backend
    from edge.vision.detector import resolve_model_path

    path = near_model_path(setting, camera_model)
    if path is None:
        return None
    backend = load_backend(resolve_model_path(path), device=device)
    log.info("detector: %s backend, near model %s", backend.name, path)
    return path, backend
