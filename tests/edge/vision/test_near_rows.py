"""The near model runs at its own threshold, ``counting.near_confidence``, not the full frame's.

A stand-in second model (tests/edge/vision/helpers_counting.py's ``GroupNearModel``, filtering
its scores by the threshold it is asked for, as a real one does) sees each near person
confidently and, beside each, a partly hidden person at a low score.
"""

from __future__ import annotations

from edge.vision.detector import PersonDetector
from lobbywatch.config.counting import CountingConfig, SlicingConfig
from tests.edge.vision.helpers_counting import GroupNearModel, WhiteBlobModel, perspective_frame

HIDDEN_SCORE = 0.12  # a person mostly behind another: the model sees them, but barely


def _count_near_rows(settings: CountingConfig) -> tuple[list[int], list[float]]:
    near = GroupNearModel(HIDDEN_SCORE)
    det = PersonDetector(settings=settings, backend=WhiteBlobModel(min_px=40), near_backend=near)
    frame = perspective_frame()  # people 25, 45, 75 and 110 px tall on the rows 60, 140, 260, 400
    for _ in range(10):
        det.learn(frame)
    found = det.detect(frame)
    return sorted(round(y) for y in found.xyxy[:, 3].tolist()), near.thresholds


def test_the_near_model_runs_at_near_confidence_and_keeps_the_people_behind() -> None:
    base = {"imgsz": 640, "confidence": 0.3, "slicing": SlicingConfig(min_person_px=60, target_person_px=80)}
    # the default near threshold (0.1) keeps the hidden people in the near rows (260, 400),
    # although the full frame's own threshold (0.3) is higher than their score
    feet, asked = _count_near_rows(CountingConfig(**base))
    assert asked == [CountingConfig().near_confidence] == [0.1]
    assert feet == [60] * 3 + [140] * 3 + [256] * 3 + [260] * 3 + [396] * 3 + [400] * 3
    # a near threshold above their score drops them: only the people in front are counted
    feet, asked = _count_near_rows(CountingConfig(**base, near_confidence=0.2))
    assert asked == [0.2]
    assert feet == [60] * 3 + [140] * 3 + [260] * 3 + [400] * 3


def test_no_near_pass_where_no_row_is_near() -> None:
    # the tallest person (at the bottom row, 130 px) is below min_person_px: every row is sliced
    settings = CountingConfig(
        imgsz=640, confidence=0.3, slicing=SlicingConfig(min_person_px=200, target_person_px=80)
    )
    frame = perspective_frame()
    near = GroupNearModel(HIDDEN_SCORE)
    with_near = PersonDetector(settings=settings, backend=WhiteBlobModel(min_px=40), near_backend=near)
    alone = PersonDetector(settings=settings, backend=WhiteBlobModel(min_px=40))
    for det in (with_near, alone):
        for _ in range(10):
            det.learn(frame)
    before = with_near.passes, alone.passes
    assert with_near.detect(frame).xyxy.tolist() == alone.detect(frame).xyxy.tolist()
    assert near.thresholds == []  # the near model never ran
    assert with_near.passes - before[0] == alone.passes - before[1]
