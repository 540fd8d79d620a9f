"""Expected-wait maths: queue x service time / counters, cold start, Little's law."""

from __future__ import annotations

import pytest

from edge.vision.expected_wait import expected_wait, littles_law_wait


@pytest.mark.parametrize(
    ("queue", "service", "serving", "seconds"),
    [
        (0, 120.0, 2, 0.0),
        (6, 120.0, 2, 360.0),
        (5, 90.0, 3, 150.0),
        (4, 60.0, 0, 240.0),  # nobody serving yet: at least one counter will
    ],
)
def test_queue_times_service_over_counters(queue: int, service: float, serving: int, seconds: float) -> None:
    est = expected_wait(queue, service, serving, cold_start_service_s=180)
    assert est.seconds == pytest.approx(seconds)
    assert est.cold_start is False


def test_cold_start_uses_the_default_service_time() -> None:
    est = expected_wait(3, None, 1, cold_start_service_s=180)
    assert est.cold_start
    assert est.seconds == pytest.approx(540)


def test_cold_start_prefers_littles_law_when_it_has_history() -> None:
    est = expected_wait(3, None, 1, cold_start_service_s=180, departures_per_s=1 / 60)
    assert est.seconds == pytest.approx(180)
    assert est.littles_law_s == pytest.approx(180)


def test_littles_law_cross_check() -> None:
    assert littles_law_wait(10, 0.1) == pytest.approx(100)
    assert littles_law_wait(10, None) is None
    assert littles_law_wait(10, 0.0) is None
    agree = expected_wait(10, 20.0, 2, cold_start_service_s=180, departures_per_s=0.1)
    assert agree.seconds == pytest.approx(100)
    assert not agree.disagrees
    off = expected_wait(10, 100.0, 1, cold_start_service_s=180, departures_per_s=0.1)
    assert off.disagrees
    assert off.seconds == pytest.approx(1000)  # the published figure stays the primary one


def test_negative_queue_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        expected_wait(-1, 60.0, 1, cold_start_service_s=180)
