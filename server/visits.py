"""Completed visits on the server: stored as cameras publish them (``visit`` messages), and the
floor figures that come from them: the share of customers served within the wait limit and
the wait percentiles (docs/vision.md, "Visits").
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.protocol.messages import VisitRecord
from server.storage.models import VisitRow


def store_visit(session: Session, msg: VisitRecord) -> None:
    """Add one accepted visit to the session (ingest deduplicates messages before)."""
    session.add(
        VisitRow(
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
        )
    )


class VisitSummary(BaseModel):
    """What the visits that ended in a period say about waiting."""

    model_config = ConfigDict(extra="forbid")
    visits: int = Field(description="Visits that ended in the period (staff are never visits).")
    waited: int = Field(description="Visits that joined a queue or waiting zone.")
    served: int = Field(description="Visits that waited and were served at a counter.")
    walked_out: int = Field(description="Visits that waited and left unserved.")
    served_within_limit: int = Field(description="Served with a wait at most the limit.")
    served_within_limit_pct: float | None = Field(
        description="served_within_limit over waited, %: a walk-out counts as not served in time."
    )
    wait_p50_s: float | None = Field(description="Median wait of the visits that waited, s.")
    wait_p90_s: float | None = Field(description="90th percentile wait, s.")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def visit_summary(
    session: Session, site: str, start: datetime, end: datetime, limit_s: float
) -> VisitSummary:
    """The visits of ``site`` that ended in [start, end), judged against ``limit_s``."""
    rows = session.execute(
        select(VisitRow.wait_s, VisitRow.outcome).where(
            VisitRow.site == site, VisitRow.left_at >= start, VisitRow.left_at < end
        )
    ).all()
    waits = [(w, o) for w, o in rows if w is not None and o != VisitOutcome.LOST.value]
    served = [w for w, o in waits if o == VisitOutcome.SERVED.value]
    within = sum(1 for w in served if w <= limit_s)
    values = [w for w, _ in waits]
    return VisitSummary(
        visits=len(rows),
        waited=len(waits),
        served=len(served),
        walked_out=sum(1 for _, o in waits if o == VisitOutcome.WALKED_OUT.value),
        served_within_limit=within,
        served_within_limit_pct=round(100 * within / len(waits), 1) if waits else None,
        wait_p50_s=percentile(values, 50),
        wait_p90_s=percentile(values, 90),
    )
