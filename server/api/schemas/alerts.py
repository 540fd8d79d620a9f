"""Request and response bodies of the alerts API (:mod:`server.api.routes.alerts`).

:class:`AlertOut` is the one shape of an alert for the pages, the alert list, the stream and
the history; its title and body come from the engine's templates in zh-CN and en
(docs/alerts.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.alerts.model import Alert, Delivery, MuteReason
from server.alerts.templates import mute_text, render_both
from server.api.localized import LocalizedOut


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MutedOut(_Out):
    """Why an alert is held back: a silence, or an inhibition of its rule (docs/alerts.md)."""

    kind: Literal["silence", "inhibit", "flap", "late"] = Field(description="Which stage holds it back.")
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


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(
        default=None, max_length=500, description="Optional note: what was done, who went."
    )
