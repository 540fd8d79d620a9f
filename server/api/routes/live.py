"""Live state over REST and server-sent events; sites; sequence statistics; rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from server.api.deps import (
    CtxDep,
    FloorDep,
    FloorStreamDep,
    ManagerDep,
    SessionDep,
    check_site,
    token_check,
)
from server.api.errors import ERROR_RESPONSES
from server.api.sse import snapshot_stream
from server.live import SiteLiveView
from server.storage.models import SeqStream, Site, ZoneMinute

router = APIRouter(tags=["live"])


class SiteOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name_en: str
    name_zh: str
    timezone: str
    data: str


class StreamOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    epoch: int
    highest_seq: int
    received: int
    gaps: int
    missing: int
    late: int
    last_ts: datetime


class ZoneMinuteOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: str
    minute: datetime
    occupancy_avg: float | None
    occupancy_max: float
    queue_avg: float | None
    queue_max: int
    expected_wait_avg_s: float | None
    expected_wait_max_s: float
    waits: int
    waits_within_limit: int
    wait_avg_s: float | None
    wait_max_s: float


@router.get(
    "/api/v1/sites",
    response_model=list[SiteOut],
    description="**Role: admin** (all sites), **manager** or **display** (their sites).",
    responses=ERROR_RESPONSES,
)
def list_sites(principal: FloorDep, ctx: CtxDep, session: SessionDep) -> list[SiteOut]:
    out = []
    for s in session.scalars(select(Site).order_by(Site.id)):
        if principal.can_see_site(s.id):
            out.append(
                SiteOut(
                    id=s.id,
                    name_en=s.name_en,
                    name_zh=s.name_zh,
                    timezone=s.timezone,
                    data=ctx.live.data_status(s.id),
                )
            )
    return out


@router.get(
    "/api/v1/sites/{site}/live",
    response_model=SiteLiveView,
    description=(
        "**Role: admin, manager** (of the site) **or display** (of the site). The floor now: "
        "zones, queues, expected wait, devices, counters, cameras, gateway backlog."
    ),
    responses=ERROR_RESPONSES,
)
def live(site: str, principal: FloorDep, ctx: CtxDep) -> SiteLiveView:
    check_site(ctx, principal, site)
    return ctx.live.snapshot(site)


@router.get(
    "/api/v1/sites/{site}/live/stream",
    description=(
        "**Role: admin, manager or display** (of the site). Server-sent events: a `live` event "
        "with the full snapshot (as GET .../live) at once and after every change; a comment "
        "line every 15 s keeps the connection open; the stream ends when its token is revoked "
        "or expires. Browsers' EventSource may pass the token as `?access_token=` (it then "
        "lands in access logs: prefer the header)."
    ),
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/event-stream": {}}, "description": "Event stream."},
    },
)
async def live_stream(site: str, principal: FloorStreamDep, ctx: CtxDep) -> StreamingResponse:
    check_site(ctx, principal, site)

    async def snapshot() -> str:
        return ctx.live.snapshot(site).model_dump_json()

    return snapshot_stream(
        ctx.live.listen,
        lambda changed: changed == site,
        snapshot,
        "live",
        token_alive=token_check(ctx, principal),
        clock=ctx.clock,
    )


@router.get(
    "/api/v1/sites/{site}/streams",
    response_model=list[StreamOut],
    description=(
        "**Role: admin or manager** (of the site). Sequence continuity per source and epoch: "
        "gaps seen, messages still missing, late arrivals (visible loss is a metric)."
    ),
    responses=ERROR_RESPONSES,
)
def streams(site: str, principal: ManagerDep, ctx: CtxDep, session: SessionDep) -> list[StreamOut]:
    check_site(ctx, principal, site)
    rows = session.scalars(
        select(SeqStream).where(SeqStream.site == site).order_by(SeqStream.source, SeqStream.epoch)
    )
    return [
        StreamOut(
            source=r.source,
            epoch=r.epoch,
            highest_seq=r.highest_seq,
            received=r.received,
            gaps=r.gaps,
            missing=r.missing,
            late=r.late,
            last_ts=r.last_ts,
        )
        for r in rows
    ]


def _avg(total: float, n: int) -> float | None:
    return total / n if n else None


@router.get(
    "/api/v1/sites/{site}/rollups",
    response_model=list[ZoneMinuteOut],
    description="**Role: admin or manager** (of the site). Per-minute zone rollups in [start, end).",
    responses=ERROR_RESPONSES,
)
def rollups(
    site: str,
    principal: ManagerDep,
    ctx: CtxDep,
    start: Annotated[datetime, Query(description="Period start (ISO 8601 with offset).")],
    end: Annotated[datetime, Query(description="Period end (exclusive).")],
) -> list[ZoneMinuteOut]:
    check_site(ctx, principal, site)
    from server.api.routes.reports import period

    a, b = period(start, end)
    ctx.deriving.flush_rollups(ctx.db)
    with ctx.db.session() as session:
        rows = session.scalars(
            select(ZoneMinute)
            .where(ZoneMinute.site == site, ZoneMinute.minute >= a, ZoneMinute.minute < b)
            .order_by(ZoneMinute.minute, ZoneMinute.zone)
            .limit(100_000)
        ).all()
    return [
        ZoneMinuteOut(
            zone=r.zone,
            minute=r.minute,
            occupancy_avg=_avg(r.occupancy_sum, r.samples),
            occupancy_max=r.occupancy_max,
            queue_avg=_avg(r.queue_sum, r.queue_samples),
            queue_max=r.queue_max,
            expected_wait_avg_s=_avg(r.expected_wait_sum_s, r.expected_wait_samples),
            expected_wait_max_s=r.expected_wait_max_s,
            waits=r.waits,
            waits_within_limit=r.waits_within_limit,
            wait_avg_s=_avg(r.wait_sum_s, r.waits),
            wait_max_s=r.wait_max_s,
        )
        for r in rows
    ]
