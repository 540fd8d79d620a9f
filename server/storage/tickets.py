"""The ``ticket_events`` table: every accepted queue-ticket event, stored in the ingest
transaction (:func:`add_ticket_event`) and read back per day (:func:`ticket_events_between`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.protocol.tickets import TicketEvent
from server.storage.models import TicketEventRow


def add_ticket_event(session: Session, ev: TicketEvent) -> None:
    """Store one ticket event (already deduplicated by ingest)."""
    session.add(
        TicketEventRow(
            id=ev.id,
            site=ev.site,
            source=ev.source,
            ticket=ev.ticket,
            business=ev.business,
            event=ev.event.value,
            counter=ev.counter,
            to_counter=ev.to_counter,
            to_business=ev.to_business,
            issued_at=ev.issued_at,
            at=ev.ts,
        )
    )


def ticket_events_between(
    session: Session, site: str, start: datetime, end: datetime
) -> Sequence[TicketEventRow]:
    """The hall's ticket events with ``start <= at < end``, in time order."""
    q = (
        select(TicketEventRow)
        .where(TicketEventRow.site == site, TicketEventRow.at >= start, TicketEventRow.at < end)
        .order_by(TicketEventRow.at, TicketEventRow.id)
    )
    return session.scalars(q).all()
