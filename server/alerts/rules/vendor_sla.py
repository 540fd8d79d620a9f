"""Vendor service levels: a fault's response and repair targets, counted in opening hours.

For every open fault of a vendor with targets (``service_levels`` of the hall,
:mod:`lobbywatch.config.vendors`), each target (``respond``: the fault's first
acknowledgement; ``repair``: its clearing) is judged on the opening time passed since the
fault was raised (:mod:`server.service_levels`): ``vendor_sla_warning`` from ``warn_pct`` of
the target, ``vendor_sla_missed`` from the target on; both resolve when the target is met
(late or not) or the fault is gone. The open faults are the device history's
(:class:`FaultProvider`, the ``device_faults`` rows; docs/alerts.md, "Vendor service levels").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from lobbywatch.config.site import SiteConfig
from server.alerts.model import Alert, AlertKind
from server.alerts.rules.spec import Signal
from server.opening_hours import config_periods, when_open_for
from server.service_levels import target_use

KINDS = (AlertKind.VENDOR_SLA_WARNING, AlertKind.VENDOR_SLA_MISSED)
TARGETS = ("respond", "repair")


class SlaText(StrEnum):
    """Text keys (``what``) of the targets (``server.alerts.templates.TEXTS``)."""

    RESPOND = "sla_respond"
    REPAIR = "sla_repair"


TARGET_TEXT = {"respond": SlaText.RESPOND, "repair": SlaText.REPAIR}


@dataclass(frozen=True, slots=True)
class OpenFault:
    """A fault not cleared yet, as the device history holds it."""

    id: int
    device: str
    vendor: str
    code: str
    raised_at: datetime
    acknowledged_at: datetime | None = None


class FaultProvider(Protocol):
    """The open faults of a hall (the server's: :class:`server.alerts.faults.SqlOpenFaults`)."""

    def open_faults(self, site: str) -> Sequence[OpenFault]: ...


def subject(target: str, fault_id: int) -> str:
    return f"{target}:fault:{fault_id}"


def sla_signals(
    cfg: SiteConfig, faults: Sequence[OpenFault], open_alerts: Iterable[Alert], now: datetime
) -> list[Signal]:
    """The warning and missed signals of every target of every open fault; off for the
    alerts of faults that are gone (cleared) or of targets met."""
    levels = cfg.service_levels
    signals: list[Signal] = []
    periods = config_periods(cfg) if levels.vendors and faults else []
    for fault in faults:
        level = levels.of(fault.vendor)
        if level is None:
            continue
        for target in TARGETS:
            target_s = level.target_s(target)
            if target_s is None:
                continue
            done = fault.acknowledged_at if target == "respond" else None  # repaired: not open
            use = target_use(cfg.timezone, periods, fault.raised_at, done, now, target_s)
            warn = done is None and use.met is None and use.used_s >= level.warn_pct / 100.0 * target_s
            missed = done is None and use.met is False
            params = partial(_params, cfg, fault, target, target_s, use.used_s, level.warn_pct, periods)
            for kind, on in (
                (AlertKind.VENDOR_SLA_WARNING, None if missed else warn),
                (AlertKind.VENDOR_SLA_MISSED, missed),
            ):
                signals.append(_signal(kind, subject(target, fault.id), on, fault, params))
    judged = {s.subject for s in signals}
    for alert in open_alerts:
        if alert.kind in KINDS and alert.subject not in judged:
            signals.append(Signal(AlertKind(alert.kind), alert.subject, False))
    return signals


def _signal(
    kind: AlertKind, subj: str, on: bool | None, fault: OpenFault, params: Callable[[], dict[str, Any]]
) -> Signal:
    """The parameters are made only when the lifecycle reads them (an alert fires or is open)."""
    return Signal(kind, subj, on, params, device=fault.device, vendor=fault.vendor)


def _params(
    cfg: SiteConfig,
    fault: OpenFault,
    target: str,
    target_s: float,
    elapsed_s: float,
    warn_pct: float,
    periods: list[dict[str, Any]],
) -> dict[str, Any]:
    """What the texts show: the fault, the target, the opening time passed, when it is due."""
    due = when_open_for(cfg.timezone, periods, fault.raised_at, target_s)
    local = due.astimezone(ZoneInfo(cfg.timezone)) if due is not None else None
    return {
        "device": fault.device,
        "vendor": fault.vendor,
        "code": fault.code,
        "fault_id": fault.id,
        "target": target,
        "what": str(TARGET_TEXT[target]),
        "limit_min": round(target_s / 60.0, 1),
        "elapsed_min": round(elapsed_s / 60.0, 1),
        "warn_pct": warn_pct,
        "due": "?" if local is None else local.strftime("%m-%d %H:%M"),
    }
