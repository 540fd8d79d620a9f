"""The simulated hall's queue-ticket system: ticket events from the world's true stays.

Every customer who joins a queue or waiting zone takes a ticket (issued: their job is the
business type, numbered per business with a letter prefix), except the walk-ins
(``Scenario.ticket_share``); when a counter takes them, it
calls the ticket and service starts; when they leave the counter, it is finished; someone
who leaves the line without service is a no-show. :class:`TicketDesk` reads
``HallWorld.stays`` after each tick (it changes nothing in the world), so its events are the
world's truth. docs/simulator.md ("Queue tickets").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from edge.simulate.world import HallWorld, TrueStay
from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import TicketEventKind
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import TicketEvent


def business_of(job: str | None) -> str:
    """A job name as a business type id (``other`` when there is none)."""
    ident = re.sub(r"[^a-z0-9_-]+", "_", (job or "other").lower()).strip("_-")[:64]
    return ident or "other"


@dataclass
class _Ticket:
    number: str
    business: str
    issued_at: datetime
    counter: str | None = None


@dataclass
class TicketDesk:
    """Turns the world's stays into ticket events (see the module docstring)."""

    site: SiteConfig
    stamper: Stamper
    clock: Clock
    now_at: Callable[[float], datetime]
    _seen: int = 0
    _numbers: dict[str, int] = field(default_factory=dict)
    _prefixes: dict[str, str] = field(default_factory=dict)
    _by_pid: dict[int, _Ticket] = field(default_factory=dict)
    _waits: dict[int, TrueStay] = field(default_factory=dict)
    _services: dict[int, TrueStay] = field(default_factory=dict)

    def _event(self, kind: TicketEventKind, t: _Ticket, counter: str | None = None) -> TicketEvent:
        """Stamped now (the simulator's clock, as its cameras' messages are)."""
        return self.stamper.make(
            TicketEvent,
            event=kind,
            ticket=t.number,
            business=t.business,
            issued_at=min(t.issued_at, self.clock.now()),
            counter=counter,
        )

    def _issue(self, stay: TrueStay) -> _Ticket:
        business = business_of(stay.job)
        prefix = self._prefixes.setdefault(business, chr(ord("A") + len(self._prefixes) % 26))
        n = self._numbers[business] = self._numbers.get(business, 0) + 1
        return _Ticket(f"{prefix}{n:03d}", business, self.now_at(stay.start_s))

    def _counter_at(self, zone: str | None) -> str | None:
        counters = self.site.counters_at(zone) if zone is not None else []
        return counters[0] if counters else None

    def observe(self, world: HallWorld) -> list[TicketEvent]:
        """The ticket events of what happened since the last call."""
        out: list[TicketEvent] = []
        for stay in world.stays[self._seen :]:
            if stay.kind == "wait" and stay.ticket and stay.pid not in self._by_pid:
                t = self._by_pid[stay.pid] = self._issue(stay)
                self._waits[stay.pid] = stay
                out.append(self._event(TicketEventKind.ISSUED, t))
            elif stay.kind == "service" and (t2 := self._by_pid.get(stay.pid)) is not None:
                self._waits.pop(stay.pid, None)
                self._services[stay.pid] = stay
                t2.counter = self._counter_at(stay.zone)
                if t2.counter is not None:
                    out.append(self._event(TicketEventKind.CALLED, t2, t2.counter))
                    out.append(self._event(TicketEventKind.SERVICE_STARTED, t2, t2.counter))
        self._seen = len(world.stays)
        for pid, stay in list(self._services.items()):
            if stay.end_s is not None:
                del self._services[pid]
                t = self._by_pid.pop(pid)
                if t.counter is not None:
                    out.append(self._event(TicketEventKind.FINISHED, t, t.counter))
        for pid, stay in list(self._waits.items()):
            if stay.end_s is not None and pid not in self._services and world.people.get(pid) is None:
                del self._waits[pid]
                out.append(self._event(TicketEventKind.NO_SHOW, self._by_pid.pop(pid)))
        return out
