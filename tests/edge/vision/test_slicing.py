"""The slicing planner slices only where people are too small; the merge drops sliced parts.

The detector runs on a stand-in model that, like a real one, misses people small at its input
(tests/edge/vision/helpers_counting.py), in a synthetic ground-plane scene.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.detector import PersonDetector
from edge.vision.scale import ScaleModel
from edge.vision.slicing import SlicePlan, grid_windows, merge_views, plan_slices
from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode
from tests.edge.vision.helpers_counting import (
    A,
    B,
    SplittingNearModel,
    WhiteBlobModel,
    dets,
    perspective_frame,
)


def _scale(a: float = A, b: float = B) -> ScaleModel:
    model = ScaleModel()
    model.coef = (a, b)
    return model


def test_slices_only_the_rows_where_people_are_too_small() -> None:
    settings = CountingConfig(imgsz=640, slicing=SlicingConfig(min_person_px=60, target_person_px=80))
    plan = plan_slices(640, 480, settings, _scale())
    # people are A + B*y tall: below 60 px (the full frame's limit) for feet above row 200
    assert plan.band == (0.0, 200.0)
    assert plan.windows
    assert all(y0 < 200 for _, y0, _, _ in plan.windows)  # no slice for the near rows' people
    everyone_small = plan_slices(640, 480, settings, _scale(a=10.0, b=0.05))
    assert everyone_small.band == (0.0, 481.0)
    assert len(everyone_small.windows) > len(plan.windows)
    covered = np.zeros(640, bool)
    for x0, y0, x1, _ in plan.windows:
        if y0 == 0:
            covered[x0:x1] = True
    assert covered.all()  # the first row of slices spans the width
    assert len(plan.windows) <= settings.slicing.max_slices


def test_a_close_scene_and_a_warming_up_camera_run_the_full_frame_only() -> None:
    settings = CountingConfig()
    close = _scale(a=200.0, b=0.2)  # people 200 px and taller everywhere
    assert plan_slices(640, 480, settings, close).windows == []
    assert plan_slices(640, 480, settings, ScaleModel()).windows == []  # no scale yet


def test_grid_and_off_modes() -> None:
    grid = CountingConfig(slicing=SlicingConfig(mode=SlicingMode.GRID, rows=2, cols=3))
    plan = plan_slices(640, 480, grid, ScaleModel())
    assert plan.windows == grid_windows(640, 480, 2, 3, grid.slicing.overlap)
    assert plan.passes == 7
    off = CountingConfig(slicing=SlicingConfig(mode=SlicingMode.OFF))
    assert plan_slices(640, 480, off, _scale()).passes == 1


def test_only_the_counting_region_is_sliced() -> None:
    settings = CountingConfig(imgsz=640, slicing=SlicingConfig(min_person_px=60, target_person_px=80))
    plan = plan_slices(640, 480, settings, _scale(), region=(0, 0, 200, 480))
    assert plan.windows
    assert all(x0 < 200 for x0, _, _, _ in plan.windows)
    assert len(plan.windows) < len(plan_slices(640, 480, settings, _scale()).windows)


def test_merge_drops_parts_of_people_seen_whole_and_slice_boxes_outside_the_band() -> None:
    settings = CountingConfig()
    scale = _scale()  # a person with feet at row 300 is 85 px tall
    whole = [100.0, 215.0, 130.0, 300.0]
    full = dets([whole])
    upper_body = [100.0, 215.0, 130.0, 255.0]  # a slice saw the top half (its border cut the legs)
    distant = [400.0, 60.0, 410.0, 90.0]  # a small person the full frame missed, in the band
    near_duplicate = [300.0, 315.0, 330.0, 400.0]  # below the band: the full frame's business
    slices = dets([upper_body, distant, near_duplicate], conf=0.95)
    plan = SlicePlan([(0, 0, 320, 320)], band=(0.0, 350.0))
    merged = merge_views(full, slices, plan, settings, scale)
    assert sorted(merged.xyxy.tolist()) == sorted([whole, distant])


def test_detector_counts_every_person_of_a_perspective_scene_with_few_passes() -> None:
    model = WhiteBlobModel(min_px=40)
    settings = CountingConfig(
        imgsz=640, confidence=0.3, slicing=SlicingConfig(min_person_px=60, target_person_px=80)
    )
    det = PersonDetector(settings=settings, backend=model)
    frame = perspective_frame()  # 3 people on each of the rows 60, 140, 260, 400
    assert len(det.detect(frame)) == 9  # warming up: the full frame misses the 25-px people
    for _ in range(10):
        det.learn(frame)
    assert det.scale.ready
    model.images = 0
    found = det.detect(frame)
    assert len(found) == 12
    assert 1 < model.images <= 1 + settings.slicing.max_slices


def test_containment_merges_boxes_of_different_passes_only() -> None:
    settings = CountingConfig()
    scale = _scale()
    front = [100.0, 215.0, 140.0, 300.0]  # the full frame sees a person ...
    behind = [108.0, 222.0, 132.0, 290.0]  # ... and one mostly hidden behind them: both whole
    merged = merge_views(dets([front, behind]), dets([]), SlicePlan([], (0.0, 0.0)), settings, scale)
    assert len(merged) == 2  # one pass: the model's own NMS already told them apart
    # the same box from a slice is inside the full frame's: one person seen by two passes
    plan = SlicePlan([(0, 0, 320, 320)], band=(0.0, 480.0))
    merged = merge_views(dets([front]), dets([behind]), plan, settings, scale, np.zeros(1, np.intp))
    assert merged.xyxy.tolist() == [front]


def test_the_first_frame_is_sliced_by_the_scale_its_own_full_frame_taught() -> None:
    model = WhiteBlobModel(min_px=40)
    settings = CountingConfig(
        imgsz=640,
        confidence=0.3,
        slicing=SlicingConfig(min_person_px=60, target_person_px=80),
        scale={"warmup_boxes": 5},
    )
    det = PersonDetector(settings=settings, backend=model)
    assert len(det.detect(perspective_frame())) == 12  # no frame of full frame only first


def test_a_slice_that_magnifies_beyond_sharp_zoom_runs_at_a_proportionally_lower_threshold() -> None:
    settings = CountingConfig(slicing=SlicingConfig(imgsz=640, confidence=0.15, sharp_zoom=3.0))
    det = PersonDetector(settings=settings, backend=WhiteBlobModel())
    sharp = np.zeros((320, 320, 3), np.uint8)  # 2x: as sharp as the threshold was chosen on
    blurry = np.zeros((107, 80, 3), np.uint8)  # about 6x: a person this enlarged scores lower
    assert det._slice_threshold(sharp) == 0.15
    assert det._slice_threshold(blurry) == pytest.approx(0.15 * 3 / (640 / 107))


def test_a_near_model_owns_the_rows_where_people_are_large_enough() -> None:
    settings = CountingConfig(
        imgsz=640, confidence=0.3, slicing=SlicingConfig(min_person_px=60, target_person_px=80)
    )
    near = SplittingNearModel(min_px=0)
    det = PersonDetector(settings=settings, backend=WhiteBlobModel(min_px=40), near_backend=near)
    frame = perspective_frame()  # people 25, 45, 75 and 110 px tall on the rows 60, 140, 260, 400
    assert len(det.detect(frame)) == 9  # warming up: the camera model only
    assert near.images == 0
    for _ in range(10):
        det.learn(frame)
    passes = det.passes
    found = det.detect(frame)
    feet = sorted(round(y) for y in found.xyxy[:, 3].tolist())
    # rows 60 and 140 (sliced): the camera model's 3 each, not the near model's far box;
    # rows 260 and 400 (at least 60 px): the near model's, 3 and 6 (each near person split)
    assert feet == [60] * 3 + [140] * 3 + [260] * 3 + [400] * 6
    assert near.images == 1
    assert det.passes - passes >= 3  # the full frame, the near model's pass and the slices
    assert det.near_passes == 1  # of them, the near model's (the daemon's metrics tell them apart)
