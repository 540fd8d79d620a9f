"""Commissioning calibration on cached detections: the search, the cache, the snapshot checks.

The scene is the synthetic ground plane of tests/edge/vision/helpers_counting.py with the
white-blob stand-in model, which misses the distant people unless slices magnify them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.calibrate import (
    MIN_SNAPSHOTS,
    NEAR_CONFIDENCE,
    CachedBackend,
    Knobs,
    PassBudgetSpent,
    calibrate,
    read_snapshots,
    split_snapshots,
)
from edge.vision.detector import Detections, Frame
from edge.vision.evaluate import EvalInputError
from lobbywatch.config.counting import CountingConfig, SlicingConfig, SlicingMode
from tests.edge.vision.helpers_counting import (
    GroupNearModel,
    SplittingNearModel,
    WhiteBlobModel,
    perspective_frame,
)

SCENES = [(60, 260), (60, 140, 400), (60, 400), (70, 200, 330), (60, 260, 400), (80, 300)]


def _snapshots(folder: Path, n: int = 12) -> list[tuple[str, int]]:
    folder.mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        scene = SCENES[i % len(SCENES)]
        cv2.imwrite(str(folder / f"s{i:02d}.png"), perspective_frame(rows=scene))
        rows.append((f"s{i:02d}.png", 3 * len(scene)))
    return rows


def test_the_search_turns_slicing_on_where_a_bad_start_misses_distant_people(tmp_path: Path) -> None:
    rows = _snapshots(tmp_path / "snaps")
    model = WhiteBlobModel(min_px=40)
    bad = CountingConfig(imgsz=640, slicing=SlicingConfig(mode=SlicingMode.OFF))

    result = calibrate(tmp_path / "snaps", rows, bad, model)

    assert result.before.mae >= 3  # every scene has people too far for the full frame
    assert result.improved
    assert result.after.mae < result.before.mae
    assert result.chosen.slicing == SlicingMode.ADAPTIVE
    assert result.settings.slicing.mode == SlicingMode.ADAPTIVE
    assert (result.search_rows, result.held_rows) == (8, 4)
    # thresholds and merges are re-applied from the cache: the model ran far fewer passes
    # than (settings tried) x (snapshots), and never more than it reported
    assert model.images == result.passes < result.settings_tried * len(rows)


def test_a_start_that_is_already_right_is_kept(tmp_path: Path) -> None:
    rows = _snapshots(tmp_path / "snaps")
    good = CountingConfig(imgsz=640, slicing=SlicingConfig(min_person_px=60, target_person_px=80))
    result = calibrate(tmp_path / "snaps", rows, good, WhiteBlobModel(min_px=40))
    assert result.before.mae == 0
    assert not result.improved
    assert result.chosen == result.start == Knobs.of(good)
    assert not result.from_defaults


def test_a_search_budget_too_small_for_the_start_says_so(tmp_path: Path) -> None:
    rows = _snapshots(tmp_path / "snaps")
    with pytest.raises(PassBudgetSpent):
        calibrate(tmp_path / "snaps", rows, CountingConfig(), WhiteBlobModel(), max_passes=3)


class _Scored:
    """Boxes with confidences 0.1 ... 0.9, so thresholds select different subsets."""

    name = "scored"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        self.calls.append(conf)
        c = np.asarray([0.1, 0.3, 0.5, 0.9], np.float32)
        boxes = np.asarray([[i * 20, 0, i * 20 + 10, 30] for i in range(4)], np.float32)
        keep = c >= conf
        return [Detections(boxes[keep], c[keep], np.zeros(int(keep.sum()), np.float32)) for _ in images]


def test_the_cache_runs_each_view_once_at_the_floor_and_filters_exactly() -> None:
    inner = _Scored()
    cached = CachedBackend(inner, floor=0.1, budget=2)
    frame = np.zeros((40, 100, 3), np.uint8)
    other = np.ones((40, 100, 3), np.uint8)

    def kept(image: Frame, conf: float) -> int:
        return len(cached.predict([image], imgsz=640, conf=conf, iou=0.5, classes=None)[0])

    assert kept(frame, 0.4) == 2
    assert kept(frame, 0.2) == 3
    assert kept(frame, 0.95) == 0
    assert inner.calls == [0.1]
    assert cached.passes == 1
    kept(other, 0.4)
    assert cached.passes == 2
    with pytest.raises(PassBudgetSpent):
        cached.predict([frame], conf=0.4, imgsz=320, iou=0.5, classes=None)  # a new view
    cached.budget = None
    assert kept(frame, 0.05) == 4  # below the floor: run again there, which becomes its floor
    assert inner.calls == [0.1, 0.1, 0.05]
    assert kept(frame, 0.07) == 4
    assert cached.passes == 3


def test_the_split_is_deterministic_and_spans_the_counts() -> None:
    rows = [(f"f{i}.jpg", n) for i, n in enumerate([5, 1, 9, 3, 7, 2, 8, 4, 6, 0, 10, 11])]
    search, held = split_snapshots(rows)
    assert split_snapshots(list(reversed(rows))) == (search, held)
    assert sorted(n for _f, n in held) == [1, 4, 7, 10]
    assert len(search) == 8
    assert not set(search) & set(held)


def _truth(tmp_path: Path, lines: list[str]) -> tuple[Path, Path]:
    images = tmp_path / "snaps"
    images.mkdir(exist_ok=True)
    for i in range(20):
        cv2.imwrite(str(images / f"s{i}.png"), np.zeros((8, 8, 3), np.uint8))
    truth = tmp_path / "counts.csv"
    truth.write_text("\n".join(["image,persons", *lines]) + "\n", encoding="utf-8")
    return images, truth


def test_snapshot_checks_name_the_line_and_the_problem(tmp_path: Path) -> None:
    ok = [f"s{i}.png,{i}" for i in range(MIN_SNAPSHOTS)]
    images, truth = _truth(tmp_path, ok)
    assert len(read_snapshots(images, truth)) == MIN_SNAPSHOTS

    cases = {
        "no image": [*ok, "missing.png,3"],
        "counted twice": [*ok, "s3.png,4"],
        "whole number": [*ok[:4], "s11.png,three", *ok[4:]],
        "needs at least": ok[:4],
    }
    for problem, lines in cases.items():
        images, truth = _truth(tmp_path, lines)
        with pytest.raises(EvalInputError, match=problem) as err:
            read_snapshots(images, truth)
        if problem != "needs at least":
            assert f"{truth}:" in str(err.value)
    images, truth = _truth(tmp_path, [*ok, "s3.png,4"])
    with pytest.raises(EvalInputError, match=r"counts\.csv:12: s3\.png is counted twice \(first on line 5\)"):
        read_snapshots(images, truth)


def test_knobs_round_trip_through_a_counting_block() -> None:
    base = CountingConfig(imgsz=960)
    k = Knobs(0.3, SlicingMode.ADAPTIVE, 120.0, 0.25, 0.9)
    applied = k.apply(base)
    assert applied.imgsz == 960
    assert Knobs.of(applied) == k
    assert CountingConfig.model_validate(k.as_block()).slicing.min_person_px == 120
    off = Knobs(0.3, SlicingMode.OFF, 160.0, 0.15, 0.8).as_block()
    assert off["slicing"] == {"mode": "off"}
    assert "near_confidence" not in off
    near = replace(k, near_confidence=0.05)
    assert near.as_block() == {**k.as_block(), "near_confidence": 0.05}
    assert Knobs.of(near.apply(base), near_model=True) == near
    assert Knobs.of(near.apply(base)) == k  # without a near model it is not a knob


def test_the_near_model_counts_its_rows_in_every_setting_and_runs_once_per_snapshot(tmp_path: Path) -> None:
    rows = _snapshots(tmp_path / "snaps")
    good = CountingConfig(imgsz=640, slicing=SlicingConfig(min_person_px=60, target_person_px=80))
    near = SplittingNearModel(min_px=0)  # it sees each near person as two
    result = calibrate(tmp_path / "snaps", rows, good, WhiteBlobModel(min_px=40), near_backend=near)
    # the camera's model alone is exact here (above); with the near model, its rows are its,
    # until the search moves the boundary between them (slicing.min_person_px)
    assert result.before.mae > 0
    assert result.improved
    assert result.after.mae < result.before.mae
    assert result.chosen.min_person_px > 60
    assert 0 < near.images <= len(rows)  # cached like the camera's views, outside the budget


def test_with_a_near_model_the_search_lowers_its_threshold_for_people_partly_hidden(tmp_path: Path) -> None:
    rows = _snapshots(tmp_path / "snaps")
    # behind each person in the near rows (feet below row 200) the near model sees someone
    # partly hidden, at 0.07: the truth counts them, the default near threshold (0.1) does not
    rows = [(name, n + 3 * sum(y > 200 for y in SCENES[i % len(SCENES)])) for i, (name, n) in enumerate(rows)]
    good = CountingConfig(imgsz=640, slicing=SlicingConfig(min_person_px=60, target_person_px=80))
    near = GroupNearModel(hidden_score=0.07)

    result = calibrate(tmp_path / "snaps", rows, good, WhiteBlobModel(min_px=40), near_backend=near)

    assert result.start == Knobs.of(good, near_model=True)
    assert result.start.near_confidence == 0.1
    assert result.before.mae >= 3  # every scene has a near row
    assert result.improved
    assert result.after.mae < result.before.mae
    assert result.chosen.near_confidence == 0.05
    assert result.settings.near_confidence == 0.05
    assert result.chosen.as_block()["near_confidence"] == 0.05
    # the near model ran once per snapshot, at the lowest near threshold searched
    assert near.thresholds == [min(NEAR_CONFIDENCE)] * near.images
    assert 0 < near.images <= len(rows)
    assert not result.from_defaults
    assert replace(result, start=Knobs.of(CountingConfig(), near_model=True)).from_defaults


def test_without_a_near_model_its_threshold_is_neither_searched_nor_written(tmp_path: Path) -> None:
    rows = _snapshots(tmp_path / "snaps")
    bad = CountingConfig(imgsz=640, near_confidence=0.3, slicing=SlicingConfig(mode=SlicingMode.OFF))

    result = calibrate(tmp_path / "snaps", rows, bad, WhiteBlobModel(min_px=40))

    assert result.improved
    assert result.start.near_confidence is None
    assert result.chosen.near_confidence is None
    assert result.settings.near_confidence == 0.3  # the camera's own value stays as it is
    assert set(result.chosen.as_block()) == {"confidence", "slicing", "merge"}
