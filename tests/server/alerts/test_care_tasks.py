"""A care task per customer: the long-wait alert's subject is the visit, not the zone."""

from __future__ import annotations

from typing import Any

import pytest

from lobbywatch.clock import FixedClock
from server.alerts.model import UpdateEvent
from server.alerts.store import MemoryAlertStore

from .helpers_hall import Hall, hall

pytestmark = pytest.mark.unit


def _long(visit: str, wait_s: float) -> dict[str, Any]:
    return {"visit": visit, "wait_s": wait_s, "at": [0.5, 0.5]}


def test_two_customers_get_two_tasks_and_one_customer_never_two(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("waiting", occupancy=3, longest_wait_s=590, long_waits=[])
    h.run(5)
    h.zone("waiting", occupancy=3, longest_wait_s=600, long_waits=[_long("aaa111", 600)])
    [first] = h.fired("long_wait")
    assert first.alert.subject == "visit:cam-2:aaa111"
    assert first.alert.zone == "waiting"
    assert first.alert.params["wait_min"] == 10
    h.engine.acknowledge(first.alert.id, by="guide-li")  # the guide visited
    h.run(5)
    # A second customer in the same zone passes the limit: a second task.
    h.zone(
        "waiting", occupancy=3, longest_wait_s=605, long_waits=[_long("aaa111", 605), _long("bbb222", 600)]
    )
    subjects = sorted(u.alert.subject for u in h.fired("long_wait"))
    assert subjects == ["visit:cam-2:aaa111", "visit:cam-2:bbb222"]
    # The first customer walks on to the queue (another zone of the camera): still one task.
    h.zone("waiting", occupancy=2, longest_wait_s=610, long_waits=[_long("bbb222", 610)])
    h.run(2)
    h.zone("queue-a", occupancy=1, longest_wait_s=612, long_waits=[_long("aaa111", 612)])
    h.run(60)
    assert len(h.fired("long_wait")) == 2
    assert h.events("long_wait", UpdateEvent.RESOLVED) == []
    states = {a.subject: a.state for a in h.open("long_wait")}
    assert states == {"visit:cam-2:aaa111": "acknowledged", "visit:cam-2:bbb222": "firing"}
    # Served: no zone lists the first customer any more; their task resolves, the other stays.
    h.zone("queue-a", occupancy=0, long_waits=[])
    h.run(60)
    [resolved] = h.events("long_wait", UpdateEvent.RESOLVED)
    assert resolved.alert.subject == "visit:cam-2:aaa111"
    assert [a.subject for a in h.open("long_wait")] == ["visit:cam-2:bbb222"]


def test_a_camera_without_visits_keeps_the_zone_task(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("waiting", occupancy=3, longest_wait_s=600, waits_over_limit=1)
    [fired] = h.fired("long_wait")
    assert fired.alert.subject == "zone:waiting"


def test_a_restarted_engine_resolves_the_task_of_a_customer_who_left(site_id: str, clock: FixedClock) -> None:
    store = MemoryAlertStore()
    h = Hall(hall(site_id), clock, store=store)
    h.zone("waiting", occupancy=3, longest_wait_s=600, long_waits=[_long("aaa111", 600)])
    [task] = h.fired("long_wait")
    h2 = Hall(hall(site_id), clock, store=store)  # the server restarts; the customer was served
    h2.zone("waiting", occupancy=2, long_waits=[])
    h2.run(60)
    assert [u.alert.id for u in h2.events("long_wait", UpdateEvent.RESOLVED)] == [task.alert.id]
