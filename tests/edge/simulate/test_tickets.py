"""The simulated hall's queue-ticket system: every served customer's ticket is issued, called,
served and finished at the counter that served them, and the server's ticket state follows."""

from __future__ import annotations

import random
from collections import defaultdict

from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import NORMAL
from edge.simulate.tickets import business_of
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import decode, encode
from lobbywatch.protocol.tickets import TicketEvent
from lobbywatch.protocol.topics import topic_for
from server.hall_tickets import HallTickets
from tests.edge.simulate.helpers_simulate import OPENING, TELECOM, hall


def test_simulated_tickets_follow_the_true_stays() -> None:
    site = hall(TELECOM)
    clock = FixedClock.at(OPENING)
    sim = HallSimulator(site, clock, random.Random(3), NORMAL, tick_s=2.0, devices=False, tickets=True)
    events: list[TicketEvent] = []
    for _ in range(60 * 30):  # an hour
        clock.advance(2.0)
        events += [m for m in sim.step() if isinstance(m, TicketEvent)]
    assert all(decode(encode(e), topic=topic_for(e)) == e for e in events)
    assert [e.seq for e in events] == list(range(len(events)))
    by_ticket: dict[tuple[str, object], list[str]] = defaultdict(list)
    for e in events:
        by_ticket[(e.ticket, e.issued_at)].append(e.event.value)
    finished = [k for k, evs in by_ticket.items() if "finished" in evs]
    assert len(finished) >= 20
    assert all(by_ticket[k] == ["issued", "called", "service_started", "finished"] for k in finished)
    served = [s for s in sim.world.stays if s.kind == "service" and s.end_s is not None]
    assert len(finished) == len(served)
    assert {e.business for e in events} >= {"new_subscription", "sim_replacement"}
    assert len({(e.business, e.ticket[0]) for e in events}) == len({e.business for e in events})
    counters = {e.counter for e in events if e.counter is not None}
    assert counters <= {c.id for c in site.counters}

    tickets = HallTickets()
    for e in events:
        tickets.apply(e)
    assert len(tickets.waiting()) == sum(1 for evs in by_ticket.values() if evs == ["issued"])
    assert tickets.service_estimate_s("new_subscription") is not None


def test_business_of_job_names() -> None:
    assert business_of("new_subscription") == "new_subscription"
    assert business_of("Bill Payment!") == "bill_payment"
    assert business_of(None) == business_of("") == "other"
