"""One hall as the alert engine holds it, and which rules a message or a tick runs there.

:class:`SiteState` keeps the engine's own state of a hall (arrivals, lifecycle, muting,
catch-up on late data) and reads the rest (zones, counters, cameras, devices, gateway) from
the one hall state; ``signals`` and ``timed_signals`` are the rules stage of the engine
(docs/alerts.md, "Stages").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.messages import (
    CameraStatus,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    ZoneState,
)
from lobbywatch.protocol.tickets import TicketEvent
from server.alerts import rules
from server.alerts.device_facts import HallDevices
from server.alerts.late import CatchUp
from server.alerts.lifecycle import Lifecycle
from server.alerts.muting import Muting
from server.alerts.rules import ArrivalWindow, CareTasks, ForecastProvider, Sensing, Signal
from server.alerts.rules.vendor_sla import FaultProvider, sla_signals
from server.alerts.store import AlertStore
from server.hall_state import HallState

log = logging.getLogger(__name__)

FORECAST_EVERY = timedelta(seconds=60)
FAULTS_EVERY = timedelta(seconds=10)
"""How often the vendor targets read the open faults (a query per hall)."""


@dataclass
class SiteState:
    """The engine's state of one hall; what the hall *is* (zones, counters, cameras,
    devices, gateway) it reads from the server's hall state."""

    cfg: SiteConfig
    hall: HallState
    lifecycle: Lifecycle = field(init=False)
    sensing: Sensing = field(init=False)
    devices: HallDevices = field(init=False)
    arrivals: ArrivalWindow = field(default_factory=ArrivalWindow)
    care: CareTasks = field(default_factory=CareTasks)
    forecast_at: datetime | None = None
    faults_at: datetime | None = None
    muting: Muting = field(init=False)
    catch_up: CatchUp = field(init=False)

    def __post_init__(self) -> None:
        self.lifecycle = Lifecycle(self.cfg.site)
        self.sensing = Sensing(self.hall, self.cfg.site)
        self.devices = HallDevices(self.hall, self.cfg.site)
        self.muting = Muting(self.sensing)
        self.catch_up = CatchUp(self.sensing)

    def restore(self, store: AlertStore | None, now: datetime) -> None:
        """Take back what the store kept for this hall: its open alerts, its run-time silences."""
        if store is None:
            return
        for alert in store.open_alerts(self.cfg.site):
            self.lifecycle.replace(alert)
            if alert.kind == "long_wait":
                self.care.restore(alert.subject, alert.zone)
        self.muting.added += store.silences(self.cfg.site, now)

    @property
    def counters(self) -> dict[str, CounterStatus]:
        return self.hall.counters(self.cfg.site)

    def signals(self, message: Envelope, now: datetime) -> list[Signal]:
        """The signals of the rules ``message`` (already applied to the hall state) touches."""
        cfg = self.cfg
        match message:
            case ZoneState():
                signals = list(rules.zone_signals(cfg, message))
                rules.give_way_to_tickets(cfg, self.hall.tickets(cfg.site), signals)
                signals += self.care.signals(cfg, message)
                occupancy = self.hall.hall(cfg.site).occupancy
                if (hall := rules.hall_crowding(cfg, occupancy)) is not None:
                    signals.append(hall)
                if message.kind.value == "entrance":
                    self.arrivals.add(message)
                    signals.append(rules.surge_signal(cfg, self.arrivals.count(now), self.counters))
                return signals
            case CameraStatus():
                return [rules.camera_signal(cfg, message)]
            case TicketEvent():
                return rules.ticket_signals(cfg, self.hall.tickets(cfg.site), now)
            case DeviceStatus() | DeviceHeartbeat() | DeviceEvent():
                return rules.device_signals(cfg, self.devices, self.devices.change(message), now)
        return []

    def timed_signals(
        self, now: datetime, forecast: ForecastProvider | None, faults: FaultProvider | None = None
    ) -> list[Signal]:
        """The rules that run on time alone: gateway silence, clocks, heartbeat expiry, kiosk
        capacity, ticket overtime, surge decay, the forecast peak (asked at most once a minute),
        the vendors' service levels (when the hall sets targets and ``faults`` tells the open
        faults; read at most every 10 s)."""
        cfg = self.cfg
        gateway = rules.gateway_signal(cfg, self.sensing, now)
        signals = [] if gateway is None else [gateway]
        signals += rules.clock_signals(cfg, self.sensing)
        signals += [rules.offline_signal(cfg, self.devices, d, now) for d in self.devices.devices()]
        signals += rules.capacity_signals(cfg, self.devices, now)
        signals += rules.ticket_signals(cfg, self.hall.tickets(cfg.site), now)
        if self.arrivals.last_totals:
            signals.append(rules.surge_signal(cfg, self.arrivals.count(now), self.counters))
        if forecast is not None and (self.forecast_at is None or now - self.forecast_at >= FORECAST_EVERY):
            self.forecast_at = now
            try:
                hours = forecast.forecast(cfg.site)
            except Exception:
                log.exception("forecast provider failed for %s", cfg.site)
                hours = []
            peak = rules.forecast_signal(cfg, hours, now, self.counters, self.lifecycle.open.values())
            signals.append(peak)
        if faults is not None and cfg.service_levels.vendors and self._due_faults(now):
            try:
                open_faults = faults.open_faults(cfg.site)
            except Exception:
                log.exception("open faults unavailable for %s", cfg.site)
            else:
                signals += sla_signals(cfg, open_faults, self.lifecycle.open.values(), now)
        return signals

    def _due_faults(self, now: datetime) -> bool:
        if self.faults_at is not None and now - self.faults_at < FAULTS_EVERY:
            return False
        self.faults_at = now
        return True
