"""Ticket rules: what the hall's queue tickets say about the floor.

Transaction overtime per business type: the ticket a counter has called or is serving runs
past its business type's limit (:func:`lobbywatch.config.business.business_limit_min`: new
subscription 8 min, SIM replacement 3 min, anything else 3 min by default). Where a counter
of a counter zone has a current ticket, the zone's dwell-based overtime (``rules/zones.py``,
one 3-minute limit) gives way to it (docs/alerts.md, "Queue tickets").
"""

from __future__ import annotations

from datetime import datetime

from lobbywatch.config.business import business_limit_min, business_name
from lobbywatch.config.site import SiteConfig
from server.alerts.model import AlertKind
from server.alerts.rules.spec import Signal
from server.hall_tickets import HallTickets, Ticket


def counter_subject(counter: str) -> str:
    return f"counter:{counter}"


def _counter_name(cfg: SiteConfig, counter: str) -> dict[str, str]:
    c = next((c for c in cfg.counters if c.id == counter), None)
    if c is None or c.name is None:
        return {"en": counter, "zh-CN": counter}
    return {"en": c.name.en, "zh-CN": c.name.zh_cn}


def _overtime(cfg: SiteConfig, counter: str, t: Ticket, since: datetime, now: datetime) -> Signal:
    limit_min = business_limit_min(cfg.business, cfg.thresholds, t.business)
    service_s = max(0.0, (now - since).total_seconds())
    zone = next((c.zone for c in cfg.counters if c.id == counter), None)

    def detail() -> dict[str, object]:
        name, business = _counter_name(cfg, counter), business_name(cfg.business, t.business)
        return {
            "where": {
                "en": f"{name['en']} ({business['en']}, ticket {t.ticket})",
                "zh-CN": f"{name['zh-CN']}（{business['zh-CN']}，{t.ticket}号）",
            },
            "service_min": service_s / 60,
            "limit_min": limit_min,
            "counter_ids": [counter],
            "business": t.business,
            "ticket": t.ticket,
        }

    return Signal(
        AlertKind.TRANSACTION_OVERTIME,
        counter_subject(counter),
        service_s >= limit_min * 60,
        detail,
        zone=zone,
    )


def ticket_signals(cfg: SiteConfig, tickets: HallTickets, now: datetime) -> list[Signal]:
    """Transaction overtime of every counter that has, or had, a ticket (off without one)."""
    counters = [c.id for c in cfg.counters]
    counters += [c for c in list(tickets.counter_event_at) if c not in counters]
    out: list[Signal] = []
    for counter in counters:
        t = tickets.current(counter)
        since = None if t is None else t.service_since
        if t is None or since is None:
            out.append(Signal(AlertKind.TRANSACTION_OVERTIME, counter_subject(counter), False))
        else:
            out.append(_overtime(cfg, counter, t, since, now))
    return out


def give_way_to_tickets(cfg: SiteConfig, tickets: HallTickets, signals: list[Signal]) -> None:
    """Turn off a counter zone's dwell-based overtime where one of its counters has a ticket:
    that ticket's business limit applies instead (:func:`ticket_signals`)."""
    for s in signals:
        if s.kind != AlertKind.TRANSACTION_OVERTIME or s.zone is None:
            continue
        if any(tickets.current(c) is not None for c in cfg.counters_at(s.zone)):
            s.on = False
