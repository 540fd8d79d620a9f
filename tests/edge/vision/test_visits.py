"""Visits across zones, the waits zone states publish from them, and staff left out of both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from edge.vision.pipeline import TrackedBox, ZonePipeline
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.protocol.messages import Envelope, VisitRecord, WaitRecord, ZoneState
from lobbywatch.protocol.sequence import Stamper

pytestmark = pytest.mark.unit


def _square(x: float) -> list[list[float]]:
    return [[x, 0], [x + 100, 0], [x + 100, 100], [x, 100]]


STAFF_AREA = [[600, 0], [650, 0], [650, 100], [600, 100]]  # the guide's side of the desk


def _box(x: float) -> tuple[float, float, float, float]:
    """A person whose feet stand at (x, 50)."""
    return (x - 10, 0.0, x + 10, 50.0)


ENTRANCE, WAITING, QUEUE, COUNTER, CONSULT, DESK, NOWHERE = (
    _box(50),
    _box(150),
    _box(250),
    _box(350),
    _box(550),
    _box(625),
    _box(900),
)


def make_hall(*, floor: Any = None, **staff: Any) -> SiteConfig:
    camera: dict[str, Any] = {
        "id": "cam-1",
        "source": "video.mp4",
        "entry_frames": 2,
        "exit_frames": 3,
        "lost_track_timeout_s": 10,
        "zones": [
            {"zone": "entrance", "polygon": _square(0)},
            {"zone": "waiting", "polygon": _square(100)},
            {"zone": "queue-a", "polygon": _square(200)},
            {"zone": "counter-1", "polygon": _square(300)},
            {"zone": "consult", "polygon": [[500, 0], [650, 0], [650, 100], [500, 100]]},
        ],
    }
    if staff:
        camera["staff"] = staff
    if floor:
        camera["floor"] = floor
    return SiteConfig.model_validate(
        {
            "site": "hall-1",
            "name": {"en": "Test hall", "zh-CN": "测试厅"},
            "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "18:00"}],
            "zones": [
                {"id": "entrance", "kind": "entrance"},
                {"id": "waiting", "kind": "waiting"},
                {"id": "queue-a", "kind": "queue"},
                {"id": "counter-1", "kind": "counter"},
                {"id": "consult", "kind": "consultation"},
            ],
            "counters": [{"id": "c1", "zone": "counter-1", "queue": "queue-a"}],
            "cameras": [camera],
            "thresholds": {"max_wait_min": 2, "care_visit_min": 2, "loiter_min": 30},
        }
    )


class Run:
    def __init__(self, site: SiteConfig) -> None:
        self.clock = FixedClock(datetime(2026, 11, 23, 1, 30, tzinfo=UTC))
        self.pipe = ZonePipeline(
            site, "cam-1", Stamper(site.site, "cam-1", clock=self.clock), frame_size=(1000, 200)
        )
        self.out: list[Envelope] = list(self.pipe.start(self.clock.now()))

    def step(self, tracks: Sequence[tuple[int, tuple[float, float, float, float]]], seconds: int = 1) -> None:
        for _ in range(seconds):
            self.clock.advance(1.0)
            self.out += self.pipe.update([TrackedBox(t, b) for t, b in tracks], self.clock.now())

    def visits(self) -> list[VisitRecord]:
        return [m for m in self.out if isinstance(m, VisitRecord)]

    def state(self, zone: str) -> ZoneState:
        return {s.zone: s for s in self.pipe.current_states()}[zone]


def test_one_visit_keeps_its_wait_across_zones_until_service() -> None:
    run = Run(make_hall())
    run.step([(1, ENTRANCE)], 10)
    run.step([(1, WAITING)], 100)
    run.step([(1, QUEUE)], 80)
    queue = run.state("queue-a")
    # from the waiting area on (the state published last: at most a keep-alive old)
    assert queue.longest_wait_s == pytest.approx(175, abs=5)
    assert [w.wait_s for w in queue.long_waits or []] == [queue.longest_wait_s]
    assert run.state("waiting").long_waits == []
    run.step([(1, COUNTER)], 60)
    assert run.state("queue-a").longest_wait_s is None
    run.step([], 15)
    [visit] = run.visits()
    assert visit.outcome == VisitOutcome.SERVED
    assert visit.zones == ["entrance", "waiting", "queue-a", "counter-1"]
    assert (visit.wait_zone, visit.service_zone) == ("waiting", "counter-1")
    assert visit.wait_s == pytest.approx(180, abs=1)
    assert visit.service_s == pytest.approx(60, abs=1)
    assert visit.visit == (queue.long_waits or [])[0].visit


# the frame (1000 x 200 px) shows the floor 0-10 m by 0-2 m: a pixel is a centimetre
FLOOR = {
    "points": [
        {"image": [0.0, 0.0], "floor": [0.0, 0.0]},
        {"image": [1.0, 0.0], "floor": [10.0, 0.0]},
        {"image": [1.0, 1.0], "floor": [10.0, 2.0]},
        {"image": [0.0, 1.0], "floor": [0.0, 2.0]},
    ]
}


def test_a_visit_records_its_path_on_the_image_and_on_a_calibrated_floor() -> None:
    for floor in (FLOOR, None):
        run = Run(make_hall(floor=floor))
        run.step([(1, ENTRANCE)], 10)
        run.step([(1, WAITING)], 100)
        run.step([(1, COUNTER)], 60)
        run.step([], 15)
        [visit] = run.visits()
        first, *_, last = visit.path
        assert (first.at, last.at) == (visit.arrived, visit.left)
        assert (first.image, last.image) == ((0.05, 0.25), (0.35, 0.25))
        assert [p.at for p in visit.path] == sorted(p.at for p in visit.path)
        # first seen, then entering the entrance, leaving it, entering the waiting area, ...
        assert len(visit.path) >= 2 + len(visit.zones) + 2
        if floor is None:
            assert {p.floor for p in visit.path} == {None}
        else:
            assert (first.floor, last.floor) == ((0.5, 0.5), (3.5, 0.5))


def test_a_customer_who_leaves_unserved_walked_out_and_two_customers_are_two_long_waits() -> None:
    run = Run(make_hall())
    run.step([(1, QUEUE), (2, QUEUE)], 130)
    ids = {w.visit for w in run.state("queue-a").long_waits or []}
    assert len(ids) == 2
    assert run.state("queue-a").waits_over_limit == 2
    run.step([(2, QUEUE)], 20)
    [gone] = run.visits()
    assert gone.outcome == VisitOutcome.WALKED_OUT
    assert gone.wait_s == pytest.approx(129, abs=1)
    assert {w.visit for w in run.state("queue-a").long_waits or []} == ids - {gone.visit}


def test_passing_through_without_waiting_is_a_visit_without_a_wait() -> None:
    run = Run(make_hall())
    run.step([(1, ENTRANCE)], 5)
    run.step([(1, CONSULT)], 200)
    assert run.state("consult").longest_wait_s is None
    run.step([], 15)
    [visit] = run.visits()
    assert (visit.outcome, visit.wait_s) == (VisitOutcome.PASSED, None)


def test_staff_first_seen_at_their_desk_are_never_a_wait_a_visit_or_a_long_wait() -> None:
    run = Run(make_hall(positions=[{"id": "guide-desk", "polygon": STAFF_AREA}]))
    run.step([(7, DESK), (1, CONSULT)], 20 * 60)
    consult = run.state("consult")
    assert consult.count == 2  # staff count for occupancy by default
    assert consult.longest_wait_s is None
    assert consult.long_waits == []
    assert consult.entered_total == 1  # only the customer
    run.step([(1, CONSULT)], 20)  # the guide goes off shift
    run.step([], 15)
    visits = run.visits()
    assert len(visits) == 1
    assert visits[0].outcome == VisitOutcome.PASSED
    assert not [m for m in run.out if isinstance(m, WaitRecord)]


def test_staff_are_left_out_of_occupancy_where_the_camera_says_so() -> None:
    run = Run(make_hall(positions=[{"id": "guide-desk", "polygon": STAFF_AREA}], occupancy_zones=[]))
    run.step([(7, DESK), (1, CONSULT)], 10)
    assert run.state("consult").count == 1


def test_a_track_that_moves_like_staff_loses_its_visit_and_waits() -> None:
    staff = {"positions": [{"id": "guide-desk", "polygon": STAFF_AREA}], "rules": {"min_observed_s": 60}}
    run = Run(make_hall(**staff))
    # The guide comes in through the floor (first seen in the queue), then keeps to the desk.
    run.step([(7, QUEUE)], 20)
    assert run.state("queue-a").longest_wait_s == pytest.approx(15, abs=5)
    run.step([(7, DESK)], 60)
    assert run.state("queue-a").longest_wait_s is None
    judged = len(run.out)
    run.step([(7, QUEUE)], 200)  # a round of the floor: still staff
    assert run.state("queue-a").longest_wait_s is None
    assert run.state("queue-a").count == 1
    run.step([], 15)
    assert run.visits() == []
    # a dwell that ended before the judgement was published; none after it
    assert not [m for m in run.out[judged:] if isinstance(m, WaitRecord)]


def test_stream_loss_ends_every_visit_as_lost() -> None:
    run = Run(make_hall())
    run.step([(1, QUEUE)], 30)
    run.out += run.pipe.stream_lost(run.clock.now())
    [visit] = run.visits()
    assert visit.outcome == VisitOutcome.LOST


def test_a_new_track_where_a_waiting_customer_vanished_keeps_their_visit() -> None:
    run = Run(make_hall())
    run.step([(1, QUEUE)], 130)
    [before] = run.state("queue-a").long_waits or []
    run.step([(2, QUEUE)], 30)  # the tracker switched the customer's id
    [after] = run.state("queue-a").long_waits or []
    assert after.visit == before.visit
    assert after.wait_s > before.wait_s
    run.step([(2, COUNTER)], 10)
    run.step([], 15)
    [visit] = run.visits()
    assert visit.outcome == VisitOutcome.SERVED
    assert visit.wait_s == pytest.approx(160, abs=1)


def test_someone_appearing_where_another_left_through_the_door_is_a_new_visit() -> None:
    run = Run(make_hall())
    run.step([(1, ENTRANCE)], 10)
    run.step([(2, ENTRANCE)], 10)
    run.step([], 15)
    assert len(run.visits()) == 2
