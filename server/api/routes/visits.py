"""What completed visits say about waiting: the share served within the wait limit and the
wait percentiles of a hall's customers (camera visits joined across cameras) over a period,
and the waits per business type (server.visits; docs/vision.md, "Visits")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import CtxDep, ManagerDep, SessionDep, check_site
from server.api.errors import ERROR_RESPONSES
from server.api.routes.reports import period
from server.visits import VisitSummary, visit_summary

router = APIRouter(tags=["reports"])


@router.get(
    "/api/v1/sites/{site}/visits/summary",
    response_model=VisitSummary,
    description=(
        "**Role: admin or manager** (of the site). Customers last seen in [start, end), each "
        "one visit however many cameras saw them (their wait runs from the first camera's wait "
        "start to service or walk-out): how many waited, were served or walked out, the share "
        "served within the hall's wait limit and the median and 90th-percentile wait; and the "
        "waits per business type, from queue tickets where the hall has them in the period, "
        "else one row from visits. Staff are never visits."
    ),
    responses=ERROR_RESPONSES,
)
def visits_summary(
    site: str,
    principal: ManagerDep,
    ctx: CtxDep,
    session: SessionDep,
    start: Annotated[datetime, Query(description="Period start (ISO 8601 with offset).")],
    end: Annotated[datetime, Query(description="Period end (exclusive).")],
) -> VisitSummary:
    check_site(ctx, principal, site)
    a, b = period(start, end)
    return visit_summary(session, site, a, b, ctx.registry.wait_limit_s(site))
