"""A small hall and a scripted-message harness for the alert engine tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    ZoneState,
)
from lobbywatch.protocol.sequence import Stamper
from server.alerts.engine import AlertEngine
from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.rules import FaultProvider, ForecastProvider
from server.alerts.store import AlertStore, MemoryAlertStore

ZONE_KINDS = {
    "entrance": ZoneKind.ENTRANCE,
    "queue-a": ZoneKind.QUEUE,
    "waiting": ZoneKind.WAITING,
    "counter-1": ZoneKind.COUNTER,
    "self-service": ZoneKind.SELF_SERVICE,
    "experience": ZoneKind.EXPERIENCE,
}
ZONE_CAMERA = {
    "entrance": "cam-1",
    "experience": "cam-1",
    "self-service": "cam-1",
    "queue-a": "cam-2",
    "waiting": "cam-2",
    "counter-1": "cam-2",
}
SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]]


def hall_dict(site: str, **extra: Any) -> dict[str, Any]:
    """A hall with two cameras, two counters, three kiosks, routes per audience."""
    cfg: dict[str, Any] = {
        "site": site,
        "name": {"en": "Test Hall", "zh-CN": "测试营业厅"},
        "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "18:00"}],
        "zones": [
            {
                "id": "entrance",
                "kind": "entrance",
                "capacity": 5,
                "name": {"en": "Entrance", "zh-CN": "进厅"},
            },
            {"id": "queue-a", "kind": "queue", "capacity": 10},
            {"id": "waiting", "kind": "waiting"},
            {"id": "counter-1", "kind": "counter"},
            {"id": "self-service", "kind": "self_service"},
            {"id": "experience", "kind": "experience"},
        ],
        "cameras": [
            {
                "id": cam,
                "source": "0",
                "zones": [{"zone": z, "polygon": SQUARE} for z, c in ZONE_CAMERA.items() if c == cam],
            }
            for cam in ("cam-1", "cam-2")
        ],
        "counters": [
            {"id": "c1", "zone": "counter-1", "queue": "queue-a"},
            {"id": "c2", "zone": "counter-1", "queue": "queue-a"},
        ],
        "devices": [
            {"id": "k1", "kind": "top_up_kiosk", "vendor": "v-one", "model": "TK1", "zone": "self-service"},
            {"id": "k2", "kind": "bill_payment_kiosk", "vendor": "v-one", "model": "BP2"},
            {"id": "k3", "kind": "sim_dispenser", "vendor": "v-two", "model": "SIM3"},
        ],
        "thresholds": {"hall_capacity": 20, "crowding_hold_s": 60},
        "notifications": {
            "channels": [
                {"name": "floor", "type": "webhook", "url": "http://127.0.0.1:9/floor"},
                {"name": "managers", "type": "webhook", "url": "http://127.0.0.1:9/managers"},
                {"name": "vendor-one", "type": "webhook", "url": "http://127.0.0.1:9/v1"},
                {"name": "regional", "type": "webhook", "url": "http://127.0.0.1:9/regional"},
            ],
            "routes": [
                {"audience": ["guide", "counter"], "channels": ["floor"]},
                {"audience": ["manager"], "channels": ["managers"]},
                {"audience": ["vendor"], "vendors": ["v-one"], "channels": ["vendor-one"]},
            ],
            "escalation": [
                {"after_min": 5, "audience": "manager", "channels": ["managers"]},
                {"after_min": 15, "audience": "regional", "channels": ["regional"]},
            ],
        },
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def hooked_hall_dict(site: str, url: str) -> dict[str, Any]:
    """:func:`hall_dict` whose every alert goes to one webhook channel ``hook`` at ``url``."""
    notifications = {
        "channels": [{"name": "hook", "type": "webhook", "url": url}],
        "routes": [{"channels": ["hook"]}],
        "escalation": [],
    }
    return hall_dict(site, notifications=notifications)


def hall(site: str, **extra: Any) -> SiteConfig:
    return SiteConfig.model_validate(hall_dict(site, **extra))


@dataclass
class RecordingNotifier:
    """The engine's Notifier interface, recording what it would send."""

    batches: list[tuple[str, list[AlertUpdate]]] = field(default_factory=list)

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None:
        self.batches.append((site.site, list(updates)))

    def channels_for(self, alert_id: str, event: UpdateEvent) -> set[str]:
        return {
            c
            for _, us in self.batches
            for u in us
            if u.alert.id == alert_id and u.event == event
            for c in u.channels
        }


class Hall:
    """Drives an engine with scripted messages; time moves only through :meth:`run`.
    Messages are stamped with ``data_clock`` (default: the engine's clock), to replay a
    backlog whose data is older than the server's clock."""

    def __init__(
        self,
        cfg: SiteConfig,
        clock: FixedClock,
        *,
        store: AlertStore | None = None,
        forecast: ForecastProvider | None = None,
        data_clock: FixedClock | None = None,
        faults: FaultProvider | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.data_clock = data_clock or clock
        self.notifier = RecordingNotifier()
        self.store = store if store is not None else MemoryAlertStore()
        self.engine = AlertEngine(
            [cfg], clock=clock, store=self.store, notifier=self.notifier, forecast=forecast, faults=faults
        )
        self.updates: list[AlertUpdate] = []
        self.engine.add_listener(self.updates.append)
        self._stampers: dict[str, Stamper] = {}
        self._entered: dict[str, int] = {}

    def stamp(self, source: str) -> Stamper:
        return self._stampers.setdefault(source, Stamper(self.cfg.site, source, clock=self.data_clock))

    def send(self, message: Envelope) -> list[AlertUpdate]:
        return self.engine.feed(message)

    def zone(self, zone: str, **fields: Any) -> list[AlertUpdate]:
        fields.setdefault("occupancy", 0.0)
        fields.setdefault("count", int(fields["occupancy"]))
        fields.setdefault("entered_total", self._entered.get(zone, 0))
        fields.setdefault("exited_total", 0)
        self._entered[zone] = fields["entered_total"]
        msg = self.stamp(ZONE_CAMERA[zone]).make(ZoneState, zone=zone, kind=ZONE_KINDS[zone], **fields)
        return self.send(msg)

    def camera(self, camera: str, **fields: Any) -> list[AlertUpdate]:
        return self.send(self.stamp(camera).make(CameraStatus, **fields))

    def device_status(self, device: str, **fields: Any) -> list[AlertUpdate]:
        return self.send(self.stamp(device).make(DeviceStatus, **fields))

    def heartbeat(self, device: str, interval_s: float = 30) -> list[AlertUpdate]:
        return self.send(self.stamp(device).make(DeviceHeartbeat, uptime_s=1, interval_s=interval_s))

    def device_event(self, device: str, **fields: Any) -> list[AlertUpdate]:
        return self.send(self.stamp(device).make(DeviceEvent, **fields))

    def counter(self, counter: str, state: str) -> list[AlertUpdate]:
        return self.send(self.stamp(f"term-{counter}").make(CounterState, counter=counter, state=state))

    def run(self, seconds: float, step: float = 1.0) -> list[AlertUpdate]:
        """Advance the clock ``seconds``, ticking the engine every ``step`` seconds."""
        out: list[AlertUpdate] = []
        left = seconds
        while left > 1e-9:
            d = min(step, left)
            self.clock.advance(d)
            left -= d
            out += self.engine.tick()
        return out

    def events(self, kind: str | None = None, event: UpdateEvent | None = None) -> list[AlertUpdate]:
        return [
            u
            for u in self.updates
            if (kind is None or u.alert.kind == kind) and (event is None or u.event == event)
        ]

    def fired(self, kind: str) -> list[AlertUpdate]:
        return self.events(kind, UpdateEvent.FIRED) + self.events(kind, UpdateEvent.REOPENED)

    def fired_all(self) -> list[AlertUpdate]:
        return [u for u in self.updates if u.event in (UpdateEvent.FIRED, UpdateEvent.REOPENED)]

    def open(self, kind: str) -> list[Any]:
        return [a for a in self.engine.open_alerts(self.cfg.site) if a.kind == kind]


def at(clock: FixedClock) -> datetime:
    return clock.now()
