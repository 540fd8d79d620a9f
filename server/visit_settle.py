"""Settling visits: the one owner of "this customer's visit is final" and of the customer's
``customer_visit`` point.

A customer is final once no camera visit can still join them: they were last seen (on any
camera) longer ago than the join window (:data:`server.visits.JOIN_WINDOW`) plus a margin
for records delivered late. Settling links the customer's camera visits once more
(:func:`server.visits.link`: a join two concurrent ingest transactions missed is made now),
spools one point per customer (their joined wait, outcome and whether they were served
within the limit) and marks their visits ``settled_at`` and ``settled_as`` (the customer whose
point that is), in one SQL transaction: each customer's point is written once. A camera
visit stored after its customer was settled (a backlog, or a second camera's long visit,
published when it ends) settles the customer again, and may have joined two customers
settled apart: the points written for the customers its visits were settled as are deleted
(spooled before the new point, run in spool order by :mod:`server.timeseries.writer`), so
nobody is counted twice and no field of an old point stays. It runs
on a timer (injected clock) in the process that owns derived state: the single box, or the
worker role on the JetStream bus.
docs/vision.md, "Visits".
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.clock import Clock
from lobbywatch.periodic import PeriodicThread
from server.storage.db import Database
from server.storage.models import VisitRow
from server.timeseries.lines import customer_delete, customer_line
from server.timeseries.writer import InfluxWriter
from server.visits import JOIN_WINDOW, customer, link

MARGIN = timedelta(seconds=120)
"""How much later than the join window a camera visit may still arrive and be joined before
its customer is settled (a camera's record is published when its visit ends)."""
BATCH = 500
"""Camera visits looked at per transaction."""
EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Settled:
    """What one settle transaction did: the deletions of the points it supersedes (spooled
    first), the customers' lines, and whether more visits may be due (a full batch that
    settled someone)."""

    deletions: list[str]
    lines: list[str]
    more: bool


def naming(rows: list[VisitRow], name: int) -> VisitRow:
    """The camera visit that names customer ``name`` among their ``rows`` (the point's site
    and time are its own)."""
    return min(rows, key=lambda r: (r.id != name, r.id))


def settle(
    session: Session,
    now: datetime,
    wait_limit_s: Callable[[str], float],
    *,
    margin: timedelta = MARGIN,
    batch: int = BATCH,
) -> Settled:
    """Settle the customers final at ``now`` among the oldest ``batch`` unsettled visits last
    seen before the join window and ``margin``: link those visits again, then for each of
    their customers whose every visit is that old, one ``customer_visit`` line, a deletion of
    each point their visits were settled as before (the caller spools both in this
    transaction, deletions first) and ``settled_at``/``settled_as`` on their visits."""
    cutoff = now - JOIN_WINDOW - margin
    due = session.scalars(
        select(VisitRow)
        .where(VisitRow.settled_at.is_(None), VisitRow.left_at <= cutoff)
        .order_by(VisitRow.left_at, VisitRow.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for row in due:
        link(session, row)
    names = {r.customer or r.id for r in due}
    groups: dict[int, list[VisitRow]] = defaultdict(list)
    for r in session.scalars(select(VisitRow).where(VisitRow.customer.in_(names))):
        groups[r.customer or r.id].append(r)
    deletions, lines = [], []
    for name, rows in sorted(groups.items()):
        if any(r.left_at > cutoff for r in rows):
            continue  # seen lately by another camera: a visit there may still join them
        c = customer(rows)
        first = naming(rows, name)
        for old in sorted({r.settled_as for r in rows if r.settled_as is not None}):
            was = naming([r for r in rows if r.settled_as == old], old)
            deletions.append(customer_delete(was.site, old, was.arrived_at))
        lines.append(
            customer_line(
                first.site,
                name,
                first.arrived_at,
                outcome=c.outcome,
                camera_visits=c.camera_visits,
                wait_s=c.wait_s,
                wait_limit_s=wait_limit_s(first.site),
            )
        )
        for r in rows:
            r.settled_at = r.settled_at or now
            r.settled_as = name
    return Settled(deletions, lines, len(due) == batch and bool(lines))


@dataclass
class VisitSettle:
    """Settles the customers of every hall every ``every_s`` (a thread, on the injected clock)."""

    db: Database
    writer: InfluxWriter
    clock: Clock
    wait_limit_s: Callable[[str], float]
    every_s: float = EVERY_S
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timer: PeriodicThread = field(init=False)

    def __post_init__(self) -> None:
        # A failed round is tried again at the next: nothing of it is marked settled.
        self._timer = PeriodicThread("visit-settle", self.every_s, self.run_due)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop(10)

    def run_due(self) -> int:
        """Settle every customer final now; the number of points spooled."""
        total = 0
        more = True
        with self._lock:  # one round at a time in this process (SQL guards other processes)
            while more and not self._timer.stopping:
                with self.db.session() as session:
                    done = settle(session, self.clock.now(), self.wait_limit_s)
                    n = self.writer.spool_deletions(session, done.deletions)
                    n += self.writer.spool(session, done.lines)
                self.writer.spooled(n)
                total, more = total + len(done.lines), done.more
        return total
