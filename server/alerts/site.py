"""One hall as the alert engine holds it, and which rules a message or a tick runs there.

:class:`SiteState` keeps what the rules read (zone occupancy, counters, arrivals, the
sensing state, the device facts) next to the hall's lifecycle and muting; ``signals`` and
``timed_signals`` are the rules stage of the engine (docs/alerts.md, "Stages").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    ZoneState,
)
from server.alerts import rules
from server.alerts.device_facts import HeardDevices
from server.alerts.lifecycle import Lifecycle
from server.alerts.muting import Muting
from server.alerts.rules import ArrivalWindow, ForecastProvider, Sensing, Signal

log = logging.getLogger(__name__)

FORECAST_EVERY = timedelta(seconds=60)


@dataclass
class SiteState:
    """The engine's state of one hall."""

    cfg: SiteConfig
    started: datetime
    """When the engine started: kiosks not heard of since are presumed working a while."""
    lifecycle: Lifecycle = field(init=False)
    sensing: Sensing = field(default_factory=Sensing)
    devices: HeardDevices = field(default_factory=HeardDevices)
    occupancy: dict[str, float] = field(default_factory=dict)
    counters: dict[str, CounterStatus] = field(default_factory=dict)
    arrivals: ArrivalWindow = field(default_factory=ArrivalWindow)
    forecast_at: datetime | None = None
    muting: Muting = field(init=False)

    def __post_init__(self) -> None:
        self.lifecycle = Lifecycle(self.cfg.site)
        self.muting = Muting(self.sensing)

    def signals(self, message: Envelope, now: datetime) -> list[Signal]:
        """What ``message`` changes in the hall, as the signals of the rules it touches."""
        cfg = self.cfg
        match message:
            case ZoneState():
                self.occupancy[message.zone] = message.occupancy
                signals = list(rules.zone_signals(cfg, message))
                if (hall := rules.hall_crowding(cfg, self.occupancy)) is not None:
                    signals.append(hall)
                if message.kind.value == "entrance":
                    self.arrivals.add(message)
                    signals.append(rules.surge_signal(cfg, self.arrivals.count(now), self.counters))
                return signals
            case CameraStatus():
                return [rules.camera_signal(self.sensing, message)]
            case CounterState():
                self.counters[message.counter] = message.state
            case DeviceStatus() | DeviceHeartbeat() | DeviceEvent():
                change = self.devices.apply(message, now)
                return rules.device_signals(cfg, self.devices, change, now, self.started)
        return []

    def timed_signals(self, now: datetime, forecast: ForecastProvider | None) -> list[Signal]:
        """The rules that run on time alone: gateway silence, heartbeat expiry, kiosk
        capacity, surge decay, the forecast peak (asked at most once a minute)."""
        cfg = self.cfg
        gateway = rules.gateway_signal(cfg, self.sensing, now)
        signals = [] if gateway is None else [gateway]
        signals += [rules.offline_signal(cfg, self.devices, d, now) for d in self.devices.devices()]
        signals += rules.capacity_signals(cfg, self.devices, now, self.started)
        if self.arrivals.last_totals:
            signals.append(rules.surge_signal(cfg, self.arrivals.count(now), self.counters))
        if forecast is not None and (self.forecast_at is None or now - self.forecast_at >= FORECAST_EVERY):
            self.forecast_at = now
            try:
                hours = forecast.forecast(cfg.site)
            except Exception:
                log.exception("forecast provider failed for %s", cfg.site)
                hours = []
            signals.append(rules.forecast_signal(cfg, hours, now, self.counters))
        return signals
