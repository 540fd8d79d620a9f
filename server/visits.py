"""Completed visits on the server: stored as cameras publish them (``visit`` messages), joined
into customers across cameras (the rule is :func:`server.handover.continues`; this module
stores its decision as the visits' ``customer``: at ingest, and again when
:mod:`server.visit_settle` settles them), and the floor figures that come from the
customers: the share served within the wait limit, the wait percentiles, and the waits per
business type (from queue tickets where the hall has them, else from visits).
docs/vision.md, "Visits" and "Floor plan and handover".
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.protocol.enums import TicketEventKind, VisitOutcome
from lobbywatch.protocol.messages import VisitRecord
from server.handover import WINDOW_S, Point, Trace, clash, continues, nearest
from server.storage.models import VisitRow
from server.storage.tickets import ticket_events_between

JOIN_WINDOW = timedelta(seconds=WINDOW_S)
CALLS = (TicketEventKind.CALLED.value, TicketEventKind.RECALLED.value, TicketEventKind.SERVICE_STARTED.value)
CALL_LOOKBACK = timedelta(days=1)
"""How far before a period the ticket events are read, so a recall is not taken for a first call."""


# --------------------------------------------------------------------------- storing and joining


def store_visit(session: Session, msg: VisitRecord) -> None:
    """Add one accepted visit to the session (ingest deduplicates messages before) and
    :func:`link` it."""
    points = [(p.at, p.floor) for p in msg.path if p.floor is not None]
    row = VisitRow(
        site=msg.site,
        camera=msg.source,
        visit=msg.visit,
        arrived_at=msg.arrived,
        left_at=msg.left,
        zones=",".join(msg.zones),
        wait_zone=msg.wait_zone,
        wait_started=msg.wait_started,
        wait_s=msg.wait_s,
        service_zone=msg.service_zone,
        service_started=msg.service_started,
        service_s=msg.service_s,
        outcome=msg.outcome.value,
        path=json.dumps([[t.isoformat(), x, y] for t, (x, y) in points]) if points else "",
    )
    session.add(row)
    session.flush()
    row.customer = row.id
    link(session, row)


def link(session: Session, row: VisitRow) -> None:
    """Join a stored visit to the customer whose visit on another camera it continues, or who
    continues it there (the records may come in either order). Linking again changes nothing,
    so settling links every visit once more: a join that two ingest transactions storing the
    two visits at once could not see is made then."""
    if not row.path:
        return
    near = session.scalars(
        select(VisitRow).where(
            VisitRow.site == row.site,
            VisitRow.camera != row.camera,
            VisitRow.path != "",
            VisitRow.arrived_at <= row.left_at + JOIN_WINDOW,
            VisitRow.left_at >= row.arrived_at - JOIN_WINDOW,
        )
    ).all()
    me = trace(row)
    others = [(r, trace(r)) for r in near]
    for other in (
        nearest((r, continues(t, me)) for r, t in others),
        nearest((r, continues(me, t)) for r, t in others),
    ):
        if other is not None:
            _join(session, row, other)


def trace(row: VisitRow) -> Trace:
    """A stored visit as :mod:`server.handover` reads it."""
    points: tuple[tuple[datetime, Point], ...] = ()
    if row.path:
        points = tuple((datetime.fromisoformat(t), (x, y)) for t, x, y in json.loads(row.path))
    return Trace(row.camera, row.arrived_at, row.left_at, points)


def _join(session: Session, a: VisitRow, b: VisitRow) -> None:
    """One customer of ``a``'s and ``b``'s, named by the lower id, unless one camera saw both."""
    ca, cb = a.customer or a.id, b.customer or b.id
    if ca == cb:
        return
    members = [session.scalars(select(VisitRow).where(VisitRow.customer == c)).all() for c in (ca, cb)]
    if clash(map(trace, members[0]), map(trace, members[1])):
        return
    for r in (*members[0], *members[1]):
        r.customer = min(ca, cb)


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer's visit over every camera that saw them."""

    camera_visits: int
    left: datetime
    wait_s: float | None
    outcome: VisitOutcome


def customer(rows: Sequence[VisitRow]) -> Customer:
    """The customer of one or more camera visits: the wait runs from the first wait start on
    any camera until the first service start, or without service until they were last seen
    (walked out; lost when the last camera lost the picture)."""
    left = max(r.left_at for r in rows)
    if len(rows) == 1:
        return Customer(1, left, rows[0].wait_s, VisitOutcome(rows[0].outcome))
    starts = [r.wait_started for r in rows if r.wait_started is not None]
    served = [r.service_started for r in rows if r.service_started is not None]
    last = max(rows, key=lambda r: r.left_at).outcome == VisitOutcome.LOST.value
    if served:
        outcome, end = VisitOutcome.SERVED, min(served)
    elif starts:
        outcome, end = (VisitOutcome.LOST if last else VisitOutcome.WALKED_OUT), left
    else:
        lost = any(r.outcome == VisitOutcome.LOST.value for r in rows)
        outcome, end = (VisitOutcome.LOST if lost else VisitOutcome.PASSED), left
    wait = round(max(0.0, (end - min(starts)).total_seconds()), 1) if starts else None
    return Customer(len(rows), left, wait, outcome)


def customers_between(session: Session, site: str, start: datetime, end: datetime) -> list[Customer]:
    """The customers of ``site`` last seen in [start, end) (by any of their camera visits)."""
    ended = select(VisitRow.customer).where(
        VisitRow.site == site, VisitRow.left_at >= start, VisitRow.left_at < end
    )
    groups: dict[int, list[VisitRow]] = defaultdict(list)
    for r in session.scalars(select(VisitRow).where(VisitRow.customer.in_(ended))):
        groups[r.customer or r.id].append(r)
    return [c for rows in groups.values() if start <= (c := customer(rows)).left < end]


# --------------------------------------------------------------------------- figures


class BusinessWaits(BaseModel):
    """The waits of one business type (or of everyone, where visits tell no business type)."""

    model_config = ConfigDict(extra="forbid")
    business: str | None = Field(description="Business type; null: every customer (from visits).")
    source: str = Field(description="tickets (issued -> first call) or visits (joined visits).")
    waits: int = Field(description="Waits that ended in the period.")
    within_limit_pct: float | None = Field(description="Waits at most the wait limit, %.")
    wait_p50_s: float | None = Field(description="Median wait, s.")
    wait_p90_s: float | None = Field(description="90th percentile wait, s.")


class VisitSummary(BaseModel):
    """What the customers last seen in a period say about waiting."""

    model_config = ConfigDict(extra="forbid")
    visits: int = Field(
        description=(
            "Customers last seen in the period: camera visits joined across cameras (staff are never visits)."
        )
    )
    camera_visits: int = Field(description="The camera visits those customers made.")
    waited: int = Field(description="Customers who joined a queue or waiting zone.")
    served: int = Field(description="Customers who waited and were served at a counter.")
    walked_out: int = Field(description="Customers who waited and left unserved.")
    served_within_limit: int = Field(description="Served with a wait at most the limit.")
    served_within_limit_pct: float | None = Field(
        description="served_within_limit over waited, %: a walk-out counts as not served in time."
    )
    wait_p50_s: float | None = Field(description="Median wait of the customers who waited, s.")
    wait_p90_s: float | None = Field(description="90th percentile wait, s.")
    by_business: list[BusinessWaits] = Field(
        description=(
            "Waits per business type from queue tickets; without tickets in the period, one row from visits."
        )
    )


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _waits(business: str | None, source: str, values: list[float], within: int) -> BusinessWaits:
    return BusinessWaits(
        business=business,
        source=source,
        waits=len(values),
        within_limit_pct=round(100 * within / len(values), 1) if values else None,
        wait_p50_s=percentile(values, 50),
        wait_p90_s=percentile(values, 90),
    )


def ticket_waits(
    session: Session, site: str, start: datetime, end: datetime, limit_s: float
) -> list[BusinessWaits]:
    """Per business type, the waits of the tickets first called in [start, end): issued to
    the first call (or service start), as the ticket system reports them."""
    first: dict[tuple[str, datetime], tuple[str, datetime, float]] = {}
    for ev in ticket_events_between(session, site, start - CALL_LOOKBACK, end):
        key = (ev.ticket, ev.issued_at)
        if ev.event in CALLS and key not in first:
            first[key] = (ev.business, ev.at, max(0.0, (ev.at - ev.issued_at).total_seconds()))
    per: dict[str, list[float]] = defaultdict(list)
    for business, at, wait in first.values():
        if at >= start:
            per[business].append(wait)
    return [_waits(b, "tickets", w, sum(1 for x in w if x <= limit_s)) for b, w in sorted(per.items())]


def visit_summary(
    session: Session, site: str, start: datetime, end: datetime, limit_s: float
) -> VisitSummary:
    """The customers of ``site`` last seen in [start, end), judged against ``limit_s``."""
    customers = customers_between(session, site, start, end)
    waits = [c for c in customers if c.wait_s is not None and c.outcome != VisitOutcome.LOST]
    values = [c.wait_s for c in waits if c.wait_s is not None]
    served = [c.wait_s for c in waits if c.outcome == VisitOutcome.SERVED and c.wait_s is not None]
    within = sum(1 for w in served if w <= limit_s)
    by_business = ticket_waits(session, site, start, end, limit_s) or [_waits(None, "visits", values, within)]
    return VisitSummary(
        visits=len(customers),
        camera_visits=sum(c.camera_visits for c in customers),
        waited=len(waits),
        served=len(served),
        walked_out=sum(1 for c in waits if c.outcome == VisitOutcome.WALKED_OUT),
        served_within_limit=within,
        served_within_limit_pct=round(100 * within / len(waits), 1) if waits else None,
        wait_p50_s=percentile(values, 50),
        wait_p90_s=percentile(values, 90),
        by_business=by_business,
    )
