"""A simulated fleet of kiosks and counter terminals, for the demo, the lobby simulator and
load tests (:class:`DeviceFleetSimulator`): random faults and repairs, flapping, network
loss, counter states and heartbeats, on an injected clock and :class:`random.Random`.

Each simulated device numbers its messages like a real agent, so a simulated hall passes the
conformance checker. See ``docs/device-agent.md``, "Device simulator".
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge.devices.faults import FaultCatalogue
from lobbywatch.clock import Clock, simulation_clock
from lobbywatch.config.site import BrokerConfig, DeviceConfig, SiteConfig
from lobbywatch.protocol.enums import CounterStatus, DeviceEventKind, DeviceKind, Presence
from lobbywatch.protocol.messages import (
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceInfo,
    DeviceStatus,
    Envelope,
    Vitals,
)
from lobbywatch.protocol.sequence import Stamper

Sink = Callable[[Envelope], None]


@dataclass(frozen=True)
class KindProfile:
    """Failure behaviour of one device kind."""

    mtbf_h: float
    mttr_min: float
    codes: tuple[str, ...]


_KIOSK = ("PRN_PAPER_OUT", "PRN_JAM", "CARD_READER_ERROR", "TOUCH_UNRESPONSIVE", "APP_CRASHED", "NET_LOST")
DEFAULT_PROFILES: dict[DeviceKind, KindProfile] = {
    DeviceKind.TOP_UP_KIOSK: KindProfile(60, 35, (*_KIOSK, "CASH_FULL", "CASH_JAM", "COIN_HOPPER_EMPTY")),
    DeviceKind.BILL_PAYMENT_KIOSK: KindProfile(60, 35, (*_KIOSK, "CASH_FULL", "CASH_JAM")),
    DeviceKind.SIM_DISPENSER: KindProfile(80, 30, (*_KIOSK, "SIM_STOCK_EMPTY")),
    DeviceKind.CARD_DISPENSER: KindProfile(80, 30, (*_KIOSK, "CARD_STOCK_EMPTY")),
    DeviceKind.RECEIPT_PRINTER: KindProfile(40, 15, ("PRN_PAPER_OUT", "PRN_PAPER_LOW", "PRN_JAM")),
    DeviceKind.TICKET_DISPENSER: KindProfile(50, 15, ("PRN_PAPER_OUT", "PRN_JAM", "TOUCH_UNRESPONSIVE")),
    DeviceKind.MULTI_SERVICE_KIOSK: KindProfile(50, 40, (*_KIOSK, "SCANNER_ERROR", "UPS_ON_BATTERY")),
    DeviceKind.ATM: KindProfile(120, 60, ("CASH_JAM", "CARD_READER_ERROR", "DOOR_OPEN", "NET_LOST")),
    DeviceKind.COUNTER_TERMINAL: KindProfile(400, 20, ("APP_CRASHED", "NET_LOST", "PRN_JAM")),
    DeviceKind.DISPLAY: KindProfile(800, 60, ("DISPLAY_FAULT", "NET_LOST")),
}

#: Relative frequency of counter states, and mean minutes between counter state changes.
COUNTER_WEIGHTS = {
    CounterStatus.SERVING: 0.6,
    CounterStatus.STANDBY: 0.25,
    CounterStatus.LEARNING: 0.05,
    CounterStatus.AWAY: 0.1,
}


@dataclass(frozen=True)
class SimSettings:
    """Knobs of the simulation (defaults: a realistic, rather unlucky hall)."""

    vendor_response_min: float = 45.0  # mean minutes until the vendor starts the repair
    vendor_response: dict[str, float] = field(default_factory=dict)  # per vendor id
    flap_prob: float = 0.1  # share of faults that flap once
    network_loss_per_day: float = 0.5  # per device
    network_loss_mean_s: float = 90.0
    counter_change_mean_min: float = 6.0
    mtbf_scale: float = 1.0  # < 1 for more failures (load tests)


@dataclass
class _Device:
    cfg: DeviceConfig
    stamper: Stamper
    online: bool = False
    birth_seq: int = 0
    faults: dict[str, bool] = field(default_factory=dict)  # code -> unusable
    out_of_service: bool = False
    counter_state: CounterStatus | None = None
    started: float = 0.0


class DeviceFleetSimulator:
    """Every device of a hall; call :meth:`step` whenever the clock may have moved."""

    def __init__(
        self,
        site: SiteConfig,
        clock: Clock,
        rng: random.Random,
        sink: Sink,
        *,
        settings: SimSettings | None = None,
        profiles: dict[DeviceKind, KindProfile] | None = None,
        catalogue: FaultCatalogue | None = None,
        epoch: int | None = None,
    ) -> None:
        self.site = site
        self.clock = clock
        self.rng = rng
        self.sink = sink
        self.settings = settings or SimSettings()
        self.profiles = profiles or DEFAULT_PROFILES
        self.catalogue = catalogue or FaultCatalogue()
        ep = epoch if epoch is not None else int(clock.now().timestamp())
        self.devices = {
            d.id: _Device(d, Stamper(site.site, d.id, clock=clock, epoch=ep)) for d in site.devices
        }
        self._queue: list[tuple[float, int, str, str, Any]] = []
        self._tie = itertools.count()
        self._lock = threading.Lock()
        self.emitted = 0
        self.started = False

    # ------------------------------------------------------------ scheduling
    def _at(self, when: float, device: str, action: str, arg: Any = None) -> None:
        heapq.heappush(self._queue, (when, next(self._tie), device, action, arg))

    def _exp(self, mean_s: float) -> float:
        return self.rng.expovariate(1.0 / mean_s)

    def start(self) -> None:
        """Births and first events of every device."""
        now = self.clock.monotonic()
        for dev in self.devices.values():
            dev.started = now
            self._birth(dev)
            self._at(now, dev.cfg.id, "heartbeat")
            self._schedule_failure(dev, now)
            loss = self.settings.network_loss_per_day
            if loss > 0:
                self._at(now + self._exp(86400 / loss), dev.cfg.id, "net_down")
            if dev.cfg.kind == DeviceKind.COUNTER_TERMINAL and dev.cfg.counter:
                self._counter(dev, CounterStatus.STANDBY)
                self._at(now + self._exp(self.settings.counter_change_mean_min * 60), dev.cfg.id, "counter")
        self.started = True

    def step(self) -> int:
        """Run every event due by now; returns how many messages were emitted."""
        with self._lock:
            if not self.started:
                self.start()
            before = self.emitted
            now = self.clock.monotonic()
            while self._queue and self._queue[0][0] <= now:
                when, _, dev_id, action, arg = heapq.heappop(self._queue)
                self._run(self.devices[dev_id], action, arg, when)
            return self.emitted - before

    def next_due(self) -> float | None:
        """Monotonic time of the next event, if any."""
        return self._queue[0][0] if self._queue else None

    # ------------------------------------------------------------ events
    def _emit(self, dev: _Device, cls: type[Envelope], **fields: Any) -> Envelope:
        msg = dev.stamper.make(cls, **fields)
        self.sink(msg)
        self.emitted += 1
        return msg

    def _status(self, dev: _Device, *, will: bool = False, seq: int | None = None) -> None:
        fields: dict[str, Any] = {
            "state": Presence.OFFLINE if will else Presence.ONLINE,
            "will": will,
            "out_of_service": dev.out_of_service,
            "faults": sorted(dev.faults),
            "heartbeat_s": dev.cfg.heartbeat_s,
        }
        if not will:
            fields["info"] = DeviceInfo(
                kind=dev.cfg.kind, vendor=dev.cfg.vendor, model=dev.cfg.model, firmware="sim-1.0"
            )
        if will:
            msg = dev.stamper.make(DeviceStatus, seq=seq, **fields)
            self.sink(msg)
            self.emitted += 1
        else:
            self._emit(dev, DeviceStatus, **fields)

    def _birth(self, dev: _Device) -> None:
        dev.online = True
        dev.birth_seq = dev.stamper.next_seq
        self._status(dev)

    def _schedule_failure(self, dev: _Device, now: float) -> None:
        profile = self.profiles.get(dev.cfg.kind)
        if profile is None:
            return
        self._at(now + self._exp(profile.mtbf_h * 3600 * self.settings.mtbf_scale), dev.cfg.id, "fault")

    def _run(self, dev: _Device, action: str, arg: Any, when: float) -> None:
        if not dev.online and action not in ("net_up", "heartbeat"):
            self._at(when + 5.0, dev.cfg.id, action, arg)  # held until the network is back
            return
        if action == "heartbeat":
            if dev.online:
                self._emit(
                    dev,
                    DeviceHeartbeat,
                    uptime_s=min(when - dev.started, 10 * 365 * 86400),
                    interval_s=dev.cfg.heartbeat_s,
                    vitals=Vitals(
                        cpu_pct=round(self.rng.uniform(2, 40), 1),
                        mem_pct=round(self.rng.uniform(20, 70), 1),
                        disk_free_pct=round(self.rng.uniform(30, 80), 1),
                        outbox_backlog=0,
                    ),
                )
            self._at(when + dev.cfg.heartbeat_s, dev.cfg.id, "heartbeat")
        elif action == "fault":
            self._fault(dev, when)
        elif action == "clear":
            self._clear(dev, str(arg))
        elif action == "flap_raise":
            self._raise(dev, str(arg), "flapping")
        elif action == "net_down":
            dev.online = False
            self._status(dev, will=True, seq=dev.birth_seq)
            self._at(when + self._exp(self.settings.network_loss_mean_s), dev.cfg.id, "net_up")
        elif action == "net_up":
            self._birth(dev)
            loss = self.settings.network_loss_per_day
            self._at(when + self._exp(86400 / loss), dev.cfg.id, "net_down")
        elif action == "counter":
            states = list(COUNTER_WEIGHTS)
            choices = [s for s in states if s != dev.counter_state]
            weights = [COUNTER_WEIGHTS[s] for s in choices]
            self._counter(dev, self.rng.choices(choices, weights)[0])
            self._at(when + self._exp(self.settings.counter_change_mean_min * 60), dev.cfg.id, "counter")

    def _fault(self, dev: _Device, when: float) -> None:
        profile = self.profiles[dev.cfg.kind]
        free = [c for c in profile.codes if c not in dev.faults and c in self.catalogue]
        if free:
            code = self.rng.choice(free)
            self._raise(dev, code, None)
            if self.rng.random() < self.settings.flap_prob:
                flap_at = when + self.rng.uniform(5, 30)
                self._at(flap_at, dev.cfg.id, "clear", code)
                self._at(flap_at + self.rng.uniform(5, 30), dev.cfg.id, "flap_raise", code)
                when = flap_at + 60
            response = self.settings.vendor_response.get(dev.cfg.vendor, self.settings.vendor_response_min)
            repair = self._exp(response * 60) + self._exp(profile.mttr_min * 60)
            self._at(when + repair, dev.cfg.id, "clear", code)
        self._schedule_failure(dev, when)

    def _raise(self, dev: _Device, code: str, detail: str | None) -> None:
        if code in dev.faults:
            return
        spec = self.catalogue.get(code)
        dev.faults[code] = spec.unusable
        self._emit(
            dev,
            DeviceEvent,
            event=DeviceEventKind.FAULT_RAISED,
            code=code,
            severity=spec.severity,
            unusable=spec.unusable,
            detail=detail,
        )
        if spec.unusable and not dev.out_of_service:
            dev.out_of_service = True
            self._emit(dev, DeviceEvent, event=DeviceEventKind.OUT_OF_SERVICE_ON, by="fault", detail=code)
        self._status(dev)

    def _clear(self, dev: _Device, code: str) -> None:
        if code not in dev.faults:
            return
        spec = self.catalogue.get(code)
        del dev.faults[code]
        self._emit(
            dev,
            DeviceEvent,
            event=DeviceEventKind.FAULT_CLEARED,
            code=code,
            severity=spec.severity,
            unusable=spec.unusable,
        )
        if dev.out_of_service and not any(dev.faults.values()):
            dev.out_of_service = False
            self._emit(dev, DeviceEvent, event=DeviceEventKind.OUT_OF_SERVICE_OFF, by="fault")
        self._status(dev)

    def _counter(self, dev: _Device, state: CounterStatus) -> None:
        dev.counter_state = state
        assert dev.cfg.counter is not None
        self._emit(dev, CounterState, counter=dev.cfg.counter, state=state, since=self.clock.now())


def run_simulation(
    site: SiteConfig,
    broker: BrokerConfig,
    *,
    speed: float = 1.0,
    seed: int | None = None,
    duration: float | None = None,
    password: str | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the simulator against a broker until ``stop`` is set or ``duration`` passes."""
    import signal

    from lobbywatch.mqtt import connect_and_wait, make_client, publish

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = make_client(f"lw-sim-devices-{site.site}"[:64], broker, password=password)
    connect_and_wait(client, broker)
    clock = simulation_clock(datetime.now(UTC), speed)

    def sink(message: Envelope) -> None:
        publish(client, message)

    sim = DeviceFleetSimulator(site, clock, random.Random(seed), sink)
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            sim.step()
            stop.wait(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()
    return sim.emitted


__all__ = ["DEFAULT_PROFILES", "DeviceFleetSimulator", "KindProfile", "SimSettings", "run_simulation"]
