"""Maintenance vendors' service levels in a hall: response and repair targets per vendor,
counted within the hall's opening hours, and who receives the monthly device log.

The hall file's ``service_levels`` section (``SiteConfig.service_levels``); the server's
alert engine warns and alerts on the targets, its reports show each fault against them and
its monthly job mails the device log (docs/alerts.md, "Vendor service levels";
docs/server.md, "Reports").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lobbywatch.protocol.fields import Identifier


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VendorServiceLevel(_Model):
    """One vendor's targets, e.g. ``{vendor: zhongtian-svc, respond_min: 30, repair_min: 240}``."""

    vendor: Identifier = Field(description="Maintenance vendor id (as in devices[].vendor).")
    respond_min: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="A fault must be acknowledged within this many minutes of opening hours.",
    )
    repair_min: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="A fault must be cleared (repaired) within this many minutes of opening hours.",
    )
    warn_pct: float = Field(
        default=75,
        gt=0,
        lt=100,
        description="Warn the vendor and the manager when this share of a target has passed, %.",
    )
    report_channels: list[Identifier] = Field(
        default_factory=list,
        description="E-mail channels (notifications.channels) that receive the vendor's monthly device log.",
    )

    def target_s(self, target: str) -> float | None:
        """The ``respond`` or ``repair`` target in seconds (None: no such target)."""
        minutes = self.respond_min if target == "respond" else self.repair_min
        return None if minutes is None else minutes * 60.0


class ServiceLevels(_Model):
    """Vendor targets of a hall and the recipients of its monthly device log."""

    vendors: list[VendorServiceLevel] = Field(
        default_factory=list, description="Response and repair targets, one entry per vendor."
    )
    manager_report_channels: list[Identifier] = Field(
        default_factory=list,
        description="E-mail channels (notifications.channels) that receive the hall's monthly device log.",
    )

    @model_validator(mode="after")
    def _one_per_vendor(self) -> ServiceLevels:
        ids = [v.vendor for v in self.vendors]
        if len(set(ids)) != len(ids):
            raise ValueError("each vendor has one entry in service_levels.vendors")
        return self

    def of(self, vendor: str | None) -> VendorServiceLevel | None:
        """The targets of ``vendor``; None when it has none."""
        return next((v for v in self.vendors if v.vendor == vendor), None)
