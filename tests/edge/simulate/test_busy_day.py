"""Acceptance (issue #17, item 7): a whole ordinary day of a simulated hall through the engine.

The telecom hall's ``normal`` day (a morning peak around 10:00, an afternoon one around 15:00,
no surge), its entrance readings fed to the real alert engine with a forecast made of the
same weekday a week before (its counted arrivals per hour, as the server's profile holds
them): no surge alert fires all day, and each peak-ahead alert opens its lead time before
a run of busy forecast hours, names those hours and stays open until they end.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest

from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import NORMAL
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import Envelope, ZoneState
from server.alerts.model import UpdateEvent
from tests.edge.simulate.helpers_simulate import TELECOM, hall
from tests.server.alerts.helpers_forecast import HourlyForecast
from tests.server.alerts.helpers_hall import Hall

#: Two simulated days of 9 hours (about a CPU minute): an acceptance run, not part of ``-m unit``.
pytestmark = pytest.mark.slow

WEEK_BEFORE = "2026-11-16T01:00:00Z"  # Monday 09:00 in Shanghai, a week before the day
DAY = "2026-11-23T01:00:00Z"
HOURS = 9  # 09:00-18:00, the hall's opening hours
TICK_S = 2.0
ENGINE_EVERY = 5  # the engine's timers every 10 s, as the server's run
H = timedelta(hours=1)


def entrance_readings(messages: list[Envelope]) -> list[ZoneState]:
    return [m for m in messages if isinstance(m, ZoneState) and m.kind == ZoneKind.ENTRANCE]


def arrivals_per_hour(site: SiteConfig, start: str, seed: int) -> Counter[datetime]:
    """A day of the hall: its entrance zones' counted arrivals per hour (``arrivals_total`` deltas)."""
    clock = FixedClock.at(start)
    sim = HallSimulator(site, clock, random.Random(seed), NORMAL, tick_s=TICK_S, devices=False)
    last: dict[tuple[str, str], int] = {}
    per_hour: Counter[datetime] = Counter()
    messages = sim.start()
    for _ in range(round(HOURS * 3600 / TICK_S)):
        for z in entrance_readings(messages):
            total = z.arrivals_total if z.arrivals_total is not None else z.entered_total
            previous = last.get((z.source, z.zone), total)
            last[(z.source, z.zone)] = total
            per_hour[z.ts.replace(minute=0, second=0, microsecond=0)] += max(0, total - previous)
        clock.advance(TICK_S)
        messages = sim.step()
    return per_hour


def with_peak_figure(site: SiteConfig, per_hour: float) -> SiteConfig:
    policy = site.notifications.policy.model_copy(update={"peak_arrivals_per_hour": per_hour})
    notifications = site.notifications.model_copy(update={"policy": policy})
    return site.model_copy(update={"notifications": notifications})


def busy_runs(hours: dict[datetime, float], figure: float) -> list[tuple[datetime, datetime]]:
    """(start, end) of each run of consecutive hours at ``figure`` or more."""
    runs: list[tuple[datetime, datetime]] = []
    for start in sorted(h for h, n in hours.items() if n >= figure):
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + H)
        else:
            runs.append((start, start + H))
    return runs


def test_an_ordinary_day_raises_no_surge_and_each_peak_ahead_alert_covers_its_hours() -> None:
    site = hall(TELECOM)
    before = arrivals_per_hour(site, WEEK_BEFORE, seed=3)
    hours = {start + timedelta(weeks=1): float(n) for start, n in before.items()}
    figure = 0.8 * max(hours.values())  # the hall's busiest hours are its peaks
    runs = busy_runs(hours, figure)
    assert runs, hours
    site = with_peak_figure(site, figure)
    clock = FixedClock.at(DAY)
    h = Hall(site, clock, forecast=HourlyForecast(clock, hours))
    sim = HallSimulator(site, clock, random.Random(4), NORMAL, tick_s=TICK_S, devices=False)
    messages = sim.start()
    for step in range(1, round(HOURS * 3600 / TICK_S) + 1):
        for z in entrance_readings(messages):
            h.send(z)
        clock.advance(TICK_S)
        if step % ENGINE_EVERY == 0:
            h.engine.tick()
        messages = sim.step()
    assert h.fired("peak_surge") == [], [u.alert.params for u in h.fired("peak_surge")]
    lead = timedelta(minutes=site.thresholds.peak_lead_min)
    fired = h.fired("peak_forecast")
    resolved = h.events("peak_forecast", UpdateEvent.RESOLVED)
    print(f"forecast figure {figure:.0f}/h, peaks {[(f'{s:%H:%M}', f'{e:%H:%M}') for s, e in runs]} UTC")
    assert len(fired) == len(resolved) == len(runs), (runs, fired, resolved)
    for opened, over, (start, end) in zip(fired, resolved, runs, strict=True):
        assert opened.alert.params["peak_start_utc"] == start.isoformat()
        assert over.alert.params["peak_end_utc"] == end.isoformat()
        # the forecast is read once a minute: each step within a minute of when it is due
        # (the lead time before a peak at opening is before the engine's first tick)
        due = max(start - lead, datetime.fromisoformat(DAY))
        assert due <= opened.at < due + timedelta(minutes=1)
        assert end <= over.at < end + timedelta(minutes=1)  # open until the end of its peak
    assert h.events("peak_forecast", UpdateEvent.EXTENDED) == []  # the forecast knew every hour
