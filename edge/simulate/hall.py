"""The lobby simulator as a library (:class:`HallSimulator`): the world, the virtual cameras,
the production vision pipeline, counter terminals and the device fleet simulator stepped
together on an injected clock, returning the protocol messages a real hall would publish.

Nothing here touches MQTT (that is :mod:`edge.simulate.runner`). Usage and model:
``docs/simulator.md``, "As a library".
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from edge.devices.simulator import DeviceFleetSimulator, SimSettings
from edge.simulate.cameras import CameraProjector
from edge.simulate.scenario import Scenario
from edge.simulate.tickets import TicketDesk
from edge.simulate.truth import ErrorStats, Measured, TruthReport, ZoneLoad, errors, match, true_visits
from edge.simulate.world import CounterSim, HallWorld
from edge.vision.pipeline import ZonePipeline
from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import Presence, WaitKind, ZoneKind
from lobbywatch.protocol.messages import CameraStatus, CounterState, Envelope, WaitRecord, ZoneState
from lobbywatch.protocol.sequence import Stamper

STATUS_EVERY_S = 60.0


class HallSimulator:
    """One simulated hall. :meth:`step` catches up with the clock and returns the messages."""

    def __init__(
        self,
        site: SiteConfig,
        clock: Clock,
        rng: random.Random,
        scenario: Scenario,
        *,
        tick_s: float = 1.0,
        devices: bool | None = None,
        camera_births: bool = True,
        epoch: int | None = None,
        max_ticks_per_step: int = 600,
        tickets: bool = False,
    ) -> None:
        """Build the hall's parts, each with its own generator drawn from ``rng``: the device fleet
        (when ``devices``, by default the scenario's ``kiosks.enabled``, and the site has devices),
        the world, and per camera a projector, a stamper and the production ``ZonePipeline``.

        ``tick_s`` (0.05–10 s) is the simulated step and camera frame period; ``epoch`` is every
        source's sequence epoch (default: the start time); ``camera_births=False`` leaves camera
        births to the caller (the MQTT runner's publishers); :meth:`step` runs at most
        ``max_ticks_per_step`` ticks; ``tickets`` adds the hall's queue-ticket system
        (:mod:`edge.simulate.tickets`). Nothing runs until :meth:`start`.
        """
        if not 0.05 <= tick_s <= 10:
            raise ValueError(f"tick_s must be between 0.05 and 10 seconds, got {tick_s}")
        self.site = site
        self.clock = clock
        self.scenario = scenario
        self.tick_s = tick_s
        self.camera_births = camera_births
        self.max_ticks = max_ticks_per_step
        self.start_at: datetime = clock.now()
        self._origin = clock.monotonic()
        ep = epoch if epoch is not None else int(self.start_at.timestamp())
        self._out: list[Envelope] = []
        use_devices = scenario.kiosks.enabled if devices is None else devices
        self.fleet: DeviceFleetSimulator | None = None
        if use_devices and site.devices:
            k = scenario.kiosks
            settings = SimSettings(
                vendor_response_min=k.vendor_response_min,
                network_loss_per_day=k.network_loss_per_day,
                mtbf_scale=k.mtbf_scale,
            )
            self.fleet = DeviceFleetSimulator(
                site, clock, random.Random(rng.random()), self._fleet_sink, settings=settings, epoch=ep
            )
        self.world = HallWorld(
            site, scenario, random.Random(rng.random()), self.start_at, kiosk_usable=self._kiosk_usable
        )
        self.projectors: dict[str, CameraProjector] = {}
        self.stampers: dict[str, Stamper] = {}
        self.pipelines: dict[str, ZonePipeline] = {}
        entrances = frozenset(z.id for z in site.zones if z.kind == ZoneKind.ENTRANCE)
        floor_spots: dict[tuple[int, int], tuple[float, float]] = {}  # one floor, every camera
        for cam in site.cameras:
            proj = CameraProjector(
                cam,
                random.Random(rng.random()),
                scenario.camera,
                entrances=entrances,
                frame_s=tick_s,
                floor_spots=floor_spots,
            )
            stamper = Stamper(site.site, cam.id, clock=clock, epoch=ep)
            self.projectors[cam.id] = proj
            self.stampers[cam.id] = stamper
            self.pipelines[cam.id] = ZonePipeline(site, cam, stamper, frame_size=proj.frame_size)
        self.seen_zones = {cz.zone for cam in site.cameras for cz in cam.zones}
        self._terminal_stampers: dict[str, Stamper] = {}
        if self.fleet is None:
            for cs in self.world.counters:
                if cs.terminal:
                    self._terminal_stampers[cs.terminal] = Stamper(
                        site.site, cs.terminal, clock=clock, epoch=ep
                    )
        self._counter_by_id = {cs.cfg.id: cs for cs in self.world.counters}
        self.tickets: TicketDesk | None = None
        if tickets:
            desk = Stamper(site.site, site.gateway.tickets.system, clock=clock, epoch=ep)
            self.tickets = TicketDesk(site, desk, clock, self.now_at)
        self.wills: dict[str, CameraStatus] = {}
        self.records: list[tuple[WaitKind, Measured]] = []
        self._expected: dict[str, float] = {}
        self._latest: dict[str, ZoneState] = {}
        self._max_occ: dict[str, float] = defaultdict(float)
        self._over_s: dict[str, float] = defaultdict(float)
        self._capacity = {z.id: z.capacity for z in site.zones}
        self._frames = 0
        self._next_status = STATUS_EVERY_S
        self.started = False

    # ------------------------------------------------------------------ plumbing

    def now_at(self, t: float) -> datetime:
        """Wall time of simulated second ``t``."""
        return self.start_at + timedelta(seconds=t)

    def _kiosk_usable(self, kiosk: str) -> bool:
        if self.fleet is None:
            return True
        dev = self.fleet.devices.get(kiosk)
        return dev is None or (dev.online and not dev.out_of_service)

    def _fleet_sink(self, message: Envelope) -> None:
        # The fleet also drives counter terminals; their state is this world's, not random.
        if isinstance(message, CounterState):
            cs = self._counter_by_id.get(message.counter)
            if cs is not None:
                message = message.model_copy(update={"state": cs.state, "since": self.now_at(cs.since)})
        self._out.append(message)

    def _counter_state(self, cs: CounterSim) -> None:
        if cs.terminal is None:
            return
        fields: dict[str, Any] = {"counter": cs.cfg.id, "state": cs.state, "since": self.now_at(cs.since)}
        if self.fleet is not None:
            dev = self.fleet.devices.get(cs.terminal)
            if dev is None or not self.fleet.started:
                return  # the fleet's birth sequence reports it
            self._out.append(dev.stamper.make(CounterState, **fields))
        else:
            self._out.append(self._terminal_stampers[cs.terminal].make(CounterState, **fields))

    def _take(self) -> list[Envelope]:
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> list[Envelope]:
        """Births (camera status, unless ``camera_births`` is off), zeroed zones, counter states."""
        if self.started:
            return []
        self.started = True
        now = self.clock.now()
        for cam_id, stamper in self.stampers.items():
            if self.camera_births:
                birth = stamper.make(CameraStatus, state=Presence.ONLINE, fps=round(1 / self.tick_s, 2))
                self.wills[cam_id] = stamper.make(
                    CameraStatus,
                    seq=birth.seq,
                    state=Presence.OFFLINE,
                    will=True,
                    reason="simulator connection lost",
                    stream_ok=False,
                )
                self._out.append(birth)
            self._record(self.pipelines[cam_id].start(now))
        if self.fleet is not None:
            self.fleet.step()  # births of every device; counter terminals report this world
        else:
            for cs in self.world.counters:
                self._counter_state(cs)
        return self._take()

    def stop(self) -> list[Envelope]:
        """Clean shutdown: every camera says offline (not a will)."""
        for stamper in self.stampers.values():
            self._out.append(
                stamper.make(
                    CameraStatus, state=Presence.OFFLINE, reason="simulation stopped", stream_ok=False
                )
            )
        return self._take()

    @property
    def simulated_s(self) -> float:
        return self.world.t

    def step(self) -> list[Envelope]:
        """Run every tick due by the clock (at most ``max_ticks_per_step``); return the messages."""
        if not self.started:
            self.start()
        target = self.clock.monotonic() - self._origin
        n = 0
        while self.world.t + self.tick_s <= target + 1e-9 and n < self.max_ticks:
            self._tick()
            n += 1
        if self.fleet is not None:
            self.fleet.step()
        return self._take()

    # ------------------------------------------------------------------ one tick

    def _tick(self) -> None:
        dt = self.tick_s
        ev = self.world.step(dt)
        now = self.now_at(self.world.t)
        for stay in ev.joins:
            if stay.zone is not None:
                stay.expected_s = self._expected.get(stay.zone)
        for cs in ev.counter_changes:
            self._counter_state(cs)
        if self.tickets is not None:
            self._out += self.tickets.observe(self.world)
        people = list(self.world.people.values())
        for cam_id, proj in self.projectors.items():
            self._record(self.pipelines[cam_id].update(proj.frame(people), now))
        self._frames += 1
        for zone, state in self._latest.items():
            self._max_occ[zone] = max(self._max_occ[zone], state.occupancy)
            cap = self._capacity.get(zone)
            if cap is not None and state.occupancy > cap:
                self._over_s[zone] += dt
        if self.world.t >= self._next_status:
            self._next_status += STATUS_EVERY_S
            for stamper in self.stampers.values():
                self._out.append(
                    stamper.make(
                        CameraStatus,
                        state=Presence.ONLINE,
                        fps=round(1 / self.tick_s, 2),
                        frames_read=self._frames,
                        frames_processed=self._frames,
                    )
                )

    def _record(self, messages: list[Envelope]) -> None:
        for m in messages:
            if isinstance(m, ZoneState):
                self._latest[m.zone] = m
                if m.expected_wait_s is not None:
                    self._expected[m.zone] = m.expected_wait_s
            elif isinstance(m, WaitRecord):
                start = (m.started - self.start_at).total_seconds()
                end = (m.ended - self.start_at).total_seconds()
                self.records.append((m.kind, (m.zone, start, end)))
        self._out.extend(messages)

    # ------------------------------------------------------------------ truth

    def report(self) -> TruthReport:
        """How far the pipeline's measured and expected waits are from the truth so far."""
        window = 3 * self.tick_s + 5.0
        seen = [s for s in self.world.stays if s.zone in self.seen_zones]
        true_waits = [s for s in seen if s.kind == "wait"]
        true_services = [s for s in seen if s.kind == "service"]
        wait_recs = [r for k, r in self.records if k == WaitKind.WAIT]
        service_recs = [r for k, r in self.records if k == WaitKind.SERVICE]
        w_pairs, w_left_r, w_left_t = match(wait_recs, true_waits, window)
        s_pairs, s_left_r, s_left_t = match(service_recs, true_services, window)
        # a stay shorter than the entry debounce is invisible to any camera pipeline
        visible_s = (max((c.entry_frames for c in self.site.cameras), default=1) + 1) * self.tick_s
        too_short = [s for s in w_left_t + s_left_t if (s.duration_s or 0.0) < visible_s]
        unmatched = [s for s in w_left_t + s_left_t if (s.duration_s or 0.0) >= visible_s]
        done = [s for s in true_waits if s.duration_s is not None]
        durations = [s.duration_s for s in done if s.duration_s is not None]
        limit = self.site.thresholds.max_wait_min * 60
        expected_err = [
            s.expected_s - s.duration_s for s in done if s.expected_s is not None and s.duration_s is not None
        ]
        zones = [
            ZoneLoad(
                zone=z,
                capacity=self._capacity.get(z),
                max_occupancy=self._max_occ.get(z, 0.0),
                seconds_over_capacity=round(self._over_s.get(z, 0.0), 1),
            )
            for z in sorted(self.seen_zones)
        ]
        entrances = [s for s in self._latest.values() if s.kind == ZoneKind.ENTRANCE]
        return TruthReport(
            site=self.site.site,
            scenario=self.scenario.name,
            simulated_s=round(self.world.t, 3),
            tick_s=self.tick_s,
            arrivals=len(self.world.arrival_times),
            counted_arrivals=sum(s.arrivals_total or 0 for s in entrances),
            entrance_entries=sum(s.entered_total for s in entrances),
            true_waits=len(done),
            true_wait_max_s=round(max(durations), 1) if durations else None,
            true_waits_over_limit=sum(1 for d in durations if d > limit),
            measured_waits=ErrorStats.of(errors(w_pairs)),
            measured_services=ErrorStats.of(errors(s_pairs)),
            expected_waits=ErrorStats.of(expected_err),
            unmatched_records=len(w_left_r) + len(s_left_r),
            unmatched_truth=len(unmatched),
            too_short_to_see=len(too_short),
            zones=zones,
            visits=true_visits(self.world.stays, self.world.t),
        )
