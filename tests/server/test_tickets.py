"""Queue-ticket events through the server's ingest: stored in SQL (PostgreSQL, the Alembic
schema), applied to the hall state, shown in the live state (counter states and the wait per
business type)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.tickets import TicketEvent
from server.storage.models import TicketEventRow
from server.storage.tickets import ticket_events_between

from .conftest import Server


def _ticket(
    server: Server, event: str, ticket: str, business: str, issued_at: datetime, **kw: Any
) -> TicketEvent:
    msg: TicketEvent = server.make(
        TicketEvent, "qms", event=event, ticket=ticket, business=business, issued_at=issued_at, **kw
    )
    return msg


def test_ticket_events_are_stored_and_drive_the_live_state(
    make_server: Callable[..., Server], sql_url: str
) -> None:
    server = make_server(sql_url=sql_url)
    clock = server.clock
    t0 = clock.now()
    sent: list[Envelope | dict[str, Any]] = [
        _ticket(server, "issued", "A001", "new_subscription", t0),
        _ticket(server, "issued", "A002", "new_subscription", t0),
        _ticket(server, "issued", "B001", "sim_replacement", t0),
        _ticket(server, "called", "A001", "new_subscription", t0, counter="c1"),
        _ticket(server, "service_started", "A001", "new_subscription", t0, counter="c1"),
    ]
    r = server.send(sent).json()
    assert r["accepted"] == 5
    assert server.send(sent[:2]).json()["duplicates"] == 2

    live = server.get(f"/api/v1/sites/{server.site}/live").json()
    counters = {c["counter"]: (c["state"], c["source"]) for c in live["counters"]}
    assert counters["c1"] == ("serving", "ticket")
    waits = {w["business"]: w for w in live["waits_by_business"]}
    # One counter open (c1): A002 waits behind 8 min of new subscription, B001 behind 3 min.
    assert (waits["new_subscription"]["ahead"], waits["new_subscription"]["expected_wait_s"]) == (1, 480.0)
    assert (waits["sim_replacement"]["ahead"], waits["sim_replacement"]["expected_wait_s"]) == (1, 180.0)
    assert waits["sim_replacement"]["name"] == {"en": "SIM replacement", "zh-CN": "补换卡"}

    clock.advance(300)
    done = _ticket(server, "finished", "A001", "new_subscription", t0, counter="c1")
    assert server.send([done]).json()["accepted"] == 1
    live = server.get(f"/api/v1/sites/{server.site}/live").json()
    assert {c["counter"]: c["state"] for c in live["counters"]}["c1"] == "standby"
    waits = {w["business"]: w for w in live["waits_by_business"]}
    assert waits["new_subscription"]["service_s"] == 300.0  # the service just seen, not the limit

    with server.ctx.db.session() as s:
        end = clock.now() + timedelta(seconds=1)
        rows = ticket_events_between(s, server.site, t0 - timedelta(minutes=1), end)
        last = rows[-1]
        assert (last.ticket, last.event, last.counter) == ("A001", "finished", "c1")
        assert last.at == t0 + timedelta(seconds=300)
        assert {(r.ticket, r.event, r.counter) for r in rows[:-1]} == {
            ("A001", "issued", None),
            ("A002", "issued", None),
            ("B001", "issued", None),
            ("A001", "called", "c1"),
            ("A001", "service_started", "c1"),
        }
        assert all(r.issued_at == t0 for r in rows)
        assert len(s.scalars(select(TicketEventRow.id)).all()) == 6  # the duplicates are not stored again
