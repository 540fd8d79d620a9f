"""What every rule shares: the rule table (:data:`RULES`), the :class:`Signal` a rule
returns, and small helpers (opening hours, hysteresis, localized config names).

A rule never fires an alert itself and writes no words a person reads: it returns
signals whose parameters are values, config names in both languages, or text keys that
``server.alerts.templates`` renders (docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import Severity
from server.alerts.model import AlertKind


class ForecastProvider(Protocol):
    """The server's arrivals forecast: (hour start, expected arrivals in that hour), UTC."""

    def forecast(self, site: str) -> Sequence[tuple[datetime, float]]: ...


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """How one alert kind behaves: who gets it, how bad it is, how long it must hold."""

    kind: AlertKind
    audience: tuple[str, ...]
    severity: Severity
    hold_s: str | float = 0.0
    """Raise hold: seconds, or the name of a :class:`Thresholds` field holding seconds."""
    clear_hold_s: float | None = None
    """Clear hold; ``None``: the site policy's default."""
    extends: str | None = None
    """A parameter whose change on an open alert is told (``UpdateEvent.EXTENDED``), not kept quiet."""


RULES: dict[str, RuleSpec] = {
    spec.kind: spec
    for spec in (
        RuleSpec(AlertKind.CROWDING, ("manager", "guide"), Severity.WARNING, "crowding_hold_s"),
        RuleSpec(AlertKind.LONG_WAIT, ("guide",), Severity.WARNING),
        RuleSpec(AlertKind.EXPECTED_WAIT, ("manager",), Severity.WARNING),
        RuleSpec(AlertKind.NO_UPSELL, ("counter",), Severity.INFO),
        RuleSpec(AlertKind.TRANSACTION_OVERTIME, ("manager", "counter"), Severity.INFO),
        RuleSpec(AlertKind.PEAK_FORECAST, ("manager",), Severity.WARNING, 0.0, 0.0, "peak_end_utc"),
        RuleSpec(AlertKind.PEAK_SURGE, ("manager",), Severity.WARNING, 0.0, 300.0),
        RuleSpec(AlertKind.DEVICE_FAULT, ("guide", "manager", "vendor"), Severity.WARNING, 0.0, 0.0),
        RuleSpec(
            AlertKind.DEVICE_OFFLINE, ("manager", "vendor"), Severity.WARNING, "device_offline_grace_s", 0.0
        ),
        RuleSpec(AlertKind.KIOSK_CAPACITY, ("manager", "guide"), Severity.CRITICAL),
        RuleSpec(AlertKind.LOITERING, ("guide",), Severity.INFO),
        RuleSpec(AlertKind.SENSING_BLIND, ("manager",), Severity.WARNING, 0.0, 0.0),
        RuleSpec(AlertKind.DEVICE_CLOCK, ("manager", "vendor"), Severity.WARNING, 0.0, 0.0),
        RuleSpec(AlertKind.VENDOR_SLA_WARNING, ("vendor", "manager"), Severity.WARNING, 0.0, 0.0),
        RuleSpec(AlertKind.VENDOR_SLA_MISSED, ("vendor", "manager"), Severity.CRITICAL, 0.0, 0.0),
    )
}


@dataclass(slots=True)  # not frozen: several per message, and frozen init costs 3x
class Signal:
    """What a rule sees about one subject now.

    ``on=True``: past the raise threshold; ``on=False``: past the clear threshold;
    ``on=None``: in the hysteresis band between the two (or not to be judged now).
    ``detail`` is the alert's parameters, or a function that makes them: most signals
    say "nothing to report" about a subject with nothing pending, and the engine drops those
    without reading :attr:`params` (rules run for every message).
    """

    kind: AlertKind
    subject: str
    on: bool | None
    detail: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)
    since: datetime | None = None
    severity: Severity | None = None
    zone: str | None = None
    device: str | None = None
    vendor: str | None = None
    camera: str | None = None
    """Camera whose data this rests on: held back while that camera is blind."""
    hold_s: float | None = None
    """This subject's raise hold, where it differs from the rule's (a device kind's grace)."""

    @property
    def params(self) -> dict[str, Any]:
        if callable(self.detail):
            self.detail = self.detail()
        return self.detail


def hall_open(cfg: SiteConfig, now: datetime) -> bool:
    """Whether ``now`` falls in the hall's opening hours (its own time zone)."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(cfg.timezone))
    for period in cfg.opening_hours:
        if any(day.number == local.weekday() for day in period.days) and (
            period.open <= local.time().replace(tzinfo=None) < period.close
        ):
            return True
    return False


def hysteresis(value: float, raise_above: float, clear_below: float, *, inclusive: bool) -> bool | None:
    """On past ``raise_above`` (or at it, ``inclusive``), off under ``clear_below``, else None."""
    if (value >= raise_above) if inclusive else (value > raise_above):
        return True
    if value < clear_below:
        return False
    return None


def named(name_en: str, name_zh: str) -> dict[str, str]:
    """A name from the hall's configuration in both languages, as a parameter."""
    return {"en": name_en, "zh-CN": name_zh}


def hall_name(cfg: SiteConfig) -> dict[str, str]:
    return named(cfg.name.en, cfg.name.zh_cn)
