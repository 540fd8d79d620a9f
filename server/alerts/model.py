"""What an alert is: its kind, its stable fingerprint, its lifecycle state and its updates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from lobbywatch.protocol.enums import AlertState, Severity


class AlertKind(StrEnum):
    """Every rule of the floor that raises an alert (docs/alerts.md has the table)."""

    CROWDING = "crowding"
    LONG_WAIT = "long_wait"
    EXPECTED_WAIT = "expected_wait"
    NO_UPSELL = "no_upsell"
    TRANSACTION_OVERTIME = "transaction_overtime"
    PEAK_FORECAST = "peak_forecast"
    PEAK_SURGE = "peak_surge"
    DEVICE_FAULT = "device_fault"
    DEVICE_OFFLINE = "device_offline"
    KIOSK_CAPACITY = "kiosk_capacity"
    LOITERING = "loitering"
    SENSING_BLIND = "sensing_blind"


class UpdateEvent(StrEnum):
    """A lifecycle step, as told to channels and listeners."""

    FIRED = "fired"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


Fingerprint = tuple[str, str, str]
"""(site, kind, subject): one condition is one alert, however often it is re-evaluated."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert and where it stands. Immutable: the engine stores a new copy on each change."""

    id: str
    site: str
    kind: str
    subject: str
    severity: Severity
    state: AlertState
    audience: tuple[str, ...]
    started_at: datetime
    updated_at: datetime
    params: dict[str, Any] = field(default_factory=dict)
    zone: str | None = None
    device: str | None = None
    vendor: str | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_comment: str | None = None
    resolved_at: datetime | None = None
    escalation_level: int = 0
    reopen_count: int = 0
    silenced: bool = False

    @property
    def fingerprint(self) -> Fingerprint:
        return (self.site, self.kind, self.subject)

    @property
    def is_open(self) -> bool:
        return self.state != AlertState.RESOLVED

    def evolve(self, **changes: Any) -> Alert:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """A lifecycle step of one alert, for channels (``channels``) and live listeners."""

    alert: Alert
    event: UpdateEvent
    at: datetime
    channels: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    notify: bool = True


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver an update of an alert through one channel (the delivery log)."""

    alert_id: str
    channel: str
    event: str
    attempt: int
    ok: bool
    at: datetime
    latency_ms: float
    error: str | None = None
