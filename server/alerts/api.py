"""HTTP API of the alert engine beyond the pages' (server/web/alerts_api.py: open alerts,
acknowledge, stream): history, the delivery log of an alert, and silences.

Include with ``app.include_router(server.alerts.api.router)``; the running service is
``app.state.alerts`` (or ``ctx.alerts``), as :func:`server.alerts.wiring.attach` leaves it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.config.notify import Silence
from server.alerts.model import Alert, Delivery, MuteReason
from server.alerts.service import AlertService
from server.alerts.templates import mute_text, render_both
from server.api.deps import CtxDep, FloorDep, ManagerDep, check_site
from server.api.localized import LocalizedOut

router = APIRouter(tags=["alerts"])


def get_alerts(request: Request) -> AlertService:
    state = request.app.state
    service: AlertService | None = getattr(state, "alerts", None) or getattr(
        getattr(state, "ctx", None), "alerts", None
    )
    if service is None:
        raise HTTPException(503, "the alert engine is not running")
    return service


AlertsDep = Annotated[AlertService, Depends(get_alerts)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MutedOut(_Out):
    """Why an alert is held back: a silence, or an inhibition of its rule (docs/alerts.md)."""

    kind: Literal["silence", "inhibit", "flap"] = Field(description="Which stage holds it back.")
    reason: str = Field(description="Text key of the reason (gateway_silent, camera_blind, silence, ...).")
    source: str = Field(description="What holds it back: the silence's reason, a camera, the gateway.")
    title: LocalizedOut = Field(description="The reason, both languages.")

    @classmethod
    def of(cls, m: MuteReason) -> MutedOut:
        title = LocalizedOut(en=mute_text(m, "en"), zh_cn=mute_text(m, "zh-CN"))
        return cls(kind=m.kind, reason=str(m.key), source=m.source, title=title)


class AlertOut(_Out):
    """One alert: the live pages, the alert list and the history all use this shape."""

    id: str = Field(description="Stable alert id.")
    site: str = Field(description="Hall.")
    kind: str = Field(description="Rule that raised it (docs/alerts.md).")
    subject: str = Field(description="What it is about: zone:<id>, device:<id>, hall, ...")
    severity: str = Field(description="info, warning or critical.")
    state: Literal["firing", "acknowledged", "resolved"]
    audience: list[str] = Field(description="Who should act: manager, guide, counter, vendor.")
    zone: str | None = Field(description="Zone concerned.")
    device: str | None = Field(description="Device concerned.")
    vendor: str | None = Field(description="Vendor of the device concerned.")
    started_at: datetime = Field(description="When it fired.")
    updated_at: datetime = Field(description="Last change.")
    resolved_at: datetime | None = Field(description="When it resolved.")
    acked_by: str | None = Field(description="Who acknowledged it.")
    acked_at: datetime | None = Field(description="When it was acknowledged.")
    ack_comment: str | None = Field(description="Their comment.")
    escalation_level: int = Field(description="Escalation steps reached.")
    reopen_count: int = Field(description="Times it fired again within the flap window.")
    silenced: bool = Field(description="A silence holds back its notifications.")
    muted: MutedOut | None = Field(description="Why it is held back now; null: it is not.")
    title: LocalizedOut = Field(description="Short title, both languages.")
    body: LocalizedOut = Field(description="What happened and what to do, both languages.")
    params: dict[str, Any] = Field(description="The rule's figures behind the text.")

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        text = render_both(a)
        return cls(
            id=a.id,
            site=a.site,
            kind=a.kind,
            subject=a.subject,
            severity=str(a.severity),
            state=a.state.value,
            audience=list(a.audience),
            zone=a.zone,
            device=a.device,
            vendor=a.vendor,
            started_at=a.started_at,
            updated_at=a.updated_at,
            resolved_at=a.resolved_at,
            acked_by=a.acked_by,
            acked_at=a.acked_at,
            ack_comment=a.ack_comment,
            escalation_level=a.escalation_level,
            reopen_count=a.reopen_count,
            silenced=a.silenced,
            muted=None if a.muted is None else MutedOut.of(a.muted),
            title=LocalizedOut(en=text["en"][0], zh_cn=text["zh-CN"][0]),
            body=LocalizedOut(en=text["en"][1], zh_cn=text["zh-CN"][1]),
            params=a.params,
        )


class DeliveryOut(_Out):
    channel: str
    event: str
    attempt: int
    ok: bool
    at: datetime
    latency_ms: float
    error: str | None
    skipped: str | None = Field(description="Not sent, and why (e.g. 'silence: vendor on site').")

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls.model_validate(d, from_attributes=True)  # its fields, by name


def _alert_or_404(service: AlertService, alert_id: str) -> Alert:
    alert = service.engine.get(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return alert


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
def deliveries(alert_id: str, principal: ManagerDep, ctx: CtxDep, service: AlertsDep) -> list[DeliveryOut]:
    alert = _alert_or_404(service, alert_id)
    check_site(ctx, principal, alert.site)
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
