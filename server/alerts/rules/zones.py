"""Zone rules: what the cameras' zone readings and the forecast say about the floor.

Crowding (per zone and for the whole hall), waits, the care task per customer
(:class:`CareTasks`), no-upsell, transaction overtime, loitering, the arrivals surge and the
forecast peak, which names its hours (docs/alerts.md has the table).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import CounterStatus, ZoneKind
from lobbywatch.protocol.messages import ZoneState
from server.alerts.model import Alert, AlertKind
from server.alerts.rules.spec import Signal, hall_name, hysteresis, named
from server.arrivals import arrivals_total
from server.handover import Handover, Joined

EXPECTED_WAIT_CLEAR_RATIO = 0.9
SURGE_CLEAR_RATIO = 0.7
SURGE_WINDOW = timedelta(minutes=10)
PEAK_HOUR = timedelta(hours=1)
WAIT_ZONES = (ZoneKind.QUEUE, ZoneKind.WAITING, ZoneKind.CONSULTATION)
LOITER_ZONES = (ZoneKind.ENTRANCE, ZoneKind.EXPERIENCE)


def zone_name(cfg: SiteConfig, zone_id: str) -> dict[str, str]:
    """The zone's configured name in both languages (its id when it has none)."""
    try:
        zone = cfg.zone(zone_id)
    except KeyError:
        return named(zone_id, zone_id)
    if zone.name is None:
        return named(zone_id, zone_id)
    return named(zone.name.en, zone.name.zh_cn)


def zone_signals(cfg: SiteConfig, z: ZoneState) -> Iterator[Signal]:
    """Rules that read one zone_state: crowding, waits, no-upsell, overtime, loitering.

    Parameters are made lazily (see :class:`Signal`); each lambda reads only names bound once.
    """
    th = cfg.thresholds
    common: dict[str, Any] = {"zone": z.zone, "camera": z.source}
    subject = f"zone:{z.zone}"
    try:
        capacity = cfg.zone(z.zone).capacity
    except KeyError:
        capacity = None
    if capacity is not None:
        cap = capacity
        on = hysteresis(z.occupancy, cap, cap * th.crowding_clear_ratio, inclusive=False)
        yield Signal(
            AlertKind.CROWDING,
            subject,
            on,
            lambda: {"where": zone_name(cfg, z.zone), "occupancy": z.occupancy, "capacity": cap},
            **common,
        )
    wait = z.longest_wait_s or 0.0
    if z.kind in WAIT_ZONES and z.long_waits is None:  # a camera without visits: per zone
        care_s = th.care_visit_min * 60
        yield Signal(
            AlertKind.LONG_WAIT,
            subject,
            wait >= care_s or z.waits_over_limit > 0,
            lambda: {
                "where": zone_name(cfg, z.zone),
                "wait_min": wait / 60,
                "over": max(z.waits_over_limit, 1 if wait >= care_s else 0),
                "limit_min": th.care_visit_min,
            },
            **common,
        )
    if z.kind in WAIT_ZONES and z.expected_wait_s is not None:
        expected_s = z.expected_wait_s
        max_s = th.max_wait_min * 60
        yield Signal(
            AlertKind.EXPECTED_WAIT,
            subject,
            hysteresis(expected_s, max_s, max_s * EXPECTED_WAIT_CLEAR_RATIO, inclusive=False),
            lambda: {
                "where": zone_name(cfg, z.zone),
                "expected_min": expected_s / 60,
                "limit_min": th.max_wait_min,
            },
            **common,
        )
    if z.queue_length is not None and z.kind == ZoneKind.QUEUE:
        queue = z.queue_length
        on_q: bool | None = None
        if queue >= th.queue_no_upsell:
            on_q = True
        elif queue <= th.queue_no_upsell_clear:
            on_q = False

        def no_upsell() -> dict[str, Any]:
            counters = cfg.counters_serving(z.zone)
            return {
                "where": zone_name(cfg, z.zone),
                "queue": queue,
                "threshold": th.queue_no_upsell,
                "clear": th.queue_no_upsell_clear,
                "counter_ids": counters,
            }

        yield Signal(AlertKind.NO_UPSELL, subject, on_q, no_upsell, **common)
    if z.kind == ZoneKind.COUNTER:
        service_s = th.transaction_min * 60
        yield Signal(
            AlertKind.TRANSACTION_OVERTIME,
            subject,
            wait >= service_s,
            lambda: {
                "where": zone_name(cfg, z.zone),
                "service_min": wait / 60,
                "limit_min": th.transaction_min,
                "counter_ids": cfg.counters_at(z.zone),
            },
            **common,
        )
    if z.kind in LOITER_ZONES:
        yield Signal(
            AlertKind.LOITERING,
            subject,
            z.loitering > 0,
            lambda: {"where": zone_name(cfg, z.zone), "count": z.loitering},
            **common,
        )


def visit_subject(camera: str, visit: str) -> str:
    """The care task's subject: one customer (a camera's visit), never the zone."""
    return f"visit:{camera}:{visit}"


@dataclass
class CareTasks:
    """One care task per customer waiting past the care-visit limit (docs/alerts.md).

    Each zone_state that carries ``waiting`` (or, from older cameras, ``long_waits``) lists the
    waiting visits whose current zone it is; :class:`server.handover.Handover` joins them
    across cameras into one customer, whose wait began in their first waiting zone on any
    camera. A customer gets one task (named by their first camera visit) once that wait
    passes the limit, whichever camera lists them; it clears when no zone lists them any
    more (after the handover window on calibrated cameras, so walking from one view into
    another keeps it open).
    """

    handover: Handover | None = None
    open: dict[tuple[str, str], Joined] = field(default_factory=dict)  # task subject's key -> customer
    pending: list[tuple[str, str, str]] = field(default_factory=list)  # restored (camera, zone, visit)

    def _joins(self, cfg: SiteConfig) -> Handover:
        if self.handover is None:
            self.handover = Handover.of(cfg)
        return self.handover

    def restore(self, subject: str, zone: str | None) -> None:
        """Take back an open task (engine restart): the next state of its zone judges it."""
        kind, _, rest = subject.partition(":")
        camera, _, visit = rest.partition(":")
        if kind == "visit" and visit and zone is not None:
            self.pending.append((camera, zone, visit))

    def signals(self, cfg: SiteConfig, z: ZoneState) -> list[Signal]:
        """Raise (or refresh) the task of each customer past the limit ``z`` lists; clear
        those no zone lists any more."""
        if z.waiting is None and z.long_waits is None:
            return []
        joins = self._joins(cfg)
        for camera, zone, visit in self.pending:
            self.open[(camera, visit)] = joins.restore(camera, zone, visit)
        self.pending.clear()
        limit_min = cfg.thresholds.care_visit_min
        long = [
            (j, w, (z.ts - j.wait_started).total_seconds())
            for j, w in joins.update(z)
            if z.ts - j.wait_started >= timedelta(minutes=limit_min)
        ]
        out = []
        for j, w, wait_s in long:
            self.open[j.key] = j
            floor = joins.floor(z.source, w.at)
            out.append(
                Signal(
                    AlertKind.LONG_WAIT,
                    visit_subject(*j.key),
                    True,
                    {
                        "where": zone_name(cfg, z.zone),
                        "wait_min": wait_s / 60,
                        "over": len(long),
                        "limit_min": limit_min,
                        "at": w.at,
                        "floor": None if floor is None else [round(floor[0], 1), round(floor[1], 1)],
                    },
                    zone=z.zone,
                    camera=z.source,
                )
            )
        for key, j in list(self.open.items()):
            last = joins.last_listed(j)
            grace = joins.window if joins.calibrated(j) else timedelta(0)
            if last is not None and z.ts - last >= grace:
                del self.open[key]
                out.append(Signal(AlertKind.LONG_WAIT, visit_subject(*key), False, camera=key[0]))
        return out


def hall_crowding(cfg: SiteConfig, occupancy: dict[str, float]) -> Signal | None:
    """Whole-hall crowding from the latest occupancy of each zone."""
    cap = cfg.thresholds.hall_capacity
    if cap is None or not occupancy:
        return None
    total = sum(occupancy.values())
    return Signal(
        AlertKind.CROWDING,
        "hall",
        hysteresis(total, cap, cap * cfg.thresholds.crowding_clear_ratio, inclusive=False),
        lambda: {"where": hall_name(cfg), "occupancy": total, "capacity": cap},
    )


def staffing(counters: dict[str, CounterStatus]) -> dict[str, Any]:
    """Counters away and learning (id lists), for the busy-hour playbook text."""
    return {
        "away_ids": sorted(c for c, s in counters.items() if s == CounterStatus.AWAY),
        "learning_ids": sorted(c for c, s in counters.items() if s == CounterStatus.LEARNING),
    }


@dataclass
class ArrivalWindow:
    """Arrivals through entrance zones over a sliding window: deltas of
    :func:`server.arrivals.arrivals_total` (people coming in, never those leaving)."""

    last_totals: dict[tuple[str, str, int], int] = field(default_factory=dict)
    events: deque[tuple[datetime, int]] = field(default_factory=deque)

    def add(self, z: ZoneState) -> None:
        key = (z.source, z.zone, z.epoch)
        previous = self.last_totals.get(key)
        total = arrivals_total(z)
        self.last_totals[key] = total
        if previous is None:
            return  # the first reading is a baseline, not arrivals
        delta = total - previous
        if delta > 0:
            self.events.append((z.ts, delta))

    def count(self, now: datetime) -> int:
        while self.events and self.events[0][0] <= now - SURGE_WINDOW:
            self.events.popleft()
        return sum(n for _, n in self.events)


def surge_signal(cfg: SiteConfig, arrivals: int, counters: dict[str, CounterStatus]) -> Signal:
    """On at ``surge_arrivals_per_10min`` arrivals in the window, off under 70 % of it (``clear``)."""
    threshold = cfg.thresholds.surge_arrivals_per_10min
    clear = threshold * SURGE_CLEAR_RATIO
    on = hysteresis(arrivals, threshold, clear, inclusive=True)
    params = {"arrivals": arrivals, "threshold": threshold, "clear": clear, **staffing(counters)}
    return Signal(AlertKind.PEAK_SURGE, "surge", on, params)


def forecast_signal(
    cfg: SiteConfig,
    hours: Sequence[tuple[datetime, float]],
    now: datetime,
    counters: dict[str, CounterStatus],
    open_alerts: Iterable[Alert] = (),
) -> Signal:
    """The peak ahead: on from ``peak_lead_min`` before a run of busy forecast hours (arrivals
    at ``peak_arrivals_per_hour`` or more) until the run ends; its parameters name the hours.

    An open peak alert (in ``open_alerts``) keeps its hours until their end whatever the
    forecast now says of them (it only covers hours from the running one on), and its end moves
    on (``peak_end_utc``: an extension, told) while the hour after it is forecast busy too.
    """
    th = cfg.thresholds
    per_hour = cfg.notifications.policy.peak_arrivals_per_hour or 3 * th.surge_arrivals_per_10min
    busy = {start: expected for start, expected in hours if expected >= per_hour}
    peak = next((a.params for a in open_alerts if a.kind == AlertKind.PEAK_FORECAST), None)
    if peak is not None and "peak_end_utc" in peak:
        start = datetime.fromisoformat(peak["peak_start_utc"])
        end = datetime.fromisoformat(peak["peak_end_utc"])
        expected = float(peak["expected"])
    else:
        lead = timedelta(minutes=th.peak_lead_min)
        ahead = [s for s in sorted(busy) if s - lead <= now < s + PEAK_HOUR]
        if not ahead:
            return Signal(AlertKind.PEAK_FORECAST, "forecast", False, {})
        start = end = ahead[0]
        expected = 0.0
    while end in busy:
        expected = max(expected, busy[end])
        end += PEAK_HOUR
    if now >= end:
        return Signal(AlertKind.PEAK_FORECAST, "forecast", False, {})
    tz = ZoneInfo(cfg.timezone)
    params = {
        "peak_start": f"{start.astimezone(tz):%H:%M}",
        "peak_end": f"{end.astimezone(tz):%H:%M}",
        "peak_start_utc": start.isoformat(),
        "peak_end_utc": end.isoformat(),
        "expected": expected,
        "threshold": per_hour,
        **staffing(counters),
    }
    return Signal(AlertKind.PEAK_FORECAST, "forecast", True, params)
