"""Peak and quiet hours: the hour-of-week profile and the forecast with advice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import CtxDep, FloorDep, ManagerDep, check_site, site_row
from server.api.errors import ERROR_RESPONSES
from server.forecast import Forecast, ProfileHour, forecast, profile

router = APIRouter(tags=["forecast"])


@router.get(
    "/api/v1/sites/{site}/forecast",
    response_model=Forecast,
    description=(
        "**Role: admin, manager or display** (of the site). Expected arrivals and occupancy "
        "for the coming hours, the expected peak, and quiet-hour advice in zh-CN and en."
    ),
    responses=ERROR_RESPONSES,
)
def get_forecast(
    site: str,
    principal: FloorDep,
    ctx: CtxDep,
    hours: Annotated[int, Query(ge=1, le=168, description="Hours ahead.")] = 12,
    weeks: Annotated[int, Query(ge=1, le=52, description="Weeks of history.")] = 8,
) -> Forecast:
    check_site(ctx, principal, site)
    ctx.deriving.flush_rollups(ctx.db)
    with ctx.db.session() as session:
        row = site_row(session, site)
        return forecast(session, row, ctx.clock.now(), hours, weeks)


@router.get(
    "/api/v1/sites/{site}/profile",
    response_model=list[ProfileHour],
    description="**Role: admin or manager** (of the site). Hour-of-week profile of arrivals and occupancy.",
    responses=ERROR_RESPONSES,
)
def get_profile(
    site: str,
    principal: ManagerDep,
    ctx: CtxDep,
    weeks: Annotated[int, Query(ge=1, le=52, description="Weeks of history.")] = 8,
) -> list[ProfileHour]:
    check_site(ctx, principal, site)
    ctx.deriving.flush_rollups(ctx.db)
    with ctx.db.session() as session:
        row = site_row(session, site)
        return list(profile(session, row, ctx.clock.now(), weeks).values())
