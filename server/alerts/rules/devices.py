"""Device rules: a device offline, a device fault, too few working kiosks.

They read the devices through :class:`~server.alerts.device_facts.DeviceFacts` and the
hall's configuration (vendor, model, zone); ``why`` of ``device_offline`` is a text key
(:class:`~server.alerts.device_facts.OfflineReason`).
"""

from __future__ import annotations

from datetime import datetime

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import Severity
from server.alerts.device_facts import DeviceChange, DeviceFacts
from server.alerts.model import AlertKind
from server.alerts.rules.spec import Signal, hall_open


def _meta(cfg: SiteConfig, device: str) -> tuple[str, str, str | None]:
    """(vendor, model, zone) of a configured device; ("unknown", "?", None) otherwise."""
    try:
        d = cfg.device(device)
    except KeyError:
        return "unknown", "?", None
    return d.vendor, d.model, d.zone


def device_signals(cfg: SiteConfig, facts: DeviceFacts, change: DeviceChange, now: datetime) -> list[Signal]:
    """The rules one device message touches, in order: offline, faults, kiosk capacity."""
    signals: list[Signal] = []
    if change.presence:
        signals.append(offline_signal(cfg, facts, change.device, now))
    for code in change.cleared:
        signals.append(fault_signal(cfg, change.device, code, False))
    for fault in change.raised:
        signals.append(fault_signal(cfg, change.device, fault.code, True, fault.detail, fault.unusable))
    if change.capacity:
        signals += capacity_signals(cfg, facts, now)
    return signals


def fault_signal(
    cfg: SiteConfig,
    device: str,
    code: str,
    on: bool,
    detail: str | None = None,
    unusable: bool | None = None,
) -> Signal:
    """One fault of one device: on while raised; critical when it makes the device unusable."""
    vendor, model, zone = _meta(cfg, device)
    params = {"device": device, "model": model, "vendor": vendor, "code": code, "detail": detail}
    return Signal(
        AlertKind.DEVICE_FAULT,
        f"device:{device}:{code}",
        on,
        params,
        severity=Severity.CRITICAL if unusable else Severity.WARNING,
        zone=zone,
        device=device,
        vendor=vendor,
    )


def offline_signal(cfg: SiteConfig, facts: DeviceFacts, device: str, now: datetime) -> Signal:
    """On while the device is offline; not judged (None) while the hall is closed, so a
    device still offline at opening time is alerted then. It must hold for the device kind's
    grace (a restart within it pages nobody)."""
    vendor, _model, zone = _meta(cfg, device)
    offline = facts.offline(device, now)
    on: bool | None = offline is not None
    params: dict[str, object] = {"device": device, "vendor": vendor}
    if offline is not None:
        params["why"] = str(offline.reason)
        if not hall_open(cfg, now):
            on = None  # a closed hall's kiosks may sleep
    return Signal(
        AlertKind.DEVICE_OFFLINE,
        f"device:{device}",
        on,
        params,
        since=offline.since if offline is not None else None,
        zone=zone,
        device=device,
        vendor=vendor,
        hold_s=facts.offline_grace_s(device),
    )


def capacity_signals(cfg: SiteConfig, facts: DeviceFacts, now: datetime) -> list[Signal]:
    """Working self-service devices against ``min_working_kiosks`` (none before any is heard of).

    Which kiosks work is the hall state's answer (a kiosk not heard of since the server
    started is presumed working until its heartbeat is due, plus the grace).
    """
    working, down = facts.kiosks(now)
    if not any(facts.heard_of(k) for k in (*working, *down)):
        return []
    minimum = cfg.thresholds.min_working_kiosks
    total = len(working) + len(down)
    params = {"working": len(working), "total": total, "minimum": minimum, "down_ids": down}
    return [Signal(AlertKind.KIOSK_CAPACITY, "hall", len(working) < minimum, params)]
