"""What an alert is: its kind, its stable fingerprint, its lifecycle state, its updates,
why it is muted (:class:`MuteReason`) and the delivery log entries (docs/alerts.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

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
    DEVICE_CLOCK = "device_clock"
    VENDOR_SLA_WARNING = "vendor_sla_warning"
    VENDOR_SLA_MISSED = "vendor_sla_missed"


class UpdateEvent(StrEnum):
    """A lifecycle step, as told to channels and listeners."""

    FIRED = "fired"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    EXTENDED = "extended"
    """An open alert's span grew (a peak runs on): told like a new message (``RuleSpec.extends``)."""
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


MuteKind = Literal["silence", "inhibit", "flap", "late"]


@dataclass(frozen=True, slots=True)
class MuteReason:
    """Why an alert or an update is held back, as the muting stage found it.

    ``kind``: a silence (maintenance window), an inhibition (the data behind the alert is
    stale), flap suppression, or late data (raised from a backlog, not sent until the
    catch-up ends: ``server.alerts.late``). ``key`` is the text key ``server.alerts.templates`` renders
    in both languages; ``source`` names what holds it back (the silence's reason, a camera,
    the gateway, the reopen count) and fills the text.
    """

    kind: MuteKind
    key: str
    source: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.source or self.key}"


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
    muted: MuteReason | None = None
    """Why it is held back now (a silence, or an inhibition of its rule); None: it is not."""

    @property
    def fingerprint(self) -> Fingerprint:
        return (self.site, self.kind, self.subject)

    @property
    def silenced(self) -> bool:
        """A silence holds back its notifications (and its escalation)."""
        return self.muted is not None and self.muted.kind == "silence"

    @property
    def late(self) -> bool:
        """Raised from late data (a backlog) and not sent yet (``server.alerts.late``)."""
        return self.muted is not None and self.muted.kind == "late"

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
    held_back: MuteReason | None = None
    """Why it is not sent to its channels (a silence, flapping, late data); None: it is sent."""
    mirrors: tuple[str, ...] = ()
    """Channels that get it although it is held back: the hall displays' copy of the open
    alerts is cleared by every resolution (:func:`server.alerts.routing.routed`)."""

    @property
    def notify(self) -> bool:
        return self.held_back is None

    @property
    def sent_to(self) -> tuple[str, ...]:
        """The channels it goes to: all of them, or only the mirrors when it is held back."""
        return self.channels if self.held_back is None else self.mirrors


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver an update of an alert through one channel (the delivery log).

    An update held back from its channels is logged too, once per channel it would have
    gone to: ``attempt`` 0, not ``ok``, and ``skipped`` saying why (``"silence: <reason>"``).
    """

    alert_id: str
    channel: str
    event: str
    attempt: int
    ok: bool
    at: datetime
    latency_ms: float
    error: str | None = None
    skipped: str | None = None


@dataclass
class EngineStats:
    """Counters for /metrics: messages seen, ignored and rejected; alerts fired and held back;
    alerts not opened because another engine had them open (``duplicates``)."""

    messages: int = 0
    unknown_site: int = 0
    errors: int = 0
    fired: int = 0
    suppressed: int = 0
    duplicates: int = 0
