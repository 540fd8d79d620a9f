"""Zone geometry (bottom-centre anchors, polygons, ROI) and entry/exit debounce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.vision.zones import (
    ZoneMembership,
    anchor,
    anchors_of,
    filter_roi,
    point_in_polygon,
    zone_count,
)

SQUARE = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
L_SHAPE = [(0.0, 0.0), (100.0, 0.0), (100.0, 40.0), (40.0, 40.0), (40.0, 100.0), (0.0, 100.0)]
T0 = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10, 20, 30, 80), (20.0, 80.0)),
        ((0, 0, 1, 1), (0.5, 1.0)),
        ((100.5, 50, 110.5, 300), (105.5, 300.0)),
    ],
)
def test_anchor_is_bottom_centre(
    box: tuple[float, float, float, float], expected: tuple[float, float]
) -> None:
    assert anchor(box) == expected
    assert tuple(anchors_of(np.asarray([box], np.float32))[0]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10, 300, 30, 480), (20.0, 478.5)),  # cut by the bottom edge: feet out of view
        ((10, 300, 30, 479.9), (20.0, 478.5)),
        ((10, 300, 30, 400), (20.0, 400.0)),  # whole person: unchanged
    ],
)
def test_anchor_of_a_box_cut_by_the_frame_is_inside_the_frame(
    box: tuple[float, float, float, float], expected: tuple[float, float]
) -> None:
    assert anchor(box, (640, 480)) == pytest.approx(expected)
    assert tuple(anchors_of(np.asarray([box], np.float32), (640, 480))[0]) == pytest.approx(expected)
    # a ROI drawn along the last pixel row (as the Mall ROI is) contains the clamped anchor
    roi = [(0.0, 100.0), (639.0, 100.0), (639.0, 479.0), (0.0, 479.0)]
    assert point_in_polygon(anchor(box, (640, 480)), roi)


@pytest.mark.parametrize(
    ("polygon", "point", "inside"),
    [
        (SQUARE, (50, 50), True),
        (SQUARE, (150, 50), False),
        (SQUARE, (50, -1), False),
        (SQUARE, (99.9, 99.9), True),
        (L_SHAPE, (20, 80), True),
        (L_SHAPE, (80, 20), True),
        (L_SHAPE, (80, 80), False),  # in the notch of the L
        ([(0, 0), (100, 0), (50, 100)], (50, 90), True),
        ([(0, 0), (100, 0), (50, 100)], (10, 90), False),
    ],
)
def test_point_in_polygon(
    polygon: list[tuple[float, float]], point: tuple[float, float], inside: bool
) -> None:
    assert point_in_polygon(point, polygon) is inside


@pytest.mark.parametrize(
    ("box", "inside"),
    [
        # Head inside the zone, feet below it: not in the zone (the floor position counts).
        ((40, 50, 60, 150), False),
        # Head above the zone, feet inside: in the zone.
        ((40, -80, 60, 90), True),
    ],
)
def test_membership_uses_the_feet_not_the_box(box: tuple[float, float, float, float], inside: bool) -> None:
    assert point_in_polygon(anchor(box), SQUARE) is inside


def test_roi_filter_and_raw_count() -> None:
    anchors = {1: (50.0, 50.0), 2: (150.0, 50.0), 3: (10.0, 10.0)}
    kept = filter_roi(anchors, SQUARE)
    assert set(kept) == {1, 3}
    assert filter_roi(anchors, None) == anchors
    assert zone_count(anchors.values(), SQUARE) == 2
    assert zone_count([], SQUARE) == 0


def _feed(m: ZoneMembership, frames: list[dict[int, tuple[float, float]]]) -> list[tuple[int, int, bool]]:
    out = []
    for i, anchors in enumerate(frames):
        for t in m.update(anchors, T0 + timedelta(seconds=i)):
            out.append((i, t.track, t.entered))
    return out


IN, OUT = (50.0, 50.0), (500.0, 50.0)


@pytest.mark.parametrize(("entry", "exit_"), [(1, 1), (2, 3), (3, 5)])
def test_entry_and_exit_need_their_own_number_of_frames(entry: int, exit_: int) -> None:
    m = ZoneMembership("z", SQUARE, entry, exit_)
    frames = [{7: IN}] * (entry + 2) + [{7: OUT}] * (exit_ + 2)
    events = _feed(m, frames)
    assert events == [(entry - 1, 7, True), (entry + 2 + exit_ - 1, 7, False)]


def test_flicker_shorter_than_the_debounce_changes_nothing() -> None:
    m = ZoneMembership("z", SQUARE, 3, 3)
    # in, in, out, in, in, out, out, in: never 3 in a row inside.
    frames = [{1: IN}, {1: IN}, {1: OUT}, {1: IN}, {1: IN}, {1: OUT}, {1: OUT}, {1: IN}]
    assert _feed(m, frames) == []
    m2 = ZoneMembership("z", SQUARE, 2, 3)
    # Inside confirmed; then out, out, in (exit streak broken), out, out: still inside.
    events = _feed(m2, [{1: IN}, {1: IN}, {1: OUT}, {1: OUT}, {1: IN}, {1: OUT}, {1: OUT}])
    assert events == [(1, 1, True)]
    assert m2.members() == {1}


def test_entry_time_is_the_start_of_the_streak_and_exit_the_last_frame_inside() -> None:
    m = ZoneMembership("z", SQUARE, 3, 2)
    transitions = []
    for i, a in enumerate([{1: IN}, {1: IN}, {1: IN}, {1: IN}, {1: OUT}, {1: OUT}]):
        transitions += m.update(a, T0 + timedelta(seconds=i))
    assert [t.at for t in transitions] == [T0, T0 + timedelta(seconds=3)]


def test_an_unseen_track_keeps_its_membership_until_dropped() -> None:
    m = ZoneMembership("z", SQUARE, 1, 1)
    _feed(m, [{1: IN}, {}, {}, {}])
    assert m.members() == {1}
    assert m.drop(1) is True
    assert m.members() == set()
    assert m.drop(1) is False
