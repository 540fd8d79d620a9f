"""The matching of bench/count_matching.py: what a count's MAE hides (misses, false boxes)."""

from __future__ import annotations

import numpy as np

from bench.count_matching import match


def test_a_right_count_can_hide_a_miss_and_a_false_box() -> None:
    truth = np.asarray([[100.0, 100.0], [300.0, 100.0]])
    found = np.asarray([[104.0, 98.0], [500.0, 400.0]])  # one right, one nobody; the count says 2
    assert match(found, np.asarray([40.0, 40.0]), truth, within=0.5) == [(0, 0)]


def test_each_head_and_each_box_pairs_once_nearest_first() -> None:
    truth = np.asarray([[100.0, 100.0], [130.0, 100.0]])
    found = np.asarray([[128.0, 100.0], [126.0, 100.0]])  # both nearest the second head
    # 128 takes 130 (nearest), 126 the other; at 0.1 only the first (126 is 0.26 heights from 100)
    assert match(found, np.asarray([100.0, 100.0]), truth, within=0.5) == [(0, 1), (1, 0)]
    assert match(found, np.asarray([100.0, 100.0]), truth, within=0.1) == [(0, 1)]
    assert match(found[:0], np.zeros(0), truth, within=0.5) == []
