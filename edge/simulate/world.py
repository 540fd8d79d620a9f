"""The virtual hall (:class:`HallWorld`): people arriving, triaged, queueing, served, using
kiosks, wandering and leaving, stepped at a fixed simulated tick, and the ground truth
(every true stay in a queue or waiting zone and at a counter).

It knows nothing of cameras or MQTT. The model (arrivals, triage, counters, kiosks, staff,
gatherings) is described in ``docs/simulator.md``, "Model".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from edge.simulate.scenario import JobType, Scenario
from lobbywatch.config.site import CounterConfig, SiteConfig
from lobbywatch.protocol.enums import CounterStatus, DeviceKind, ZoneKind

KIOSK_KINDS = frozenset(
    {
        DeviceKind.TOP_UP_KIOSK,
        DeviceKind.BILL_PAYMENT_KIOSK,
        DeviceKind.SIM_DISPENSER,
        DeviceKind.CARD_DISPENSER,
        DeviceKind.MULTI_SERVICE_KIOSK,
        DeviceKind.ATM,
    }
)
INF = math.inf


class Phase(StrEnum):
    ENTERING = "entering"
    CONSULTING = "consulting"
    KIOSK_WAIT = "kiosk_wait"
    KIOSK_USE = "kiosk_use"
    QUEUED = "queued"
    SERVICE = "service"
    LOITERING = "loitering"
    GATHERING = "gathering"
    EXITING = "exiting"
    STAFF = "staff"


@dataclass(slots=True, eq=False)
class Person:
    """One person in the hall. ``place`` changes whenever they move (cameras re-place them)."""

    pid: int
    phase: Phase
    zone: str | None
    until: float
    plan: str = "queue"
    job: JobType | None = None
    service_s: float = 0.0
    stay: TrueStay | None = None
    kiosk: str | None = None
    target: str | None = None  # gatherings: the zone they head for
    loiter_end: float = 0.0
    place: int = 0


@dataclass(slots=True, eq=False)
class TrueStay:
    """A true stay in a queue/waiting zone (``wait``) or at a counter (``service``)."""

    pid: int
    zone: str | None
    kind: str
    start_s: float
    end_s: float | None = None
    job: str | None = None
    expected_s: float | None = None  # the pipeline's expected wait when this person joined
    ticket: bool = True  # took a queue ticket (a walk-in did not)

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s


@dataclass(slots=True, eq=False)
class CounterSim:
    """One staffed counter."""

    cfg: CounterConfig
    terminal: str | None
    feeds: frozenset[str | None]
    state: CounterStatus = CounterStatus.STANDBY
    since: float = 0.0
    customer: Person | None = None
    pending: list[tuple[CounterStatus, float]] = field(default_factory=list)
    break_until: float = 0.0
    next_away: float = INF
    next_learning: float = INF


@dataclass(slots=True)
class WorldEvents:
    """What happened in one step that others must react to."""

    joins: list[TrueStay] = field(default_factory=list)
    counter_changes: list[CounterSim] = field(default_factory=list)
    arrivals: int = 0


def _first(site: SiteConfig, *kinds: ZoneKind) -> str | None:
    for z in site.zones:
        if z.kind in kinds:
            return z.id
    return None


class HallWorld:
    """The people and counters of one hall; :meth:`step` moves it forward by ``dt`` seconds."""

    def __init__(
        self,
        site: SiteConfig,
        scenario: Scenario,
        rng: random.Random,
        start: datetime,
        *,
        kiosk_usable: Callable[[str], bool] | None = None,
    ) -> None:
        """Lay out the hall from the site configuration: the entrance, consultation, seated-waiting,
        loitering and self-service zones, the kiosks (two virtual ones when the self-service zone
        has none configured), one :class:`CounterSim` per counter with the queue zones it serves,
        the first random staff breaks, the peak arrival rate and the gatherings' arrivals.

        ``start`` is the simulated start (timezone-aware); ``kiosk_usable`` says whether a kiosk
        works now (the device fleet's view; default: always).
        """
        if start.tzinfo is None:
            raise ValueError("the simulation start must be timezone-aware")
        self.site = site
        self.scenario = scenario
        self.rng = rng
        self.start = start
        self.tz = ZoneInfo(site.timezone)
        self.kiosk_usable = kiosk_usable or (lambda _k: True)
        self.t = 0.0
        self.people: dict[int, Person] = {}
        self.stays: list[TrueStay] = []
        self.arrival_times: list[float] = []
        self._next_pid = 1
        self._guide: Person | None = None

        self.entrance = _first(site, ZoneKind.ENTRANCE)
        self.consult = _first(site, ZoneKind.CONSULTATION)
        named_queues = {c.queue for c in site.counters if c.queue}
        self.seated = [z.id for z in site.zones if z.kind == ZoneKind.WAITING and z.id not in named_queues]
        default_queue = _first(site, ZoneKind.QUEUE, ZoneKind.WAITING)
        self._queue_kind_zones = {z.id for z in site.zones if z.kind in (ZoneKind.QUEUE, ZoneKind.WAITING)}
        self.loiter_zones = [z.id for z in site.zones if z.kind in (ZoneKind.ENTRANCE, ZoneKind.EXPERIENCE)]
        kiosks = [d for d in site.devices if d.kind in KIOSK_KINDS]
        kiosk_zone = next((d.zone for d in kiosks if d.zone), None)
        self.self_service = kiosk_zone or _first(site, ZoneKind.SELF_SERVICE, ZoneKind.TOP_UP)
        self.kiosks = [d.id for d in kiosks if d.zone == self.self_service] or (
            ["virtual-kiosk-1", "virtual-kiosk-2"] if self.self_service else []
        )
        self._kiosk_user: dict[str, Person | None] = dict.fromkeys(self.kiosks)
        terminals = {d.counter: d.id for d in site.devices if d.kind == DeviceKind.COUNTER_TERMINAL}
        self.counters: list[CounterSim] = []
        for c in site.counters:
            queue = c.queue or default_queue
            feeds = frozenset([queue, *self.seated]) if queue else frozenset([None])
            self.counters.append(CounterSim(c, terminals.get(c.id), feeds))
        # queue zone per counter group, weighted by how many counters it feeds
        self._queue_choices = [cs.cfg.queue or default_queue for cs in self.counters] or [default_queue]
        self._scheduled = sorted(scenario.counter_events, key=lambda e: e.at_min)
        b = scenario.breaks
        for cs in self.counters:
            cs.next_away = self._exp_gap(b.away_per_hour)
            cs.next_learning = self._exp_gap(b.learning_per_hour)
        self.peak_rate_per_s = self._peak_rate_per_s()
        self._gather_arrivals: list[tuple[float, str, float]] = []  # (arrive at, zone, leave at)
        for g in scenario.gatherings:
            zone = next((z for k in g.zone_kinds for z in site.zones if z.kind == k), None)
            if zone is None:
                continue
            size = (zone.capacity or 8) + g.over_capacity
            leave = (g.at_min + g.duration_min) * 60
            for i in range(size):
                self._gather_arrivals.append(
                    (g.at_min * 60 + g.arrive_over_min * 60 * i / size, zone.id, leave)
                )
        self._gather_arrivals.sort()

    # ------------------------------------------------------------------ arrivals

    def _shares(self) -> dict[str, float]:
        tr = self.scenario.triage
        shares = {
            "consult": tr.consult if self.consult else 0.0,
            "kiosk": tr.self_service if self.kiosks else 0.0,
            "queue": tr.queue,
            "loiter": tr.loiter if self.loiter_zones else 0.0,
        }
        total = sum(shares.values()) or 1.0
        return {k: v / total for k, v in shares.items()}

    def mean_service_min(self) -> float:
        jobs = self.scenario.jobs
        total = sum(j.share for j in jobs)
        return sum(j.share * j.mean_min for j in jobs) / total

    def _peak_rate_per_s(self) -> float:
        sc = self.scenario
        capacity_per_h = max(1, len(self.counters)) * 60.0 / self.mean_service_min()
        sh = self._shares()
        queue_share = sh["queue"] + sh["consult"] * sc.consult_to_queue + sh["loiter"] * sc.loiter_to_queue
        queue_share = max(queue_share, 0.05)
        return sc.peak_utilisation * capacity_per_h / queue_share / 3600.0

    def local(self, t: float) -> datetime:
        """Local wall time of the hall at simulated second ``t``."""
        return (self.start + timedelta(seconds=t)).astimezone(self.tz)

    def is_open(self, t: float) -> bool:
        loc = self.local(t)
        now, day = loc.time(), loc.weekday()
        return any(
            day in [d.number for d in p.days] and p.open <= now < p.close for p in self.site.opening_hours
        )

    def profile_weight(self, t: float) -> float:
        """Relative arrival rate (0..1) at simulated second ``t``: the profile, linear between hours."""
        prof = self.scenario.profile
        loc = self.local(t)
        h = loc.hour + loc.minute / 60 + loc.second / 3600
        lo = int(h)
        f = h - lo
        w = prof.get(lo, 0.0) * (1 - f) + prof.get((lo + 1) % 24, 0.0) * f
        return w / max(prof.values())

    def rate_per_s(self, t: float) -> float:
        """Arrival rate (people per second) at simulated second ``t``."""
        if not self.is_open(t):
            return 0.0
        rate = self.peak_rate_per_s * self.profile_weight(t)
        minute = t / 60
        for s in self.scenario.surges:
            if s.at_min <= minute < s.at_min + s.duration_min:
                floor = s.min_surge_ratio * self.site.thresholds.surge_arrivals_per_10min / 600.0
                rate = max(rate * s.multiplier, floor)
        return rate

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def _exp_gap(self, per_hour: float) -> float:
        return INF if per_hour <= 0 else self.t + self.rng.expovariate(per_hour / 3600.0)

    def _lognormal(self, mean_s: float, sigma: float) -> float:
        # mean of a lognormal is exp(mu + sigma^2 / 2)
        mu = math.log(mean_s) - sigma * sigma / 2
        return self.rng.lognormvariate(mu, sigma)

    # ------------------------------------------------------------------ moves

    def _move(self, p: Person, phase: Phase, zone: str | None, until: float) -> None:
        p.phase, p.zone, p.until = phase, zone, until
        p.place += 1

    def _arrive(self, ev: WorldEvents, plan: str | None = None) -> Person:
        pid = self._next_pid
        self._next_pid += 1
        if plan is None:
            shares = self._shares()
            plan = self.rng.choices(list(shares), list(shares.values()))[0]
        p = Person(pid, Phase.ENTERING, None, self.t, plan=plan)
        self.people[pid] = p
        self.arrival_times.append(self.t)
        ev.arrivals += 1
        if self.entrance is not None:
            lo, hi = self.scenario.entrance_s
            self._move(p, Phase.ENTERING, self.entrance, self.t + self.rng.uniform(lo, hi))
        elif plan != "gather":
            self._dispatch(p, ev)
        return p

    def _dispatch(self, p: Person, ev: WorldEvents) -> None:
        sc = self.scenario
        if p.plan == "gather":
            self._move(p, Phase.GATHERING, p.target, max(p.loiter_end, self.t + 30))
            if p.target in self._queue_kind_zones:  # the pipeline will time this dwell as a wait
                p.stay = TrueStay(p.pid, p.target, "wait", self.t, job="gathering")
                self.stays.append(p.stay)
        elif p.plan == "consult" and self.consult is not None:
            self._move(
                p, Phase.CONSULTING, self.consult, self.t + self._lognormal(sc.consult_mean_min * 60, 0.5)
            )
        elif p.plan == "kiosk" and any(self.kiosk_usable(k) for k in self.kiosks):
            self._move(p, Phase.KIOSK_WAIT, self.self_service, self.t + sc.kiosk_give_up_min * 60)
        elif p.plan == "loiter" and self.loiter_zones:
            p.loiter_end = self.t + self._lognormal(sc.loiter_mean_min * 60, 0.3)
            self._move(
                p, Phase.LOITERING, self.rng.choice(self.loiter_zones), self.t + self.rng.uniform(60, 180)
            )
        else:
            if p.plan == "kiosk":  # no working kiosk: the guide steers them to a counter
                p.job = self._simple_job()
            self._queue(p, ev)

    def _simple_job(self) -> JobType:
        simple = [j for j in self.scenario.jobs if j.simple] or list(self.scenario.jobs)
        return self.rng.choices(simple, [j.share for j in simple])[0]

    def _queue(self, p: Person, ev: WorldEvents) -> None:
        if p.job is None:
            jobs = self.scenario.jobs
            p.job = self.rng.choices(jobs, [j.share for j in jobs])[0]
        p.service_s = self._lognormal(p.job.mean_min * 60, p.job.sigma)
        if self.seated and self.rng.random() < self.scenario.seated_share:
            zone: str | None = self.rng.choice(self.seated)
        else:
            zone = self.rng.choice(self._queue_choices)
        # a hall without counters: people wait a service time, then give up and leave
        until = INF if self.counters else self.t + p.service_s
        if self.counters and zone in self.seated and self.scenario.line_after_min is not None:
            until = self.t + self.scenario.line_after_min * 60  # then into the line
        self._move(p, Phase.QUEUED, zone, until)
        share = self.scenario.ticket_share
        ticket = share >= 1 or self.rng.random() < share
        p.stay = TrueStay(p.pid, zone, "wait", self.t, job=p.job.name, ticket=ticket)
        self.stays.append(p.stay)
        ev.joins.append(p.stay)

    def _leave(self, p: Person) -> None:
        if self.entrance is not None and p.phase != Phase.EXITING:
            self._move(p, Phase.EXITING, self.entrance, self.t + self.rng.uniform(4, 8))
        else:
            del self.people[p.pid]

    # ------------------------------------------------------------------ step

    def step(self, dt: float) -> WorldEvents:
        """Advance the world by ``dt`` simulated seconds."""
        ev = WorldEvents()
        self.t += dt
        self._staff_guide()
        for _ in range(self._poisson(self.rate_per_s(self.t) * dt)):
            self._arrive(ev)
        while self._gather_arrivals and self._gather_arrivals[0][0] <= self.t:
            _at, zone, leave = self._gather_arrivals.pop(0)
            p = self._arrive(ev, plan="gather")
            p.target, p.loiter_end = zone, leave + self.rng.uniform(-60, 60)
            if p.phase != Phase.ENTERING:
                self._dispatch(p, ev)
        for p in list(self.people.values()):
            if p.until <= self.t:
                self._phase_done(p, ev)
        self._counters(ev)
        self._kiosks()
        return ev

    def _staff_guide(self) -> None:
        want = self.scenario.guide_on_floor and self.consult is not None and self.is_open(self.t)
        if want and self._guide is None:
            pid = self._next_pid
            self._next_pid += 1
            self._guide = Person(pid, Phase.STAFF, self.consult, self.t + 300, plan="staff")
            self.people[pid] = self._guide
        elif not want and self._guide is not None:
            del self.people[self._guide.pid]
            self._guide = None

    def _phase_done(self, p: Person, ev: WorldEvents) -> None:
        """Move ``p`` on once its current phase has run out: triage after the entrance, queue or
        leave after consultation or loitering, queue after giving up on a kiosk, leave after a
        kiosk, a gathering or the walk-out. Counter service is ended by the counter, not here.
        """
        sc = self.scenario
        match p.phase:
            case Phase.ENTERING:
                self._dispatch(p, ev)
            case Phase.CONSULTING:
                if self.rng.random() < sc.consult_to_queue:
                    self._queue(p, ev)
                else:
                    self._leave(p)
            case Phase.KIOSK_WAIT:  # gave up waiting for a kiosk
                p.job = self._simple_job()
                self._queue(p, ev)
            case Phase.KIOSK_USE:
                if p.kiosk is not None:
                    self._kiosk_user[p.kiosk] = None
                    p.kiosk = None
                self._leave(p)
            case Phase.LOITERING:
                if self.t >= p.loiter_end:
                    if self.rng.random() < sc.loiter_to_queue:
                        self._queue(p, ev)
                    else:
                        self._leave(p)
                else:
                    self._move(
                        p,
                        Phase.LOITERING,
                        self.rng.choice(self.loiter_zones),
                        self.t + self.rng.uniform(60, 180),
                    )
            case Phase.GATHERING:
                if p.stay is not None:
                    p.stay.end_s = self.t
                    p.stay = None
                self._leave(p)
            case Phase.EXITING:
                self._leave(p)
            case Phase.STAFF:
                self._move(p, Phase.STAFF, p.zone, self.t + 300)  # shifts about the desk
            case Phase.QUEUED if self.counters:  # seated long enough: into the line, still waiting
                self._move(p, Phase.QUEUED, self.rng.choice(self._queue_choices), INF)
            case Phase.QUEUED:  # without counters: gave up
                if p.stay is not None:
                    p.stay.end_s = self.t
                    p.stay = None
                self._leave(p)
            case Phase.SERVICE:
                pass  # ended by the counter

    def _kiosks(self) -> None:
        free = [k for k, user in self._kiosk_user.items() if user is None and self.kiosk_usable(k)]
        if not free:
            return
        waiting = sorted(
            (p for p in self.people.values() if p.phase == Phase.KIOSK_WAIT), key=lambda q: q.until
        )
        for p, k in zip(waiting, free, strict=False):
            self._kiosk_user[k] = p
            p.kiosk = k
            # same zone, new spot at the kiosk
            self._move(
                p, Phase.KIOSK_USE, p.zone, self.t + self._lognormal(self.scenario.kiosk_mean_min * 60, 0.4)
            )

    def _set_state(self, cs: CounterSim, state: CounterStatus, ev: WorldEvents) -> None:
        if cs.state != state:
            cs.state = state
            cs.since = self.t
            ev.counter_changes.append(cs)

    def _counters(self, ev: WorldEvents) -> None:
        minute = self.t / 60
        while self._scheduled and self._scheduled[0].at_min <= minute and self.counters:
            e = self._scheduled.pop(0)
            self.counters[e.counter % len(self.counters)].pending.append((e.state, e.duration_min * 60))
        b = self.scenario.breaks
        order = list(self.counters)
        self.rng.shuffle(order)
        for cs in order:
            if self.t >= cs.next_away:
                cs.pending.append((CounterStatus.AWAY, self.rng.expovariate(1 / (b.away_mean_min * 60))))
                cs.next_away = self._exp_gap(b.away_per_hour)
            if self.t >= cs.next_learning:
                cs.pending.append(
                    (CounterStatus.LEARNING, self.rng.expovariate(1 / (b.learning_mean_min * 60)))
                )
                cs.next_learning = self._exp_gap(b.learning_per_hour)
            if cs.customer is not None and cs.customer.until <= self.t:
                done = cs.customer
                cs.customer = None
                if done.stay is not None:
                    done.stay.end_s = self.t
                    done.stay = None
                self._leave(done)
                self._set_state(cs, CounterStatus.STANDBY, ev)
            if cs.state in (CounterStatus.AWAY, CounterStatus.LEARNING) and self.t >= cs.break_until:
                self._set_state(cs, CounterStatus.STANDBY, ev)
            if cs.customer is None and cs.state == CounterStatus.STANDBY and cs.pending:
                state, duration = cs.pending.pop(0)
                cs.break_until = self.t + duration
                self._set_state(cs, state, ev)
            if cs.customer is None and cs.state == CounterStatus.STANDBY:
                nxt = self._next_customer(cs)
                if nxt is not None:
                    self._serve(cs, nxt, ev)

    def _next_customer(self, cs: CounterSim) -> Person | None:
        waiting = [p for p in self.people.values() if p.phase == Phase.QUEUED and p.zone in cs.feeds]
        if not waiting:
            return None
        if cs.cfg.fast_lane:
            simple = [p for p in waiting if p.job is not None and p.job.simple]
            waiting = simple or waiting
        return min(waiting, key=lambda p: p.stay.start_s if p.stay else 0.0)

    def _serve(self, cs: CounterSim, p: Person, ev: WorldEvents) -> None:
        if p.stay is not None:
            p.stay.end_s = self.t
        cs.customer = p
        self._move(p, Phase.SERVICE, cs.cfg.zone, self.t + p.service_s)
        p.stay = TrueStay(p.pid, cs.cfg.zone, "service", self.t, job=p.job.name if p.job else None)
        self.stays.append(p.stay)
        self._set_state(cs, CounterStatus.SERVING, ev)

    # ------------------------------------------------------------------ views

    def customers(self) -> list[Person]:
        """Everyone in the hall but staff."""
        return [p for p in self.people.values() if p.phase != Phase.STAFF]
