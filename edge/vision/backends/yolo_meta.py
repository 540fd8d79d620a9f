"""What an ultralytics export's metadata says about its raw output: the task, classes, keypoints.

ONNX exports carry the metadata as ``metadata_props`` (Python-literal strings), NCNN export
folders as ``metadata.yaml``; both have ``task``, ``names`` and, for pose, ``kpt_shape``. Per
anchor the output holds 4 box values, one score per class, then the keypoints (pose) or the
mask coefficients (segment), which are not scores: :class:`OutputLayout` says which channels
are which, so :func:`edge.vision.backends.yolo_io.decode` reads only the class scores.
See docs/vision.md (Backends).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge.vision.backends import UnsupportedModelError

#: The tasks whose models give person boxes; obb (rotated boxes) and classify do not.
SUPPORTED_TASKS = ("detect", "pose", "segment")


def check_task(task: str, source: str) -> None:
    """Raise :class:`UnsupportedModelError` unless ``task`` gives person boxes."""
    if task not in SUPPORTED_TASKS:
        raise UnsupportedModelError(
            f"{source}: task {task} is not supported: a person detector must be detect, pose or segment"
        )


def literal_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """ONNX ``metadata_props`` with each value parsed as a Python literal (other text stays text)."""
    out: dict[str, Any] = {}
    for key, text in props.items():
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    return out


@dataclass(frozen=True, slots=True)
class OutputLayout:
    """The channels of one anchor in a YOLO model's raw output ``(channels, anchors)``.

    ``nc`` is None for a model whose metadata has no ``names`` (not an ultralytics export):
    then it is a detector and every channel after the box is a class score.
    """

    source: str  # the model file, for errors
    task: str = "detect"
    nc: int | None = None
    kpt_shape: tuple[int, int] | None = None  # (keypoints, values each: x, y[, visibility])

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], source: str) -> OutputLayout:
        """The layout that ``meta`` (parsed metadata; empty for a model without) describes.

        Raises :class:`UnsupportedModelError` for a task without person boxes, an export with
        NMS built in (its output is final boxes, not anchors), and a pose or segment model
        whose metadata lacks what its channels need.
        """
        task = str(meta.get("task", "detect"))
        check_task(task, source)
        args = meta.get("args")
        if meta.get("end2end") is True or (isinstance(args, Mapping) and args.get("nms") is True):
            raise UnsupportedModelError(
                f"{source}: the export has NMS built in (end2end or nms=True), so its output is final "
                "boxes, not anchors: export it with nms=False and end2end=False"
            )
        names = meta.get("names")
        nc = len(names) if isinstance(names, Mapping | list | tuple) else None
        if nc is None and task != "detect":
            raise UnsupportedModelError(
                f"{source}: a {task} model without class names in its metadata: "
                "its class scores cannot be told from the other channels"
            )
        kpt_shape = None
        if task == "pose":
            kpt = meta.get("kpt_shape")
            if not (isinstance(kpt, list | tuple) and len(kpt) == 2 and int(kpt[1]) in (2, 3)):
                raise UnsupportedModelError(f"{source}: a pose model without a valid kpt_shape: {kpt!r}")
            kpt_shape = (int(kpt[0]), int(kpt[1]))
        return cls(source, task, nc, kpt_shape)

    def classes(self, channels: int) -> int:
        """The class count of an output with ``channels`` values per anchor.

        Raises :class:`UnsupportedModelError` when they do not fit: a detector has 4 + classes,
        a pose model 4 + classes + keypoint values, a segment model mask coefficients besides.
        """
        if self.nc is None:
            if channels <= 4:
                raise UnsupportedModelError(f"{self.source}: the output has {channels} channels per anchor")
            return channels - 4
        kpts = self.kpt_shape[0] * self.kpt_shape[1] if self.kpt_shape else 0
        explained = 4 + self.nc + kpts
        if channels == explained if self.task != "segment" else channels > explained:
            return self.nc
        what = f"4 box + {self.nc} class" + (f" + {kpts} keypoint" if kpts else "")
        extra = " and mask coefficients" if self.task == "segment" else ""
        raise UnsupportedModelError(
            f"{self.source}: the output has {channels} channels per anchor, but a {self.task} model "
            f"with {self.nc} classes has {what} channels{extra}: is the metadata this model's own?"
        )
