"""The guide page's API: the care tasks of one hall (open long-wait alerts), live, and
acknowledging them.

* ``GET /api/v1/sites/{site}/care``: open care tasks, newest first, each with where the
  customer is: the zone, where in the camera's view they stand and, when the camera has a
  ground-plane calibration, the point on the hall's floor plan (metres; the list carries
  the plan's extent for a sketch).
* ``GET /api/v1/sites/{site}/care/stream``: a ``care`` event with the same body at once and
  after every change of the hall's alerts or live state.
* ``POST /api/v1/sites/{site}/care/{alert_id}/ack``: acknowledge one, as the token's name.

Roles: a **guide** of the hall, or a manager (of the hall) or admin; a guide sees and
acknowledges nothing but its hall's care tasks (:data:`CARE_KINDS`). See docs/pages.md.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import AlertState
from server.alerts import Alert
from server.alerts.model import AlertKind
from server.alerts_api import AlertsApi, AlertsUnavailable
from server.api.deps import AlertsDep, CtxDep, check_site, get_stream_principal, require, token_check
from server.api.errors import ERROR_RESPONSES
from server.api.routes.counter import listen_floor
from server.api.schemas.alerts import AckIn, AlertOut
from server.api.sse import snapshot_stream
from server.context import ServerContext
from server.core.config import Role
from server.core.security import Principal

router = APIRouter(tags=["floor"])
GUIDE_ROLES: tuple[Role, ...] = ("admin", "manager", "guide")
#: The alerts that are care tasks: someone has waited past the care-visit line.
CARE_KINDS = frozenset({AlertKind.LONG_WAIT.value})


Point = tuple[float, float]


class CareTask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert: AlertOut = Field(description="The long-wait alert (title, what to do, both languages).")
    position: Point | None = Field(
        description=(
            "Where the customer stands in the camera's view, (x, y) in 0..1 (a zone's task: the "
            "zone's longest waiter); null: unknown."
        )
    )
    floor: Point | None = Field(
        default=None,
        description="Where the customer stands on the hall's floor plan, (x, y) in metres; null: unknown.",
    )


class FloorExtent(BaseModel):
    """The part of the hall's floor plan the cameras' calibrations cover, metres."""

    model_config = ConfigDict(extra="forbid")
    min: Point = Field(description="(x, y) of the corner nearest the plan's origin.")
    max: Point = Field(description="(x, y) of the opposite corner.")


class CareList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str
    timezone: str = Field(description="IANA time zone of the hall (for the times shown).")
    as_of: datetime = Field(description="Server time of this list.")
    floor_plan: FloorExtent | None = Field(
        default=None, description="The box around the cameras' calibration points; null: none calibrated."
    )
    tasks: list[CareTask] = Field(description="Open care tasks, newest first.")


def floor_extent(cfg: SiteConfig) -> FloorExtent | None:
    """The box around every calibration floor point of the hall's cameras."""
    points = [p.floor for c in cfg.cameras if c.floor is not None for p in c.floor.points]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return FloorExtent(min=(min(xs), min(ys)), max=(max(xs), max(ys)))


def _point(value: object) -> Point | None:
    """A care task's ``at`` or ``floor`` parameter as a point (``None`` when absent)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    return None


def care_tasks(ctx: ServerContext, service: AlertsApi, site: str) -> CareList:
    """The hall's open care tasks now, newest first, each where its customer stands (from the
    task's own ``at`` and ``floor``, set by the care-task rule; a zone's task: where its
    zone's longest waiter stands)."""
    alerts: list[Alert] = []
    with contextlib.suppress(KeyError):  # a hall the engine does not know has none
        alerts = [a for a in service.engine.open_alerts(site) if a.kind in CARE_KINDS]
    alerts.sort(key=lambda a: a.started_at, reverse=True)
    zones = dict(ctx.live.hall.hall(site).zones)
    tasks = []
    for a in alerts:
        position = _point(a.params.get("at"))
        zone = zones.get(a.zone) if a.zone is not None else None
        if position is None and a.subject.startswith("zone:") and zone is not None:
            position = zone.longest_wait_at
        tasks.append(CareTask(alert=AlertOut.of(a), position=position, floor=_point(a.params.get("floor"))))
    cfg = ctx.registry.configs.get(site)
    return CareList(
        site=site,
        timezone=cfg.timezone if cfg else "UTC",
        as_of=ctx.clock.now(),
        floor_plan=floor_extent(cfg) if cfg else None,
        tasks=tasks,
    )


GuideDep = Annotated[Principal, Depends(require(*GUIDE_ROLES))]


async def _guide_stream(principal: Annotated[Principal, Depends(get_stream_principal)]) -> Principal:
    return await require(*GUIDE_ROLES)(principal)


GuideStreamDep = Annotated[Principal, Depends(_guide_stream)]


@router.get(
    "/api/v1/sites/{site}/care",
    response_model=CareList,
    response_model_by_alias=True,
    description="**Role: guide, manager** (of the hall) **or admin.** Open care tasks, newest first.",
    responses=ERROR_RESPONSES,
)
def list_care(site: str, principal: GuideDep, ctx: CtxDep, service: AlertsDep) -> CareList:
    check_site(ctx, principal, site)
    return care_tasks(ctx, service, site)


@router.get(
    "/api/v1/sites/{site}/care/stream",
    include_in_schema=False,  # endless: kept out of the OpenAPI document (docs/pages.md)
    description="**Role: guide, manager or admin.** A `care` event at once and after every change.",
)
async def care_stream(
    site: str, principal: GuideStreamDep, ctx: CtxDep, service: AlertsDep
) -> StreamingResponse:
    check_site(ctx, principal, site)

    async def snapshot() -> str:
        tasks = await run_in_threadpool(care_tasks, ctx, service, site)
        return tasks.model_dump_json(by_alias=True)

    return snapshot_stream(
        lambda changed: listen_floor(ctx, changed),
        lambda changed: changed == site,
        snapshot,
        "care",
        token_alive=token_check(ctx, principal),
        clock=ctx.clock,
    )


@router.post(
    "/api/v1/sites/{site}/care/{alert_id}/ack",
    response_model=AlertOut,
    response_model_by_alias=True,
    description=(
        "**Role: guide, manager** (of the hall) **or admin.** Acknowledge a care task (an open "
        "long-wait alert of the hall); 404 for any other alert, 409 when resolved."
    ),
    responses=ERROR_RESPONSES,
)
async def acknowledge_care(
    site: str,
    alert_id: Annotated[str, Path(max_length=64)],
    body: AckIn,
    principal: GuideDep,
    ctx: CtxDep,
    service: AlertsDep,
) -> AlertOut:
    check_site(ctx, principal, site)
    alert = await run_in_threadpool(service.engine.get, alert_id)
    if alert is None or alert.site != site or alert.kind not in CARE_KINDS:
        raise HTTPException(404, f"no care task {alert_id!r} in site {site!r}")
    if alert.state == AlertState.RESOLVED:
        raise HTTPException(409, f"alert {alert_id!r} is already resolved")
    comment = (body.comment or "").strip() or None
    try:
        acked = await run_in_threadpool(service.engine.acknowledge, alert_id, principal.name, comment)
    except KeyError:
        raise HTTPException(409, f"alert {alert_id!r} is no longer open") from None
    except AlertsUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    return AlertOut.of(acked)
