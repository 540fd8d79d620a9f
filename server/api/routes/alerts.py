"""The alerts API: open alerts, acknowledgement, the live stream, history, delivery log, silences.

Built on the alert engine's public interface (``engine.open_alerts``, ``get``,
``acknowledge``, ``add_listener``, ``add_silence``) and its store, through
:data:`server.api.deps.AlertsDep` (:class:`server.alerts_api.AlertsApi`: the context's running
:class:`~server.alerts.AlertService`, or on the JetStream bus the API replica's view of the
workers'; 503 when there is none, or when no worker answered a change). Bodies:
:mod:`server.api.schemas.alerts`. See docs/pages.md, docs/alerts.md and docs/distributed.md.

* ``GET /api/v1/alerts[?site=]``: open alerts of the caller's halls, newest first.
* ``POST /api/v1/alerts/{id}/ack`` ``{"comment": ...}``: acknowledge (manager, admin).
* ``GET /api/v1/alerts/stream[?site=]``: an ``alerts`` event ``{as_of, alerts}`` at once and
  after every change; a comment line every 15 s keeps the connection open.
* ``GET /api/v1/sites/{site}/alerts/history``, ``GET /api/v1/alerts/{id}/deliveries``,
  ``POST /api/v1/sites/{site}/silences``.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from lobbywatch.config.notify import Silence
from lobbywatch.protocol.enums import AlertState
from server.alerts import Alert
from server.alerts_api import AlertsApi, AlertsUnavailable
from server.api.deps import AlertsDep, CtxDep, FloorDep, ManagerDep, check_site, token_check
from server.api.errors import ERROR_RESPONSES
from server.api.schemas.alerts import AckIn, AlertOut, DeliveryOut
from server.api.sse import snapshot_stream
from server.context import ServerContext
from server.core.security import Principal

router = APIRouter(tags=["alerts"])

KEEPALIVE_S = 15.0


def _sites(ctx: ServerContext, principal: Principal, site: str | None) -> set[str] | None:
    """The halls asked for: one (checked), the caller's, or None (admin: all)."""
    if site is not None:
        check_site(ctx, principal, site)
        return {site}
    return None if principal.role == "admin" else set(principal.sites)


def _open(service: AlertsApi, sites: set[str] | None) -> list[AlertOut]:
    if sites is None:
        alerts = service.engine.open_alerts()
    else:
        alerts = []
        for s in sorted(sites):
            with contextlib.suppress(KeyError):  # a hall the engine does not know has no alerts
                alerts += service.engine.open_alerts(s)
    alerts.sort(key=lambda a: a.started_at, reverse=True)
    return [AlertOut.of(a) for a in alerts]


def _alert_or_404(service: AlertsApi, principal: Principal, alert_id: str) -> Alert:
    """The alert, or 404 when there is none or it belongs to a hall the token may not see."""
    alert = service.engine.get(alert_id)
    if alert is None or not principal.can_see_site(alert.site):
        raise HTTPException(404, f"no alert {alert_id!r}")
    return alert


SiteQuery = Annotated[
    str | None, Query(description="One hall; default: every hall the token may see.", max_length=64)
]


@router.get(
    "/api/v1/alerts",
    response_model=list[AlertOut],
    description=(
        "**Role: admin, manager or display** (of the site). Open alerts (firing or "
        "acknowledged), newest first, with what to do in zh-CN and en."
    ),
    responses=ERROR_RESPONSES,
)
def list_alerts(
    principal: FloorDep, ctx: CtxDep, service: AlertsDep, site: SiteQuery = None
) -> list[AlertOut]:
    return _open(service, _sites(ctx, principal, site))


@router.post(
    "/api/v1/alerts/{alert_id}/ack",
    response_model=AlertOut,
    description=(
        "**Role: admin or manager** (of the alert's site). Acknowledge an open alert, with an "
        "optional comment; stops its escalation. Acknowledging twice keeps the first. 404: no "
        "such alert; 409: already resolved."
    ),
    responses=ERROR_RESPONSES,
)
async def acknowledge(
    alert_id: Annotated[str, Path(max_length=64, description="Alert id.")],
    body: AckIn,
    principal: ManagerDep,
    service: AlertsDep,
) -> AlertOut:
    alert = await run_in_threadpool(_alert_or_404, service, principal, alert_id)
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


@router.get(
    "/api/v1/alerts/stream",
    # An endless stream: kept out of the OpenAPI document so schema fuzzers do not hang on
    # it (as documented in docs/pages.md).
    include_in_schema=False,
    description=(
        "**Role: admin, manager or display** (of the site). Server-sent events: an `alerts` "
        "event `{as_of: server time, alerts: [as GET /api/v1/alerts]}` at once and after every "
        "change; a comment line every 15 s keeps the connection open; the stream ends when its "
        "token is revoked or expires."
    ),
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/event-stream": {}}, "description": "Event stream."},
    },
)
async def alerts_stream(
    principal: FloorDep, ctx: CtxDep, service: AlertsDep, site: SiteQuery = None
) -> StreamingResponse:
    sites = _sites(ctx, principal, site)

    async def snapshot() -> str:
        alerts = await run_in_threadpool(_open, service, sites)
        data: dict[str, Any] = {
            "as_of": ctx.clock.now().isoformat(),
            "alerts": [a.model_dump(mode="json", by_alias=True) for a in alerts],
        }
        return json.dumps(data, ensure_ascii=False)

    return snapshot_stream(
        lambda changed: service.engine.add_listener(lambda update: changed(update.alert.site)),
        lambda changed: sites is None or changed in sites,
        snapshot,
        "alerts",
        token_alive=token_check(ctx, principal),
        clock=ctx.clock,
        keepalive_s=KEEPALIVE_S,
    )


@router.get(
    "/api/v1/sites/{site}/alerts/history",
    response_model=list[AlertOut],
    description=(
        "**Role: admin, manager or display** (of the site). Alerts of the hall, open and resolved, "
        "newest first (open alerts and acknowledgement: ``/api/v1/alerts``)."
    ),
)
def alert_history(
    site: str,
    principal: FloorDep,
    ctx: CtxDep,
    service: AlertsDep,
    since: Annotated[datetime | None, Query(description="Only alerts started at or after.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertOut]:
    check_site(ctx, principal, site)
    return [AlertOut.of(a) for a in service.store.history(site, since, limit)]


@router.get(
    "/api/v1/alerts/{alert_id}/deliveries",
    response_model=list[DeliveryOut],
    description="**Role: admin or manager** (of the alert's site). Delivery log of one alert.",
)
def deliveries(alert_id: str, principal: ManagerDep, service: AlertsDep) -> list[DeliveryOut]:
    _alert_or_404(service, principal, alert_id)
    return [DeliveryOut.of(d) for d in service.store.deliveries(alert_id)]


@router.post(
    "/api/v1/sites/{site}/silences",
    status_code=201,
    description="**Role: admin or manager** (of the site). Add a silence / maintenance window.",
)
def add_silence(site: str, silence: Silence, principal: ManagerDep, ctx: CtxDep, service: AlertsDep) -> None:
    check_site(ctx, principal, site)
    try:
        service.engine.add_silence(site, silence.model_copy(update={"created_by": principal.name}))
    except KeyError:
        raise HTTPException(404, f"unknown site {site!r}") from None
    except AlertsUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
