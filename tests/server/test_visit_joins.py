"""Completed visits joined across cameras (issue 17): the join rule on the records' paths
(server.handover.continues, nearest, clash) and one customer's figures over their camera
visits (server.visits.customer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lobbywatch.protocol.enums import VisitOutcome
from server.handover import Trace, clash, continues, nearest
from server.storage.models import VisitRow
from server.visits import customer

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def trace(camera: str, *points: tuple[float, tuple[float, float]]) -> Trace:
    return Trace(camera, s(points[0][0]), s(points[-1][0]), tuple((s(t), p) for t, p in points))


# A waits on cam-a, then walks to x = 10 m, where cam-a's view ends
A = trace("cam-a", (0, (2.0, 2.0)), (60, (3.0, 3.0)), (400, (9.0, 4.0)), (420, (10.0, 4.0)))


def test_views_that_meet_hand_over_where_and_just_after_the_customer_left() -> None:
    after = trace("cam-b", (430, (10.5, 4.2)), (900, (14.0, 2.0)))
    assert continues(A, after) == pytest.approx(0.539, abs=1e-3)
    # too late (over 30 s after), too far (over 1.5 m), or the same camera: someone else
    assert continues(A, trace("cam-b", (460, (10.5, 4.2)), (900, (14.0, 2.0)))) is None
    assert continues(A, trace("cam-b", (430, (12.0, 4.2)), (900, (14.0, 2.0)))) is None
    assert continues(A, trace("cam-a", (430, (10.5, 4.2)), (900, (14.0, 2.0)))) is None
    # nor does a visit that began before A continue it
    assert continues(after, A) is None


def test_views_that_overlap_hand_over_where_the_customer_stood_then() -> None:
    # cam-b's view begins at x = 8.5 m: it first sees them as they cross into it at 395 s,
    # by A's zone exit at 400 s; someone cam-b first sees at 100 s near that spot is not them
    assert continues(A, trace("cam-b", (395, (8.6, 4.0)), (900, (14.0, 2.0)))) == pytest.approx(0.4)
    assert continues(A, trace("cam-b", (100, (8.6, 4.0)), (900, (14.0, 2.0)))) is None


def test_the_nearest_continuation_wins_and_one_camera_never_sees_a_customer_twice() -> None:
    assert nearest([("far", 1.2), ("none", None), ("near", 0.3), ("tie", 0.3)]) == "near"
    assert nearest([("none", None)]) is None
    b = trace("cam-b", (430, (10.5, 4.2)), (900, (14.0, 2.0)))
    at_once = trace("cam-b", (800, (13.0, 2.0)), (1000, (14.0, 2.0)))
    later = trace("cam-b", (901, (13.0, 2.0)), (1000, (14.0, 2.0)))
    assert clash([A, b], [at_once])
    assert not clash([A, b], [later])


def row(camera: str, arrived: float, left: float, outcome: VisitOutcome, **kw: float) -> VisitRow:
    wait = kw.get("wait")
    service = kw.get("service")
    end = left if service is None else service
    return VisitRow(
        camera=camera,
        arrived_at=s(arrived),
        left_at=s(left),
        wait_started=None if wait is None else s(wait),
        wait_s=None if wait is None else end - wait,
        service_started=None if service is None else s(service),
        outcome=outcome.value,
    )


def test_a_customer_waits_from_the_first_cameras_wait_to_service_on_any() -> None:
    walked_on = row("cam-a", 0, 420, VisitOutcome.WALKED_OUT, wait=60)
    served = row("cam-b", 395, 900, VisitOutcome.SERVED, wait=400, service=700)
    c = customer([walked_on, served])
    assert (c.camera_visits, c.left, c.wait_s, c.outcome) == (2, s(900), 640.0, VisitOutcome.SERVED)
    # one camera: its own record says it all
    assert customer([served]).wait_s == 300.0


def test_a_customer_who_never_reaches_a_counter_walked_out_when_last_seen() -> None:
    c = customer(
        [row("cam-a", 0, 420, VisitOutcome.WALKED_OUT, wait=60), row("cam-b", 395, 900, VisitOutcome.PASSED)]
    )
    assert (c.wait_s, c.outcome) == (840.0, VisitOutcome.WALKED_OUT)
    lost = customer(
        [row("cam-a", 0, 420, VisitOutcome.WALKED_OUT, wait=60), row("cam-b", 395, 900, VisitOutcome.LOST)]
    )
    assert lost.outcome == VisitOutcome.LOST
    passed = customer(
        [row("cam-a", 0, 420, VisitOutcome.PASSED), row("cam-b", 395, 900, VisitOutcome.PASSED)]
    )
    assert (passed.wait_s, passed.outcome) == (None, VisitOutcome.PASSED)
