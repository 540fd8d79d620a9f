"""Queue tickets in the alert engine: transaction overtime per business type, and counter
states that follow the tickets without anyone entering them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.tickets import TicketEvent
from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.templates import render_both
from tests.server.alerts.helpers_hall import Hall, hall


def _ticket(h: Hall, event: str, ticket: str, business: str, issued_at: datetime, **fields: Any) -> None:
    h.send(
        h.stamp("qms").make(
            TicketEvent, event=event, ticket=ticket, business=business, issued_at=issued_at, **fields
        )
    )


def _serve(h: Hall, ticket: str, business: str, minutes: float, counter: str = "c1") -> list[AlertUpdate]:
    """Issue, call and serve a ticket for ``minutes``, the camera seeing the customer at the
    counter all along; then finish it."""
    issued = h.clock.now()
    _ticket(h, "issued", ticket, business, issued)
    h.run(60)
    _ticket(h, "called", ticket, business, issued, counter=counter)
    _ticket(h, "service_started", ticket, business, issued, counter=counter)
    out: list[AlertUpdate] = []
    for second in range(0, int(minutes * 60), 10):
        out += h.zone("counter-1", occupancy=1, longest_wait_s=float(second))
        out += h.run(10)
    _ticket(h, "finished", ticket, business, issued, counter=counter)
    h.zone("counter-1", occupancy=0)
    return out + h.run(60)


def test_seven_minute_new_subscription_raises_no_overtime(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    _serve(h, "A001", "new_subscription", 7)
    assert h.fired("transaction_overtime") == []


def test_nine_minute_new_subscription_raises_overtime_at_eight(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    _serve(h, "A002", "new_subscription", 9)
    fired = h.fired("transaction_overtime")
    assert len(fired) == 1
    params = fired[0].alert.params
    assert (params["business"], params["limit_min"], params["counter_ids"]) == ("new_subscription", 8, ["c1"])
    assert 8.0 <= params["service_min"] < 8.1
    assert fired[0].alert.subject == "counter:c1"
    text = render_both(fired[0].alert)
    assert text["en"][0] == "Transaction overtime: c1 (New subscription, ticket A002)"
    assert text["zh-CN"][0] == "业务办理超时：c1（新装入网，A002号）"
    assert len(h.events("transaction_overtime", UpdateEvent.RESOLVED)) == 1


def test_four_minute_sim_replacement_raises_overtime(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    _serve(h, "B001", "sim_replacement", 4, counter="c2")
    fired = h.fired("transaction_overtime")
    assert len(fired) == 1
    assert (fired[0].alert.params["limit_min"], fired[0].alert.subject) == (3, "counter:c2")


def test_hall_file_limit_for_another_business(site_id: str, clock: FixedClock) -> None:
    cfg = hall(site_id, business={"broadband": {"en": "Broadband", "zh-CN": "宽带", "limit_min": 6}})
    h = Hall(cfg, clock)
    _serve(h, "C001", "broadband", 5)
    _serve(h, "D001", "bill_query", 4)  # no limit of its own: transaction_min, 3 min
    fired = h.fired("transaction_overtime")
    assert [u.alert.params["business"] for u in fired] == ["bill_query"]


def test_without_tickets_the_zone_keeps_three_minutes(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("counter-1", occupancy=1, longest_wait_s=181)
    fired = h.fired("transaction_overtime")
    assert [u.alert.subject for u in fired] == ["zone:counter-1"]


def test_counter_states_follow_the_tickets(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)

    def states() -> dict[str, CounterStatus]:
        return h.engine.hall.counters(site_id)

    assert states() == {}
    issued = clock.now()
    _ticket(h, "issued", "A010", "other", issued)
    _ticket(h, "called", "A010", "other", issued, counter="c1")
    assert states() == {"c1": CounterStatus.SERVING}
    _ticket(h, "service_started", "A010", "other", issued, counter="c1")
    h.zone("counter-1", occupancy=0)  # the camera sees the counter zone empty: c2 is open and idle
    assert states() == {"c1": CounterStatus.SERVING, "c2": CounterStatus.STANDBY}
    h.run(120)
    _ticket(h, "finished", "A010", "other", issued, counter="c1")
    assert states() == {"c1": CounterStatus.STANDBY, "c2": CounterStatus.STANDBY}
    # the terminal sets c2 to learning; it holds until c2 calls a ticket
    h.counter("c2", "learning")
    assert states()["c2"] == CounterStatus.LEARNING
    h.run(5)
    issued = clock.now()
    _ticket(h, "issued", "A011", "other", issued)
    assert states()["c2"] == CounterStatus.LEARNING
    h.run(5)
    _ticket(h, "called", "A011", "other", issued, counter="c2")
    assert states()["c2"] == CounterStatus.SERVING
    _ticket(h, "no_show", "A011", "other", issued, counter="c2")
    assert states()["c2"] == CounterStatus.STANDBY
    now = h.engine.hall.counter_states(site_id)
    assert (now["c1"].source, now["c2"].source) == ("idle", "idle")


def test_busy_hour_playbook_reads_the_derived_counter_states(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.counter("c2", "away")
    h.zone("entrance", occupancy=2, arrivals_total=0)
    h.run(5)
    h.zone("entrance", occupancy=2, arrivals_total=40)  # a surge: the playbook names who is away
    [surge] = h.open("peak_surge")
    assert (surge.params["away_ids"], surge.params["learning_ids"]) == (["c2"], [])
    issued = clock.now()
    _ticket(h, "issued", "A100", "other", issued)
    _ticket(h, "called", "A100", "other", issued, counter="c2")  # c2 is back: it calls a ticket
    h.run(5)
    [surge] = h.open("peak_surge")
    assert surge.params["away_ids"] == []
