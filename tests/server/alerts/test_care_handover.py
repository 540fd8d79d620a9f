"""Care tasks across cameras (issue 17): a customer walking from one camera's view into
another's keeps one wait and one care task (server/handover.py); the task carries the floor
point where a camera is calibrated."""

from __future__ import annotations

from typing import Any

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import ZoneState
from server.alerts.model import UpdateEvent

from .helpers_hall import ZONE_CAMERA, Hall, hall, hall_dict

pytestmark = pytest.mark.unit

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]
# cam-1 sees the floor 0.5-6.5 m from the door, cam-2 5-12 m: they share 5-6.5 m
FLOOR_1 = [
    ([0.0, 1.0], [6.0, 0.5]),
    ([1.0, 1.0], [14.0, 0.5]),
    ([1.0, 0.2], [20.0, 6.5]),
    ([0.0, 0.2], [0.0, 6.5]),
]
FLOOR_2 = [
    ([0.0, 1.0], [5.0, 5.0]),
    ([1.0, 1.0], [15.0, 5.0]),
    ([1.0, 0.15], [20.0, 12.0]),
    ([0.0, 0.15], [0.0, 12.0]),
]
SHARED_1 = [0.5, 0.25]  # cam-1's view of (10, 5.6) m
SHARED_2 = [0.5, 0.95]  # cam-2's view of (10, 5.2) m: 0.4 m away
ELSEWHERE_2 = [0.1, 0.95]  # (5.9, 5.2) m: 4 m away
NEAR_DOOR_1 = [0.5, 0.6]  # cam-1's view of (10, 2.2) m: out of cam-2's view


def calibrated(site_id: str) -> Hall:
    cfg = hall_dict(site_id)
    for cam, pairs in (("cam-1", FLOOR_1), ("cam-2", FLOOR_2)):
        [camera] = [c for c in cfg["cameras"] if c["id"] == cam]
        camera["floor"] = {"points": [{"image": i, "floor": f} for i, f in pairs]}
        if cam == "cam-1":  # the waiting area reaches into cam-1's view
            camera["zones"].append({"zone": "waiting", "polygon": SQUARE})
    return Hall(hall(site_id, cameras=cfg["cameras"]), FixedClock.at("2026-11-23T01:00:00Z"))


def waiting(h: Hall, camera: str, zone: str, *waits: tuple[str, float, list[float]]) -> None:
    listed: list[dict[str, Any]] = [{"visit": v, "wait_s": w, "at": at} for v, w, at in waits]
    h.send(
        h.stamp(camera).make(
            ZoneState,
            zone=zone,
            kind="waiting" if zone == "waiting" else "queue",
            occupancy=len(waits),
            count=len(waits),
            entered_total=0,
            exited_total=0,
            long_waits=[w for w in listed if w["wait_s"] >= 600],
            waiting=listed,
        )
    )


def walk(h: Hall, seconds: int, *states: tuple[str, str, list[tuple[str, float, list[float]]]]) -> None:
    """Every 10 s for ``seconds``: each (camera, zone, waits) state, waits grown by the time."""
    for t in range(0, seconds, 10):
        for camera, zone, waits in states:
            waiting(h, camera, zone, *[(v, w + t, at) for v, w, at in waits])
        h.run(10)


def test_walking_into_the_other_cameras_view_keeps_the_wait_and_one_task(site_id: str) -> None:
    assert ZONE_CAMERA["waiting"] == "cam-2"
    h = calibrated(site_id)
    walk(h, 290, ("cam-1", "waiting", [("aaa", 0, NEAR_DOOR_1)]))
    # into the shared strip: both cameras see the customer; cam-2's own wait starts at 0
    walk(h, 40, ("cam-1", "waiting", [("aaa", 290, SHARED_1)]), ("cam-2", "waiting", [("bbb", 0, SHARED_2)]))
    waiting(h, "cam-1", "waiting")  # out of cam-1's view
    walk(h, 260, ("cam-2", "waiting", [("bbb", 40, SHARED_2)]))
    assert h.fired("long_wait") == []  # 9 min 50 s in all
    walk(h, 20, ("cam-2", "waiting", [("bbb", 300, SHARED_2)]))
    [task] = h.fired("long_wait")
    assert task.alert.subject == "visit:cam-1:aaa"  # the customer's first visit names the task
    assert task.alert.params["wait_min"] == pytest.approx(10, abs=0.2)
    assert task.alert.params["floor"] == [10.0, 5.2]
    assert task.alert.params["at"] == tuple(SHARED_2)
    walk(h, 120, ("cam-2", "waiting", [("bbb", 320, SHARED_2)]))
    assert len(h.fired("long_wait")) == 1
    waiting(h, "cam-2", "waiting")  # served
    h.run(60)
    waiting(h, "cam-2", "waiting")
    h.run(60)
    [resolved] = h.events("long_wait", UpdateEvent.RESOLVED)
    assert resolved.alert.subject == "visit:cam-1:aaa"


def test_views_that_meet_hand_a_long_wait_over_without_a_second_task(site_id: str) -> None:
    h = calibrated(site_id)
    walk(h, 620, ("cam-1", "waiting", [("aaa", 0, SHARED_1)]))
    [task] = h.fired("long_wait")
    waiting(h, "cam-1", "waiting")  # gone from cam-1 ...
    h.run(10)
    walk(h, 120, ("cam-2", "waiting", [("bbb", 0, SHARED_2)]))  # ... and seen by cam-2 10 s later
    assert [u.alert.id for u in h.fired("long_wait")] == [task.alert.id]
    assert h.events("long_wait", UpdateEvent.RESOLVED) == []
    assert [a.params["wait_min"] for a in h.open("long_wait")] == [pytest.approx(12.5, abs=0.3)]


def test_someone_else_elsewhere_is_another_customer(site_id: str) -> None:
    h = calibrated(site_id)
    walk(h, 300, ("cam-1", "waiting", [("aaa", 0, SHARED_1)]))
    walk(
        h,
        320,
        ("cam-1", "waiting", [("aaa", 300, SHARED_1)]),
        ("cam-2", "waiting", [("bbb", 0, ELSEWHERE_2)]),  # 4 m away: not them
    )
    assert [u.alert.subject for u in h.fired("long_wait")] == ["visit:cam-1:aaa"]


def test_two_customers_side_by_side_in_the_strip_stay_two(site_id: str) -> None:
    h = calibrated(site_id)
    # cam-2 lists a customer standing in the shared strip (cam-1 sees them too, without a
    # visit: they never waited in its zones) when a second one appears next to them on cam-1
    walk(h, 100, ("cam-2", "waiting", [("ccc", 0, SHARED_2)]))
    walk(h, 620, ("cam-1", "waiting", [("aaa", 0, SHARED_1)]), ("cam-2", "waiting", [("ccc", 100, SHARED_2)]))
    # each passes 10 min on their own clock: two customers, two tasks
    assert [u.alert.subject for u in h.fired("long_wait")] == ["visit:cam-2:ccc", "visit:cam-1:aaa"]


def params_of(h: Hall) -> list[dict[str, Any]]:
    return [a.params for a in h.open("long_wait")]


def test_an_uncalibrated_camera_gives_no_floor_point(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("waiting", occupancy=1, long_waits=[{"visit": "a1", "wait_s": 600, "at": [0.5, 0.5]}])
    assert [p["floor"] for p in params_of(h)] == [None]
