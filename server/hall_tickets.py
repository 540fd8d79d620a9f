"""Queue tickets of one hall as its ticket system reports them (``ticket_event`` messages).

:class:`HallTickets` owns the open tickets, the ticket each counter has called or is serving,
when each counter last had a ticket event, and the recent service times per business type;
:meth:`HallTickets.wait_by_business` tells the wait (tickets ahead and expected wait per
business type). The hall state (:mod:`server.hall_state`) holds one per hall and applies
every accepted ticket event; docs/server.md ("Queue tickets") has the long story.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lobbywatch.protocol.enums import TicketEventKind
from lobbywatch.protocol.tickets import TicketEvent

SERVICE_SAMPLES = 20
"""Service times kept per business type (the expected wait uses their median)."""
CLOSED_KEPT = 5000
"""Closed tickets remembered, so a late event cannot reopen one."""

TicketKey = tuple[str, datetime]
"""A ticket: its number and when it was issued (numbers restart every day)."""

AT_COUNTER = (TicketEventKind.CALLED, TicketEventKind.RECALLED, TicketEventKind.SERVICE_STARTED)
CLOSING = (TicketEventKind.FINISHED, TicketEventKind.NO_SHOW)


@dataclass
class Ticket:
    """One open ticket: its business type, its last event, and the counter that has it."""

    ticket: str
    business: str
    issued_at: datetime
    event: TicketEventKind
    at: datetime
    counter: str | None = None
    called_at: datetime | None = None
    service_started_at: datetime | None = None

    @property
    def waiting(self) -> bool:
        """Not called yet (issued, or transferred and waiting for its new counter)."""
        return self.event in (TicketEventKind.ISSUED, TicketEventKind.TRANSFERRED)

    @property
    def service_since(self) -> datetime | None:
        """When its transaction began: service started, else called (a counter has it)."""
        return self.service_started_at or self.called_at


@dataclass(frozen=True, slots=True)
class BusinessWait:
    """Tell the wait for one business type: tickets ahead of a newcomer and the expected wait."""

    business: str
    ahead: int
    expected_wait_s: float
    service_s: float
    """The service time it rests on (median of recent ones, else the business limit)."""


@dataclass
class HallTickets:
    """The hall's queue tickets now (see the module docstring)."""

    open: dict[TicketKey, Ticket] = field(default_factory=dict)
    at_counter: dict[str, TicketKey] = field(default_factory=dict)
    counter_event_at: dict[str, datetime] = field(default_factory=dict)
    service_s: dict[str, deque[float]] = field(default_factory=dict)
    last_event_at: datetime | None = None
    _closed: set[TicketKey] = field(default_factory=set)
    _closed_order: deque[TicketKey] = field(default_factory=deque)

    def apply(self, ev: TicketEvent) -> None:
        """Apply one ticket event (in arrival order; one for a closed ticket changes nothing)."""
        key = (ev.ticket, ev.issued_at)
        if key in self._closed:
            return
        if self.last_event_at is None or ev.ts > self.last_event_at:
            self.last_event_at = ev.ts
        t = self.open.get(key)
        if t is None:
            t = self.open[key] = Ticket(ev.ticket, ev.business, ev.issued_at, ev.event, ev.ts)
        t.event, t.at = ev.event, ev.ts
        if ev.counter is not None:
            self._release(t, key)
            t.counter = ev.counter
            self.counter_event_at[ev.counter] = max(ev.ts, self.counter_event_at.get(ev.counter, ev.ts))
        if ev.event in AT_COUNTER and ev.counter is not None:
            self.at_counter[ev.counter] = key
            t.called_at = t.called_at or ev.ts
            if ev.event == TicketEventKind.SERVICE_STARTED:
                t.service_started_at = t.service_started_at or ev.ts
        elif ev.event == TicketEventKind.TRANSFERRED:
            self._release(t, key)
            t.business = ev.to_business or t.business
            t.counter, t.called_at, t.service_started_at = ev.to_counter, None, None
        elif ev.event in CLOSING:
            self._close(t, key, ev)

    def _release(self, t: Ticket, key: TicketKey) -> None:
        if t.counter is not None and self.at_counter.get(t.counter) == key:
            del self.at_counter[t.counter]

    def _close(self, t: Ticket, key: TicketKey, ev: TicketEvent) -> None:
        started = t.service_since
        if ev.event == TicketEventKind.FINISHED and started is not None and ev.ts >= started:
            kept = self.service_s.setdefault(t.business, deque(maxlen=SERVICE_SAMPLES))
            kept.append((ev.ts - started).total_seconds())
        self._release(t, key)
        del self.open[key]
        self._closed.add(key)
        self._closed_order.append(key)
        if len(self._closed_order) > CLOSED_KEPT:
            self._closed.discard(self._closed_order.popleft())

    # ------------------------------------------------------------------ reads

    def current(self, counter: str) -> Ticket | None:
        """The ticket ``counter`` has called or is serving, if any."""
        key = self.at_counter.get(counter)
        return None if key is None else self.open.get(key)

    def waiting(self) -> list[Ticket]:
        """Tickets not yet called, oldest first."""
        return sorted((t for t in list(self.open.values()) if t.waiting), key=lambda t: t.issued_at)

    def service_estimate_s(self, business: str) -> float | None:
        """Median of the recent service times of ``business`` (None before the first)."""
        kept = self.service_s.get(business)
        return statistics.median(list(kept)) if kept else None  # a copy: ingest may append

    def wait_by_business(
        self, businesses: list[str], limit_s: Callable[[str], float], counters_open: int
    ) -> list[BusinessWait]:
        """Per business type (those given and those waiting now): tickets ahead of a newcomer
        and the expected wait, ``ahead`` × service time ÷ counters open (at least one); the
        service time is the median of recent ones, else the business limit ``limit_s``."""
        ahead: dict[str, int] = dict.fromkeys(businesses, 0)
        for t in self.waiting():
            ahead[t.business] = ahead.get(t.business, 0) + 1
        out = []
        for business in sorted(ahead):
            service = self.service_estimate_s(business) or limit_s(business)
            n = ahead[business]
            out.append(BusinessWait(business, n, n * service / max(1, counters_open), service))
        return out
