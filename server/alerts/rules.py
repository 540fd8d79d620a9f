"""The floor rules as data (:data:`RULES`) and as functions from hall state to signals.

A rule never fires an alert itself. It turns what it sees into a :class:`Signal` per
subject: ``on=True`` (past the raise threshold), ``on=False`` (past the clear threshold)
or ``on=None`` (in the hysteresis band between the two). The engine applies hold times,
clear holds, flap suppression and hold-back uniformly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from lobbywatch.config.site import SiteConfig, Thresholds
from lobbywatch.protocol.enums import CounterStatus, Severity, ZoneKind
from lobbywatch.protocol.messages import ZoneState
from server.alerts.model import AlertKind


class ForecastProvider(Protocol):
    """The server's arrivals forecast: (hour start, expected arrivals in that hour), UTC."""

    def forecast(self, site: str) -> Sequence[tuple[datetime, float]]: ...


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """How one alert kind behaves: who gets it, how bad it is, how long it must hold."""

    kind: AlertKind
    audience: tuple[str, ...]
    severity: Severity
    hold_s: str | float = 0.0
    """Raise hold: seconds, or the name of a :class:`Thresholds` field holding seconds."""
    clear_hold_s: float | None = None
    """Clear hold; ``None``: the site policy's default."""
    what_zh: str = ""
    what_en: str = ""


RULES: dict[str, RuleSpec] = {
    spec.kind: spec
    for spec in (
        RuleSpec(AlertKind.CROWDING, ("manager", "guide"), Severity.WARNING, "crowding_hold_s"),
        RuleSpec(AlertKind.LONG_WAIT, ("guide",), Severity.WARNING),
        RuleSpec(AlertKind.EXPECTED_WAIT, ("manager",), Severity.WARNING),
        RuleSpec(AlertKind.NO_UPSELL, ("counter",), Severity.INFO),
        RuleSpec(AlertKind.TRANSACTION_OVERTIME, ("manager", "counter"), Severity.INFO),
        RuleSpec(AlertKind.PEAK_FORECAST, ("manager",), Severity.WARNING, 0.0, 0.0),
        RuleSpec(AlertKind.PEAK_SURGE, ("manager",), Severity.WARNING, 0.0, 300.0),
        RuleSpec(AlertKind.DEVICE_FAULT, ("guide", "manager", "vendor"), Severity.WARNING, 0.0, 0.0),
        RuleSpec(
            AlertKind.DEVICE_OFFLINE, ("manager", "vendor"), Severity.WARNING, "device_offline_grace_s", 0.0
        ),
        RuleSpec(AlertKind.KIOSK_CAPACITY, ("manager", "guide"), Severity.CRITICAL),
        RuleSpec(AlertKind.LOITERING, ("guide",), Severity.INFO),
        RuleSpec(AlertKind.SENSING_BLIND, ("manager",), Severity.WARNING, 0.0, 0.0),
    )
}

EXPECTED_WAIT_CLEAR_RATIO = 0.9
SURGE_CLEAR_RATIO = 0.7
SURGE_WINDOW = timedelta(minutes=10)
WAIT_ZONES = (ZoneKind.QUEUE, ZoneKind.WAITING, ZoneKind.CONSULTATION)
LOITER_ZONES = (ZoneKind.ENTRANCE, ZoneKind.EXPERIENCE)


def hall_open(cfg: SiteConfig, now: datetime) -> bool:
    """Whether ``now`` falls in the hall's opening hours (its own time zone)."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(cfg.timezone))
    for period in cfg.opening_hours:
        if any(day.number == local.weekday() for day in period.days) and (
            period.open <= local.time().replace(tzinfo=None) < period.close
        ):
            return True
    return False


def hold_seconds(spec: RuleSpec, thresholds: Thresholds, override: dict[str, float]) -> float:
    if spec.kind in override:
        return override[spec.kind]
    if isinstance(spec.hold_s, str):
        return float(getattr(thresholds, spec.hold_s))
    return spec.hold_s


@dataclass(slots=True)  # not frozen: several per message, and frozen init costs 3x
class Signal:
    """What a rule sees about one subject now.

    ``detail`` is the alert's text parameters, or a function that makes them: most signals
    say "nothing to report" about a subject with nothing pending, and the engine drops those
    without reading :attr:`params` (rules run for every message).
    """

    kind: AlertKind
    subject: str
    on: bool | None
    detail: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)
    since: datetime | None = None
    severity: Severity | None = None
    zone: str | None = None
    device: str | None = None
    vendor: str | None = None
    camera: str | None = None
    """Camera whose data this rests on: held back while that camera is blind."""

    @property
    def params(self) -> dict[str, Any]:
        if callable(self.detail):
            self.detail = self.detail()
        return self.detail


def _named(name_en: str, name_zh: str) -> dict[str, str]:
    return {"en": name_en, "zh-CN": name_zh}


def zone_name(cfg: SiteConfig, zone_id: str) -> dict[str, str]:
    try:
        zone = cfg.zone(zone_id)
    except KeyError:
        return _named(zone_id, zone_id)
    if zone.name is None:
        return _named(zone_id, zone_id)
    return _named(zone.name.en, zone.name.zh_cn)


def _hysteresis(value: float, raise_above: float, clear_below: float, *, inclusive: bool) -> bool | None:
    if (value >= raise_above) if inclusive else (value > raise_above):
        return True
    if value < clear_below:
        return False
    return None


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
        on = _hysteresis(z.occupancy, cap, cap * th.crowding_clear_ratio, inclusive=False)
        yield Signal(
            AlertKind.CROWDING,
            subject,
            on,
            lambda: {"where": zone_name(cfg, z.zone), "occupancy": z.occupancy, "capacity": cap},
            **common,
        )
    wait = z.longest_wait_s or 0.0
    if z.kind in WAIT_ZONES:
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
        if z.expected_wait_s is not None:
            expected_s = z.expected_wait_s
            max_s = th.max_wait_min * 60
            yield Signal(
                AlertKind.EXPECTED_WAIT,
                subject,
                _hysteresis(expected_s, max_s, max_s * EXPECTED_WAIT_CLEAR_RATIO, inclusive=False),
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
                "counters": ", ".join(counters) or "-",
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


def hall_crowding(cfg: SiteConfig, occupancy: dict[str, float]) -> Signal | None:
    """Whole-hall crowding from the latest occupancy of each zone."""
    cap = cfg.thresholds.hall_capacity
    if cap is None or not occupancy:
        return None
    total = sum(occupancy.values())
    return Signal(
        AlertKind.CROWDING,
        "hall",
        _hysteresis(total, cap, cap * cfg.thresholds.crowding_clear_ratio, inclusive=False),
        lambda: {"where": _named(cfg.name.en, cfg.name.zh_cn), "occupancy": total, "capacity": cap},
    )


def staffing(counters: dict[str, CounterStatus]) -> dict[str, Any]:
    """Counters away and learning, for the busy-hour playbook text."""
    away = sorted(c for c, s in counters.items() if s == CounterStatus.AWAY)
    learning = sorted(c for c, s in counters.items() if s == CounterStatus.LEARNING)
    return {
        "away": {"en": ", ".join(away) or "none", "zh-CN": "、".join(away) or "无"},
        "learning": {"en": ", ".join(learning) or "none", "zh-CN": "、".join(learning) or "无"},
        "away_ids": away,
        "learning_ids": learning,
    }


@dataclass
class ArrivalWindow:
    """Arrivals through entrance zones, from ``entered_total`` deltas, over a sliding window."""

    last_totals: dict[tuple[str, str, int], int] = field(default_factory=dict)
    events: deque[tuple[datetime, int]] = field(default_factory=deque)

    def add(self, z: ZoneState) -> None:
        key = (z.source, z.zone, z.epoch)
        previous = self.last_totals.get(key)
        self.last_totals[key] = z.entered_total
        if previous is None:
            return  # the first reading is a baseline, not arrivals
        delta = z.entered_total - previous
        if delta > 0:
            self.events.append((z.ts, delta))

    def count(self, now: datetime) -> int:
        while self.events and self.events[0][0] <= now - SURGE_WINDOW:
            self.events.popleft()
        return sum(n for _, n in self.events)


def surge_signal(cfg: SiteConfig, arrivals: int, counters: dict[str, CounterStatus]) -> Signal:
    threshold = cfg.thresholds.surge_arrivals_per_10min
    on = _hysteresis(arrivals, threshold, threshold * SURGE_CLEAR_RATIO, inclusive=True)
    params = {"arrivals": arrivals, "threshold": threshold, **staffing(counters)}
    return Signal(AlertKind.PEAK_SURGE, "surge", on, params)


def forecast_signal(
    cfg: SiteConfig,
    hours: Sequence[tuple[datetime, float]],
    now: datetime,
    counters: dict[str, CounterStatus],
) -> Signal:
    """On from ``peak_lead_min`` before a forecast peak hour until that hour ends."""
    from zoneinfo import ZoneInfo

    th = cfg.thresholds
    per_hour = cfg.notifications.policy.peak_arrivals_per_hour or 3 * th.surge_arrivals_per_10min
    lead = timedelta(minutes=th.peak_lead_min)
    for start, expected in sorted(hours):
        if expected >= per_hour and start - lead <= now < start + timedelta(hours=1):
            local = start.astimezone(ZoneInfo(cfg.timezone))
            params = {
                "peak_start": local.strftime("%H:%M"),
                "peak_start_utc": start.isoformat(),
                "expected": expected,
                "threshold": per_hour,
                **staffing(counters),
            }
            return Signal(AlertKind.PEAK_FORECAST, "forecast", True, params)
    return Signal(AlertKind.PEAK_FORECAST, "forecast", False, {})
