"""The one hall state: what the server knows about each hall now.

Ingest applies every accepted message (:meth:`HallState.apply`) and every gateway batch
(:meth:`HallState.gateway_batch`) (on the JetStream bus the consumers of the stream do:
docs/distributed.md, "Roles"), and the messages it rejects for their time
(:meth:`HallState.clock_rejected`); live views, the device API and reports (through
:class:`server.devices.DeviceTracker`) and the alert engine only read it. It owns the
definitions every consumer shares: when a hall's data is absent (its gateway silent:
:meth:`HallState.data_absent`, what the wall shows and the gateway-silence alert fires on),
when a device is offline (its status or last-will says so, or its heartbeat expired while the
hall's data is live), when a kiosk works, a camera is blind, a counter serves
(:mod:`server.counter_states`) and a source's clock is wrong. It
holds each hall's queue tickets (:mod:`server.hall_tickets`). docs/server.md ("One hall
state") has the long story.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from lobbywatch.clock import Clock
from lobbywatch.config.business import business_limit_min
from lobbywatch.config.site import SiteConfig, Thresholds
from lobbywatch.protocol.enums import CounterStatus, DeviceEventKind, Presence
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    ZoneState,
)
from lobbywatch.protocol.tickets import TicketEvent
from server.counter_states import CounterNow, counter_states
from server.hall_records import (
    ClockProblem,
    DeviceNow,
    DeviceState,
    FaultChange,
    Gateway,
    Hall,
    camera_blind,
)
from server.hall_tickets import BusinessWait, HallTickets

DEFAULT_HEARTBEAT_S = 30.0
DEFAULT_GRACE_S = 90.0
DEFAULT_SILENCE_S = 60.0
CLOCK_PROBLEM_S = 600.0
"""A source whose message was rejected for its time this recently, and none accepted since,
has a wrong clock."""


class HallState:
    """Every hall's state, and the one definition of device, kiosk, camera and counter state."""

    def __init__(self, clock: Clock, configs: Mapping[str, SiteConfig] | None = None) -> None:
        self._clock = clock
        self._configs: Mapping[str, SiteConfig] = configs if configs is not None else {}
        self._halls: dict[str, Hall] = {}
        self.started = clock.now()

    def set_configs(self, configs: Mapping[str, SiteConfig]) -> None:
        """Use these hall configurations (heartbeat intervals, grace, silence limits)."""
        self._configs = configs

    def config(self, site: str) -> SiteConfig | None:
        """The hall's configuration, where the server has one."""
        return self._configs.get(site)

    def hall(self, site: str) -> Hall:
        h = self._halls.get(site)
        if h is None:
            h = self._halls[site] = Hall(site)
        return h

    def halls(self) -> list[Hall]:
        return list(self._halls.values())

    def clear_devices(self) -> None:
        for h in self.halls():
            h.devices.clear()

    # ------------------------------------------------------------------ writes (ingest)

    def device(self, site: str, device: str, vendor: str = "unknown", kind: str = "") -> DeviceState:
        """The device's record, created on first use (presumed online until its heartbeat is due)."""
        h = self.hall(site)
        dev = h.devices.get(device)
        if dev is None:
            dev = h.devices[device] = DeviceState(
                site, device, vendor, kind or self._configured_kind(site, device)
            )
        return dev

    def _configured_kind(self, site: str, device: str) -> str:
        cfg = self._configs.get(site)
        try:
            return cfg.device(device).kind.value if cfg is not None else ""
        except KeyError:
            return ""

    def apply(self, msg: Envelope) -> list[FaultChange]:
        """Apply one accepted message; for device messages, the faults it raised or cleared."""
        h = self.hall(msg.site)
        if (problem := h.clock_problems.get(msg.source)) is not None:
            problem.accepted_at = self._clock.now()
        match msg:
            case ZoneState():
                old = h.zones.get(msg.zone)
                if old is None or msg.ts >= old.ts:
                    h.zones[msg.zone] = msg
                    h.occupancy[msg.zone] = msg.occupancy
            case CounterState():
                old_c = h.counters.get(msg.counter)
                if old_c is None or msg.ts >= old_c.ts:
                    h.counters[msg.counter] = msg
            case TicketEvent():
                h.tickets.apply(msg)
            case CameraStatus():
                old_cam = h.cameras.get(msg.source)
                if old_cam is None or msg.ts >= old_cam.ts:
                    h.cameras[msg.source] = msg
            case DeviceStatus() | DeviceHeartbeat() | DeviceEvent():
                return self._apply_device(msg, self.device(msg.site, msg.source))
        return []

    def _apply_device(
        self, msg: DeviceStatus | DeviceHeartbeat | DeviceEvent, dev: DeviceState
    ) -> list[FaultChange]:
        heard = min(msg.ts, self._clock.now())
        seen_before = dev.last_seen
        if dev.last_seen is None or msg.ts > dev.last_seen:
            dev.last_seen = msg.ts
        changes: list[FaultChange] = []
        if isinstance(msg, DeviceStatus):
            if msg.heartbeat_s is not None:
                dev.heartbeat_s = msg.heartbeat_s
            if msg.info is not None:
                dev.model, dev.firmware = msg.info.model, msg.info.firmware
            if msg.state == Presence.OFFLINE:
                # A will carries what was true when the device connected: it says only that the
                # connection died, not when (after the last thing heard) nor which faults are on.
                dev.presence, dev.will = Presence.OFFLINE.value, msg.is_will
                dev.offline_at = msg.ts
                if msg.is_will and seen_before is not None and seen_before > msg.ts:
                    dev.offline_at = seen_before
                return changes
            dev.presence, dev.will, dev.offline_at = Presence.ONLINE.value, False, None
            dev.out_of_service = msg.out_of_service
            changes += [FaultChange(code, True) for code in msg.faults if code not in dev.faults]
            changes += [FaultChange(code, False) for code in dev.faults if code not in msg.faults]
        elif isinstance(msg, DeviceHeartbeat):
            dev.heartbeat_s = msg.interval_s
            if dev.presence != Presence.ONLINE.value:
                dev.presence, dev.will, dev.offline_at = Presence.ONLINE.value, False, None
        elif msg.event == DeviceEventKind.FAULT_RAISED and msg.code is not None:
            if msg.code not in dev.faults:
                sev = msg.severity.value if msg.severity else None
                unusable = msg.unusable is not False
                changes.append(FaultChange(msg.code, True, unusable, sev, msg.detail))
        elif msg.event == DeviceEventKind.FAULT_CLEARED and msg.code is not None:
            if msg.code in dev.faults:
                changes.append(FaultChange(msg.code, False))
        elif msg.event == DeviceEventKind.OUT_OF_SERVICE_ON:
            dev.out_of_service = True
        elif msg.event == DeviceEventKind.OUT_OF_SERVICE_OFF:
            dev.out_of_service = False
        for change in changes:
            if change.raised:
                dev.faults[change.code] = change.unusable
                dev.fault_detail[change.code] = change.detail
            else:
                dev.faults.pop(change.code, None)
                dev.fault_detail.pop(change.code, None)
        if dev.last_heard is None or heard > dev.last_heard:
            dev.last_heard = heard
        return changes

    def gateway_batch(
        self,
        site: str,
        gateway: str,
        backlog: Backlog,
        sent_at: datetime,
        received_at: datetime | None = None,
    ) -> None:
        """A gateway delivered a batch (``received_at``: when ingest took it, default now: a
        consumer of the stream passes the stored time). Coming back from silence or a stale
        backlog restarts the heartbeat clocks: devices could not be heard while the hall was cut off."""
        h = self.hall(site)
        now = received_at or self._clock.now()
        was_blind = self._blind(h, now)
        h.gateways[gateway] = Gateway(gateway, backlog, sent_at, now)
        h.last_batch = now
        h.catching_up = backlog.count > 0 and backlog.oldest_age_s > self.silence_s(site)
        if was_blind and not h.catching_up:
            for dev in list(h.devices.values()):
                dev.last_heard = now

    def clock_rejected(self, site: str, source: str, stamped: datetime, reason: str) -> None:
        """A message of ``source`` stamped ``stamped`` was rejected for its time (``reason``)."""
        h = self.hall(site)
        now = self._clock.now()
        problem = h.clock_problems.get(source)
        if problem is None:
            h.clock_problems[source] = ClockProblem(1, reason, stamped, now)
        else:
            problem.count, problem.reason, problem.stamped = problem.count + 1, reason, stamped
            problem.rejected_at = now

    # ------------------------------------------------------------------ reads

    def clock_problem(self, site: str, source: str, now: datetime | None = None) -> ClockProblem | None:
        """The rejections of ``source`` while its clock is wrong: one within
        :data:`CLOCK_PROBLEM_S`, and no message of it accepted after it; else None."""
        problem = self.hall(site).clock_problems.get(source)
        if problem is None or (problem.accepted_at is not None and problem.accepted_at > problem.rejected_at):
            return None
        age = ((now or self._clock.now()) - problem.rejected_at).total_seconds()
        return problem if age <= CLOCK_PROBLEM_S else None

    def clock_sources(self, site: str) -> list[str]:
        """The sources of the hall that ever had a message rejected for its time."""
        return list(self.hall(site).clock_problems)

    def _blind(self, h: Hall, now: datetime) -> bool:
        if h.last_batch is None:
            return False  # no gateway seen (yet): messages fed directly count as live
        return h.catching_up or self.gateway_silent(h.site, now)

    def sensing_live(self, site: str, now: datetime | None = None) -> bool:
        """Whether the hall's data is live: its gateway is neither silent nor catching up."""
        return not self._blind(self.hall(site), now or self._clock.now())

    def data_delays(self, site: str, now: datetime | None = None) -> dict[str, float]:
        """Per gateway of the hall, how far behind its data is, s: the time since its last
        batch plus the age of the oldest message that batch said was still waiting."""
        at = now or self._clock.now()
        delays: dict[str, float] = {}
        for gw in list(self.hall(site).gateways.values()):
            waiting = gw.backlog.oldest_age_s if gw.backlog.count else 0.0
            delays[gw.gateway] = max(0.0, (at - gw.received_at).total_seconds()) + waiting
        return delays

    def gateway_silent(self, site: str, now: datetime | None = None) -> bool:
        """Whether the hall's gateway, heard from before, has sent no batch for
        :meth:`silence_s` (the gateway-silence alert is on while it is)."""
        h = self.hall(site)
        if h.last_batch is None:
            return False
        return ((now or self._clock.now()) - h.last_batch).total_seconds() > self.silence_s(site)

    def data_absent(self, site: str, now: datetime | None = None) -> bool:
        """Whether the hall's data is absent: no batch from its gateway yet, or none for
        :meth:`silence_s` (:meth:`gateway_silent`). The one definition: the wall's "no data"
        and the gateway-silence alert both read it."""
        return self.hall(site).last_batch is None or self.gateway_silent(site, now)

    def silence_s(self, site: str) -> float:
        """How long the hall's gateway may send nothing before its data is absent: the hall
        file's ``notifications.policy.gateway_silence_s``."""
        cfg = self._configs.get(site)
        return DEFAULT_SILENCE_S if cfg is None else cfg.notifications.policy.gateway_silence_s

    def heartbeat_due(self, dev: DeviceState) -> datetime:
        """When the next sign of life is due: last heard (or start) + the promised interval."""
        interval = dev.heartbeat_s
        if interval is None:
            cfg = self._configs.get(dev.site)
            try:
                interval = cfg.device(dev.device).heartbeat_s if cfg else DEFAULT_HEARTBEAT_S
            except KeyError:
                interval = DEFAULT_HEARTBEAT_S
        return (dev.last_heard or self.started) + timedelta(seconds=interval)

    def grace_s(self, dev: DeviceState) -> float:
        """How long ``dev`` may be silent past its heartbeat (its kind's grace in the hall file)."""
        cfg = self._configs.get(dev.site)
        return DEFAULT_GRACE_S if cfg is None else cfg.thresholds.offline_grace_s(dev.kind)

    def offline_grace_s(self, site: str, device: str) -> float:
        """:meth:`grace_s` of a device by id (its configured kind when never heard of)."""
        dev = self.hall(site).devices.get(device)
        return self.grace_s(dev or DeviceState(site, device, "unknown", self._configured_kind(site, device)))

    def device_now(self, dev: DeviceState, now: datetime | None = None) -> DeviceNow:
        """The device's state now. Offline: its status or will says so, or no sign of life
        for its heartbeat interval plus the hall's grace while the hall's data is live."""
        t = now or self._clock.now()
        if dev.presence == Presence.OFFLINE.value:
            return DeviceNow("offline", dev.offline_at, "will" if dev.will else "shutdown", False)
        due = self.heartbeat_due(dev)
        if (t - due).total_seconds() >= self.grace_s(dev) and self.sensing_live(dev.site, t):
            return DeviceNow("offline", due, "heartbeat", False)
        if dev.out_of_service:
            return DeviceNow("out_of_service", None, None, False)
        if any(dev.faults.values()):
            return DeviceNow("faulted", None, None, False)
        if dev.last_heard is None and dev.state is None:
            return DeviceNow("unknown", None, None, True)  # not yet due to announce itself
        return DeviceNow("online", None, None, True)

    def devices(self, site: str) -> list[DeviceState]:
        return list(self.hall(site).devices.values())

    def kiosks(self, site: str, now: datetime | None = None) -> tuple[list[str], list[str]]:
        """(working, down) ids of the hall's kiosks: configured self-service devices and any
        other device that reported a self-service kind."""
        h = self.hall(site)
        cfg = self._configs.get(site)
        ids = [d.id for d in cfg.devices if d.kind.is_self_service] if cfg else []
        ids += [d for d, dev in list(h.devices.items()) if dev.is_kiosk and d not in ids]
        working: list[str] = []
        down: list[str] = []
        for device in ids:
            dev = h.devices.get(device)
            ok = self.device_now(dev, now).working if dev else self._unheard_working(site, device, now)
            (working if ok else down).append(device)
        return working, down

    def _unheard_working(self, site: str, device: str, now: datetime | None) -> bool:
        probe = DeviceState(site, device, "unknown", self._configured_kind(site, device))
        return self.device_now(probe, now).working

    def counter_states(self, site: str) -> dict[str, CounterNow]:
        """Each counter's state now, and what says so (:mod:`server.counter_states`)."""
        return counter_states(self._configs.get(site), self.hall(site))

    def counters(self, site: str) -> dict[str, CounterStatus]:
        return {c: now.state for c, now in self.counter_states(site).items()}

    def tickets(self, site: str) -> HallTickets:
        """The hall's queue tickets (open tickets, the ticket at each counter, service times)."""
        return self.hall(site).tickets

    def business_waits(self, site: str) -> list[BusinessWait]:
        """Tell the wait: per business type, tickets ahead and the expected wait, over the
        counters open now (serving or standby); empty while the hall has no ticket system."""
        tickets = self.hall(site).tickets
        if tickets.last_event_at is None:
            return []
        cfg = self._configs.get(site)
        business = dict(cfg.business) if cfg is not None else {}
        th = cfg.thresholds if cfg is not None else Thresholds()
        open_now = sum(
            1 for s in self.counters(site).values() if s in (CounterStatus.SERVING, CounterStatus.STANDBY)
        )
        return tickets.wait_by_business(
            sorted(business), lambda b: business_limit_min(business, th, b) * 60, open_now
        )

    def counters_serving(self, site: str) -> int:
        return sum(1 for s in self.counters(site).values() if s == CounterStatus.SERVING)

    def blind_cameras(self, site: str) -> set[str]:
        return {c for c, s in list(self.hall(site).cameras.items()) if camera_blind(s)}

    def occupancy(self, site: str) -> float:
        return sum(list(self.hall(site).occupancy.values()))
