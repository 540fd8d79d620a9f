"""The scale model learns person height by image row from boxes (pure numpy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from edge.vision.scale import ScaleModel
from lobbywatch.config.counting import ScaleConfig
from tests.edge.vision.helpers_counting import A, B, person_height, person_heights


def _boxes(ys: npt.NDArray[np.floating], heights: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    return np.stack([np.full_like(ys, 100), ys - heights, 100 + heights / 3, ys], axis=1).astype(np.float32)


def test_learns_a_synthetic_perspective_despite_outliers() -> None:
    rng = np.random.default_rng(7)
    model = ScaleModel(ScaleConfig(warmup_boxes=30))
    assert not model.ready
    for _frame in range(20):
        ys = rng.uniform(50, 470, 8)
        hs = person_heights(ys) * rng.normal(1.0, 0.05, 8)
        hs[0] *= 0.4  # an occluded person: a short box, left out by the robust refit
        model.observe(_boxes(ys, hs), np.full(8, 0.8, np.float32), 480)
    assert model.ready
    a, b = model.coef or (0.0, 0.0)
    assert b == pytest.approx(B, rel=0.1)
    assert a == pytest.approx(A, abs=4.0)
    assert model.height_at(300.0) == pytest.approx(person_height(300), rel=0.05)


def test_waits_for_warm_up_and_learns_only_from_confident_uncut_upright_boxes() -> None:
    model = ScaleModel(ScaleConfig(warmup_boxes=5, min_confidence=0.5))
    ys = np.asarray([100.0, 200.0, 300.0, 400.0, 479.5, 150.0], np.float32)
    boxes = _boxes(ys, person_heights(ys))
    boxes[5, 2] = boxes[5, 0] + 200  # wider than tall: not an upright person
    conf = np.asarray([0.9, 0.9, 0.9, 0.2, 0.9, 0.9], np.float32)  # one unsure, one cut by the edge
    model.observe(boxes, conf, 480)
    assert model.samples == 3
    assert not model.ready
    with pytest.raises(RuntimeError):
        model.height_at(100.0)
    model.observe(boxes, conf, 480)
    assert model.ready


def test_keeps_up_with_a_changed_camera_within_its_window() -> None:
    model = ScaleModel(ScaleConfig(warmup_boxes=10, window=100, refit_every=10))
    ys = np.linspace(50, 450, 10).astype(np.float32)
    conf = np.full(10, 0.9, np.float32)
    for _ in range(20):
        model.observe(_boxes(ys, person_heights(ys)), conf, 480)
    for _ in range(20):  # zoomed in: people twice as tall
        model.observe(_boxes(ys, 2 * person_heights(ys)), conf, 480)
    assert model.samples == 100
    assert model.height_at(300.0) == pytest.approx(2 * person_height(300), rel=0.05)


def test_boxes_on_a_few_rows_give_one_height_not_a_wild_slope() -> None:
    model = ScaleModel(ScaleConfig(warmup_boxes=5))
    ys = np.asarray([870.0, 880.0, 890.0, 900.0, 910.0], np.float32)  # 40 rows of a 1080-row frame
    heights = np.asarray([520.0, 470.0, 530.0, 480.0, 500.0], np.float32)
    model.observe(_boxes(ys, heights), np.full(5, 0.9, np.float32), 1080)
    assert model.coef == (500.0, 0.0)
    assert float(model.height_at(0.0)) == 500.0  # no tiny people invented far away


def test_settle_fits_a_set_of_stills_on_fewer_boxes_than_the_warm_up() -> None:
    model = ScaleModel(ScaleConfig(warmup_boxes=30))
    ys = np.asarray([120.0, 200.0, 280.0, 360.0], np.float32)
    model.observe(_boxes(ys, person_heights(ys)), np.full(4, 0.9, np.float32), 480)
    model.settle()
    assert not model.ready  # four boxes are too few for any scale
    ys = np.asarray([160.0, 240.0, 320.0, 400.0], np.float32)
    model.observe(_boxes(ys, person_heights(ys)), np.full(4, 0.9, np.float32), 480)
    assert not model.ready  # the daemon still waits for its 30 boxes
    model.settle()  # stills: no more boxes will come
    assert model.ready
    assert model.height_at(300.0) == pytest.approx(person_height(300), rel=0.02)
