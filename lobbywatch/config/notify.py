"""Where a hall's alerts go: named channels, and routes from alert kinds to channels.

The alert engine (server) reads this section of each hall's configuration.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lobbywatch.protocol.fields import Identifier

Language = Literal["zh-CN", "en"]
Audience = Literal["guide", "manager", "counter", "vendor", "regional"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Channel(_Model):
    name: Identifier = Field(description="Channel name, referenced by routes.")
    language: Language | Literal["both"] = Field(
        default="both", description="Language of the text sent: zh-CN, en, or both."
    )


class _SignedWebhook(_Channel):
    url: str = Field(pattern=r"^https?://", max_length=2048, description="Endpoint URL.")
    secret: str | None = Field(default=None, max_length=512, description="Signing secret.")
    secret_file: Path | None = Field(default=None, description="File holding the secret.")


class WebhookChannel(_SignedWebhook):
    """Generic JSON webhook, HMAC-SHA256 signed when a secret is set."""

    type: Literal["webhook"]


class WeComChannel(_SignedWebhook):
    """WeCom (企业微信) group robot."""

    type: Literal["wecom"]


class DingTalkChannel(_SignedWebhook):
    """DingTalk (钉钉) custom robot, signed with its secret."""

    type: Literal["dingtalk"]


class FeishuChannel(_SignedWebhook):
    """Feishu/Lark (飞书) custom bot, signed with its secret."""

    type: Literal["feishu"]


class SlackChannel(_SignedWebhook):
    """Slack incoming webhook."""

    type: Literal["slack"]


class EmailChannel(_Channel):
    """E-mail over SMTP."""

    type: Literal["email"]
    host: str = Field(min_length=1, description="SMTP server.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    starttls: bool = Field(
        default=True,
        description="Upgrade the connection with STARTTLS (the server's certificate and name are verified).",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the SMTP server's certificate (default: system CAs).",
    )
    username: str | None = Field(default=None, description="SMTP user.")
    password_file: Path | None = Field(default=None, description="File holding the password.")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="From address.")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        min_length=1, description="Recipients."
    )


class MqttDownlinkChannel(_Channel):
    """Alerts for the hall's own displays and announcements: queued on the server for the
    hall's gateway, which publishes them on the hall broker's alert downlink topic (the
    server never connects to a hall broker)."""

    type: Literal["mqtt"]


Channel = Annotated[
    WebhookChannel
    | WeComChannel
    | DingTalkChannel
    | FeishuChannel
    | SlackChannel
    | EmailChannel
    | MqttDownlinkChannel,
    Field(discriminator="type"),
]


class Route(_Model):
    """Alerts of these kinds (all when empty) go to these channels."""

    kinds: list[Identifier] = Field(default_factory=list, description="Alert kinds; empty = all.")
    audience: list[Audience] = Field(
        default_factory=list, description="Only alerts meant for these people; empty = all."
    )
    channels: list[Identifier] = Field(min_length=1, description="Channel names.")
    vendors: list[Identifier] = Field(
        default_factory=list,
        description="Only alerts about devices of these maintenance vendors; empty = any alert.",
    )


class EscalationStep(_Model):
    after_min: float = Field(gt=0, le=1440, description="Unacknowledged for this long...")
    audience: Audience = Field(description="...then escalate to these people.")
    channels: list[Identifier] = Field(min_length=1, description="Through these channels.")


class Silence(_Model):
    """A silence or maintenance window: matching alerts are tracked but nobody is notified.

    Every matcher that is set must match (an empty list matches anything), e.g. a vendor
    working on one kiosk: ``{devices: [kiosk-sim-1], starts: ..., ends: ..., reason: ...}``.
    """

    kinds: list[Identifier] = Field(default_factory=list, description="Alert kinds; empty = all.")
    zones: list[Identifier] = Field(default_factory=list, description="Zones; empty = any.")
    devices: list[Identifier] = Field(default_factory=list, description="Devices; empty = any.")
    vendor: Identifier | None = Field(default=None, description="Only this vendor's devices.")
    starts: datetime = Field(description="Start, ISO 8601 with offset.")
    ends: datetime = Field(description="End, ISO 8601 with offset.")
    reason: str = Field(default="", max_length=500, description="Why (maintenance, works, ...).")
    created_by: str | None = Field(default=None, max_length=120, description="Who set it.")

    @model_validator(mode="after")
    def _window(self) -> Silence:
        for name in ("starts", "ends"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"{name} must carry a UTC offset, e.g. 2026-11-23T09:30:00+08:00")
        if self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        return self


class AlertPolicy(_Model):
    """How the alert engine holds, clears and de-flaps alerts (defaults suit a hall)."""

    hold_s: dict[Identifier, Annotated[float, Field(ge=0, le=3600)]] = Field(
        default_factory=dict,
        description="Per alert kind: the condition must hold this long before the alert fires.",
    )
    clear_hold_s: dict[Identifier, Annotated[float, Field(ge=0, le=3600)]] = Field(
        default_factory=dict,
        description="Per alert kind: the condition must stay clear this long before it resolves.",
    )
    default_clear_hold_s: float = Field(
        default=30, ge=0, le=3600, description="Clear hold for kinds not in clear_hold_s."
    )
    flap_window_s: float = Field(
        default=600,
        ge=0,
        le=86400,
        description="An alert that fires again this soon after resolving reopens as the same alert.",
    )
    flap_max: int = Field(
        default=2, ge=0, le=100, description="Reopenings notified within the window; later ones are quiet."
    )
    gateway_silence_s: float = Field(
        default=60, ge=5, le=3600, description="No ingest from a hall's gateway this long: sensing blind."
    )
    peak_arrivals_per_hour: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Forecast arrivals per hour that make a peak hour; default 3 x the 10-min surge figure.",
    )


class NotificationsConfig(_Model):
    channels: list[Channel] = Field(default_factory=list, description="Named channels.")
    routes: list[Route] = Field(default_factory=list, description="Which alerts go where.")
    escalation: list[EscalationStep] = Field(
        default_factory=list, description="Escalation when an alert stays unacknowledged."
    )
    silences: list[Silence] = Field(
        default_factory=list, description="Silences and maintenance windows (alert engine)."
    )
    policy: AlertPolicy = Field(
        default_factory=AlertPolicy, description="Hold, clear and flap settings of the alert engine."
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> NotificationsConfig:
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError("channel names must be unique")
        for i, route in enumerate(self.routes):
            for name in route.channels:
                if name not in names:
                    raise ValueError(f"routes[{i}] names unknown channel {name!r}")
        for i, step in enumerate(self.escalation):
            for name in step.channels:
                if name not in names:
                    raise ValueError(f"escalation[{i}] names unknown channel {name!r}")
        return self
