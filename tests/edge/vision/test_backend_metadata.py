"""The torch-free backends read the model's own metadata to tell class scores from the rest.

The layout rules on parsed metadata (ONNX ``metadata_props`` strings, an NCNN folder's
``metadata.yaml``), then each backend end to end on a tiny model whose output is a fixed
pose tensor (an ONNX graph built with ``onnx.helper``; an NCNN ``MemoryData`` net): the
metadata is read at load, the channels are checked against it, the keypoints come out in
frame pixels. Models that give no person boxes (obb, classify) fail at load, by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from edge.vision.backends import UnsupportedModelError
from edge.vision.backends.ncnn_backend import NcnnBackend
from edge.vision.backends.onnx_runtime import OnnxRuntimeBackend
from edge.vision.backends.yolo_meta import OutputLayout, literal_metadata

POSE_PROPS = {  # as ultralytics writes them into an ONNX pose export
    "description": "Ultralytics YOLO11n-pose model trained on coco-pose.yaml",
    "task": "pose",
    "names": "{0: 'person'}",
    "kpt_shape": "[17, 3]",
    "imgsz": "[640, 640]",
    "end2end": "False",
    "args": "{'batch': 1, 'dynamic': True, 'nms': False}",
}


def test_onnx_metadata_strings_are_parsed_as_literals() -> None:
    meta = literal_metadata(POSE_PROPS)
    assert meta["names"] == {0: "person"}
    assert meta["kpt_shape"] == [17, 3]
    assert meta["end2end"] is False
    assert meta["task"] == "pose"
    assert meta["description"].startswith("Ultralytics")


def test_a_pose_layout_takes_4_box_1_class_and_51_keypoint_channels() -> None:
    layout = OutputLayout.from_metadata(literal_metadata(POSE_PROPS), "pose.onnx")
    assert (layout.task, layout.nc, layout.kpt_shape) == ("pose", 1, (17, 3))
    assert layout.classes(56) == 1
    with pytest.raises(UnsupportedModelError, match=r"pose\.onnx: the output has 57 channels"):
        layout.classes(57)


def test_a_segment_layout_needs_mask_coefficients_after_the_classes() -> None:
    layout = OutputLayout.from_metadata({"task": "segment", "names": {i: str(i) for i in range(80)}}, "seg")
    assert layout.classes(4 + 80 + 32) == 80
    assert layout.kpt_shape is None
    with pytest.raises(UnsupportedModelError, match="mask coefficients"):
        layout.classes(84)


def test_a_detect_layout_must_explain_every_channel() -> None:
    layout = OutputLayout.from_metadata({"task": "detect", "names": {0: "Normal", 1: "Fall"}}, "person.onnx")
    assert layout.classes(6) == 2
    says = "56 channels per anchor, but a detect model with 2 classes has 4 box + 2 class channels"
    with pytest.raises(UnsupportedModelError) as err:
        layout.classes(56)
    assert str(err.value).startswith(f"person.onnx: the output has {says}")


def test_a_model_without_metadata_is_a_detector_with_a_class_per_channel() -> None:
    layout = OutputLayout.from_metadata({}, "plain.onnx")
    assert layout.classes(84) == 80  # as before metadata was read
    with pytest.raises(UnsupportedModelError, match=r"plain\.onnx"):
        layout.classes(4)


@pytest.mark.parametrize("task", ["obb", "classify"])
def test_obb_and_classify_models_are_refused_by_name(task: str) -> None:
    with pytest.raises(UnsupportedModelError) as err:
        OutputLayout.from_metadata({"task": task, "names": {0: "person"}}, "m.onnx")
    assert (
        str(err.value)
        == f"m.onnx: task {task} is not supported: a person detector must be detect, pose or segment"
    )


@pytest.mark.parametrize(
    ("meta", "says"),
    [
        ({"task": "pose", "names": {0: "person"}}, "without a valid kpt_shape"),
        ({"task": "pose", "kpt_shape": [17, 3]}, "without class names"),
        ({"task": "segment"}, "without class names"),
        ({"task": "detect", "names": {0: "person"}, "end2end": True}, "NMS built in"),
        ({"task": "detect", "names": {0: "person"}, "args": {"nms": True}}, "NMS built in"),
    ],
    ids=["pose-no-kpt-shape", "pose-no-names", "segment-no-names", "end2end", "nms-export"],
)
def test_metadata_that_cannot_place_the_scores_is_a_clear_error(meta: dict[str, Any], says: str) -> None:
    with pytest.raises(UnsupportedModelError, match=says):
        OutputLayout.from_metadata(meta, "m")


# --- the backends, end to end on a tiny model with a fixed pose output ---------------------------

K = 17
# Two anchors, input pixels: a person (score 0.9) and a weak one (0.1). A keypoint read as a
# score would be 300: the old decoding's confidence.
BOXES = [[30.0, 50.0], [30.0, 10.0], [20.0, 10.0], [20.0, 10.0]]  # cx, cy, w, h rows
SCORES = [[0.9, 0.1]]
KPTS = np.stack([np.arange(K) + 20.0, np.arange(K) / 2 + 20.0, np.full(K, 0.75)], 1)  # (K, 3), input px


def pose_output() -> npt.NDArray[np.float32]:
    kpts = np.stack([KPTS.ravel(), KPTS.ravel() + 300.0], 1)  # (K*3, 2 anchors)
    return np.concatenate([np.asarray(BOXES + SCORES), kpts]).astype(np.float32)  # (56, 2)


def _tiny_onnx(path: Path, props: dict[str, str]) -> Path:
    """An ONNX model whose ``output0`` is :func:`pose_output` for any image (batch 1)."""
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 56, 2])
    const = numpy_helper.from_array(pose_output()[None], "pose")
    nodes = [  # output = pose + 0 * sum(images): the input is used, its value is not
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["pose", "nothing"], ["output0"]),
    ]
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    graph = helper.make_graph(nodes, "tiny-pose", [inp], [out], initializer=[const, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def _tiny_ncnn(folder: Path, meta: dict[str, Any]) -> Path:
    """An NCNN export folder whose output is :func:`pose_output` for any image."""
    folder.mkdir()
    channels, anchors = pose_output().shape
    (folder / "model.ncnn.param").write_text(
        "7767517\n5 5\n"
        "Input in0 0 1 in0\n"
        "Reduction sum 1 1 in0 r0 0=0 1=1 4=0\n"
        "BinaryOp zero 1 1 r0 z0 0=2 1=1 2=0.0\n"
        f"MemoryData pose 0 1 m0 0={anchors} 1={channels}\n"
        "BinaryOp add 2 1 m0 z0 out0 0=0\n",
        encoding="utf-8",
    )
    pose_output().tofile(folder / "model.ncnn.bin")
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    return folder


def _assert_one_person_with_keypoints(found: Any, gain: float, pad: tuple[int, int]) -> None:
    assert len(found) == 1
    np.testing.assert_allclose(found.conf, [0.9])
    assert found.keypoints is not None
    assert found.keypoints.shape == (1, K, 3)
    np.testing.assert_allclose(found.keypoints[0, :, 0], (KPTS[:, 0] - pad[0]) / gain, rtol=1e-6)
    np.testing.assert_allclose(found.keypoints[0, :, 1], (KPTS[:, 1] - pad[1]) / gain, rtol=1e-6)
    np.testing.assert_allclose(found.keypoints[0, :, 2], KPTS[:, 2])


FRAME = np.zeros((128, 256, 3), np.uint8)  # at imgsz 64: gain 0.25, a 64x32 input (no border)


def test_the_onnx_backend_decodes_a_pose_export_by_its_metadata(tmp_path: Path) -> None:
    backend = OnnxRuntimeBackend(_tiny_onnx(tmp_path / "pose.onnx", POSE_PROPS), threads=1)
    assert (backend.layout.nc, backend.layout.kpt_shape) == (1, (K, 3))
    found = backend.predict([FRAME], imgsz=64, conf=0.25, iou=0.7, classes=None)[0]
    _assert_one_person_with_keypoints(found, 0.25, (0, 0))


def test_the_onnx_backend_refuses_channels_its_metadata_does_not_explain(tmp_path: Path) -> None:
    detect = {**POSE_PROPS, "task": "detect"}
    path = _tiny_onnx(tmp_path / "mislabelled.onnx", detect)
    backend = OnnxRuntimeBackend(path, threads=1)
    with pytest.raises(UnsupportedModelError, match=f"{path}: the output has 56 channels"):
        backend.predict([FRAME], imgsz=64, conf=0.25, iou=0.7, classes=None)


@pytest.mark.parametrize("task", ["obb", "classify"])
def test_the_onnx_backend_refuses_an_obb_or_classify_export_at_load(tmp_path: Path, task: str) -> None:
    path = _tiny_onnx(tmp_path / f"{task}.onnx", {**POSE_PROPS, "task": task})
    with pytest.raises(UnsupportedModelError, match=f"{path}: task {task} is not supported"):
        OnnxRuntimeBackend(path, threads=1)


NCNN_META: dict[str, Any] = {"task": "pose", "names": {0: "person"}, "kpt_shape": [K, 3], "imgsz": [64, 64]}


def test_the_ncnn_backend_decodes_a_pose_export_by_its_metadata(tmp_path: Path) -> None:
    backend = NcnnBackend(_tiny_ncnn(tmp_path / "pose_ncnn_model", NCNN_META), threads=1)
    found = backend.predict([FRAME], imgsz=64, conf=0.25, iou=0.7, classes=None)[0]
    _assert_one_person_with_keypoints(found, 0.25, (0, 16))  # the fixed 64x64 input: 16 px of border on top


def test_the_ncnn_backend_refuses_an_obb_export_at_load(tmp_path: Path) -> None:
    folder = _tiny_ncnn(tmp_path / "obb_ncnn_model", {**NCNN_META, "task": "obb"})
    with pytest.raises(UnsupportedModelError, match="task obb is not supported"):
        NcnnBackend(folder, threads=1)


def test_an_ncnn_folder_without_metadata_is_refused_by_name(tmp_path: Path) -> None:
    folder = _tiny_ncnn(tmp_path / "bare_ncnn_model", NCNN_META)
    (folder / "metadata.yaml").unlink()
    with pytest.raises(UnsupportedModelError, match=r"no metadata\.yaml: not an ultralytics NCNN export"):
        NcnnBackend(folder, threads=1)


def test_eval_counts_refuses_an_obb_model_in_both_languages(tmp_path: Path) -> None:
    import cv2
    from typer.testing import CliRunner

    from system.cli import app

    model = _tiny_onnx(tmp_path / "obb.onnx", {**POSE_PROPS, "task": "obb"})
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), FRAME)
    (tmp_path / "counts.csv").write_text("image,persons\na.png,0\n", encoding="utf-8")
    r = CliRunner().invoke(
        app,
        [
            *("eval", "counts", "--images", str(images), "--truth", str(tmp_path / "counts.csv")),
            *("--model", str(model)),
        ],
    )
    assert r.exit_code == 2, r.output
    assert f"{model}: task obb is not supported" in r.output
    assert "该模型类型不能用于人员检测" in r.output
