"""Counter states from the source: the one definition of what state each counter is in.

A counter is **serving** while it has a ticket called or in service (queue tickets) or a
person is in its counter zone (cameras), **standby** when it is open and idle, **away** and
**learning** when its counter terminal says so. The terminal overrides: its state holds
until the counter's next ticket event, except that a ticket at the counter or a person in
its zone makes a serving/standby terminal state serving. Read through
:meth:`server.hall_state.HallState.counter_states`; docs/server.md ("Counter states").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import CounterStatus
from server.hall_records import Hall

CounterSource = Literal["terminal", "ticket", "zone", "idle"]

SET_BY_HAND = (CounterStatus.AWAY, CounterStatus.LEARNING)


@dataclass(frozen=True, slots=True)
class CounterNow:
    """One counter's state now and what says so (``idle``: open with nothing happening)."""

    counter: str
    state: CounterStatus
    since: datetime | None
    ts: datetime
    source: CounterSource


def counter_now(cfg: SiteConfig | None, hall: Hall, counter: str) -> CounterNow | None:
    """The state of ``counter`` (None: nothing has said anything about it yet)."""
    terminal = hall.counters.get(counter)
    ticket_at = hall.tickets.counter_event_at.get(counter)
    terminal_holds = terminal is not None and (ticket_at is None or terminal.ts >= ticket_at)
    if terminal is not None and terminal_holds and terminal.state in SET_BY_HAND:
        return CounterNow(counter, terminal.state, terminal.since, terminal.ts, "terminal")
    current = hall.tickets.current(counter)
    if current is not None:
        return CounterNow(counter, CounterStatus.SERVING, current.service_since, current.at, "ticket")
    zone = None
    if cfg is not None:
        zone_id = next((c.zone for c in cfg.counters if c.id == counter), None)
        zone = hall.zones.get(zone_id) if zone_id is not None else None
    if zone is not None and zone.count > 0:
        return CounterNow(counter, CounterStatus.SERVING, None, zone.ts, "zone")
    if terminal is not None and terminal_holds:
        return CounterNow(counter, terminal.state, terminal.since, terminal.ts, "terminal")
    seen = [t for t in (ticket_at, zone.ts if zone is not None else None) if t is not None]
    if not seen:
        return None
    return CounterNow(counter, CounterStatus.STANDBY, ticket_at, max(seen), "idle")


def counter_states(cfg: SiteConfig | None, hall: Hall) -> dict[str, CounterNow]:
    """Every counter of the hall (configured, or heard of) that something has spoken about."""
    ids = [c.id for c in cfg.counters] if cfg is not None else []
    ids += [c for c in list(hall.counters) if c not in ids]
    ids += [c for c in list(hall.tickets.counter_event_at) if c not in ids]
    out: dict[str, CounterNow] = {}
    for c in ids:
        now = counter_now(cfg, hall, c)
        if now is not None:
            out[c] = now
    return out
