"""Peak alerts that say which hours they cover (issue #17, item 7).

The peak-ahead alert names its hours, stays open from its lead time to the end of the peak
whatever the forecast then says of the running hour, is extended visibly when the hour after
it turns busy, and says the peak is over when it resolves; the live surge says so too.
The hall is in Shanghai (UTC+8); the clock starts at 01:30 UTC (09:30 local).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lobbywatch.clock import FixedClock
from server.alerts.model import UpdateEvent
from server.alerts.templates import render

from .helpers_forecast import HourlyForecast
from .helpers_hall import Hall, hall

H = timedelta(hours=1)


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 23, hour, minute, tzinfo=UTC)


def busy_11_to_13(site_id: str, clock: FixedClock) -> tuple[Hall, HourlyForecast]:
    """Forecast: 11:00 and 12:00 local (03:00, 04:00 UTC) busy (120 an hour is the figure)."""
    forecast = HourlyForecast(clock, {utc(2): 40.0, utc(3): 150.0, utc(4): 130.0, utc(5): 60.0})
    return Hall(hall(site_id), clock, forecast=forecast), forecast


def run_to(h: Hall, when: datetime) -> None:
    h.run((when - h.clock.now()).total_seconds(), step=60)


def steps(h: Hall) -> list[UpdateEvent]:
    """The peak alert's lifecycle steps (escalation, unanswered, goes on beside them)."""
    return [u.event for u in h.events("peak_forecast") if u.event != UpdateEvent.ESCALATED]


def test_a_peak_ahead_alert_stays_open_from_its_lead_time_to_the_end_of_the_peak(
    site_id: str, clock: FixedClock
) -> None:
    """Acceptance: open at 10:30 (lead 30 min), still open through 11:00-13:00 although the
    forecast of the running hour drops at 11:10, resolved at 13:00 -- one alert, no flapping."""
    h, forecast = busy_11_to_13(site_id, clock)
    run_to(h, utc(2, 29))
    assert h.fired("peak_forecast") == []
    run_to(h, utc(2, 30))
    [fired] = h.fired("peak_forecast")
    assert fired.at == utc(2, 30)
    p = fired.alert.params
    assert (p["peak_start"], p["peak_end"], p["expected"]) == ("11:00", "13:00", 150.0)
    assert render(fired.alert, "en")[0] == "Busy hours ahead: 11:00–13:00"
    assert render(fired.alert, "zh-CN")[0] == "即将进入高峰：11:00–13:00"
    run_to(h, utc(3, 10))  # the peak has begun: the alert it announced stays open
    forecast.hours[utc(3)] = 50.0  # the running hour's forecast moves: still the same peak
    run_to(h, utc(4, 59))
    assert steps(h) == [UpdateEvent.FIRED]
    assert h.open("peak_forecast")[0].params["peak_end"] == "13:00"
    run_to(h, utc(5, 1))
    [resolved] = h.events("peak_forecast", UpdateEvent.RESOLVED)
    assert resolved.at == utc(5)
    assert h.fired("peak_forecast") == [fired]
    run_to(h, utc(7))
    assert steps(h) == [UpdateEvent.FIRED, UpdateEvent.RESOLVED]


def test_a_peak_that_runs_on_is_extended_visibly(site_id: str, clock: FixedClock) -> None:
    h, forecast = busy_11_to_13(site_id, clock)
    run_to(h, utc(4, 20))
    [fired] = h.fired("peak_forecast")
    forecast.hours[utc(5)] = 140.0  # 13:00-14:00 turns busy: the peak runs on
    run_to(h, utc(4, 22))
    [extended] = h.events("peak_forecast", UpdateEvent.EXTENDED)
    assert extended.alert.id == fired.alert.id
    assert (extended.alert.params["peak_start"], extended.alert.params["peak_end"]) == ("11:00", "14:00")
    assert extended.notify
    # where the alert went (its routes, and the escalation steps it reached), as it is sent
    assert set(fired.channels) <= set(extended.channels)
    assert h.notifier.channels_for(fired.alert.id, UpdateEvent.EXTENDED) == set(extended.channels)
    title, body = render(extended.alert, "en", UpdateEvent.EXTENDED)
    assert title == "[Extended] Busy hours extended: 11:00–14:00"
    assert "extended to 14:00" in body
    title_zh, body_zh = render(extended.alert, "zh-CN", UpdateEvent.EXTENDED)
    assert title_zh.startswith("[延长] ")
    assert "延长至14:00" in body_zh
    run_to(h, utc(5, 59))  # told once, and no longer resolved at 13:00
    assert steps(h) == [UpdateEvent.FIRED, UpdateEvent.EXTENDED]
    run_to(h, utc(6, 1))
    [resolved] = h.events("peak_forecast", UpdateEvent.RESOLVED)
    assert resolved.at == utc(6)


def test_a_resolved_peak_says_it_is_over(site_id: str, clock: FixedClock) -> None:
    h, _forecast = busy_11_to_13(site_id, clock)
    run_to(h, utc(5, 1))
    [resolved] = h.events("peak_forecast", UpdateEvent.RESOLVED)
    assert render(resolved.alert, "en", UpdateEvent.RESOLVED) == (
        "[Resolved] Busy hours over: 11:00–13:00",
        "Busy hours 11:00–13:00 are over: back to the usual arrangements.",
    )
    title, body = render(resolved.alert, "zh-CN", UpdateEvent.RESOLVED)
    assert "高峰已结束" in title + body
    assert "预案" not in body  # not the playbook again


def test_a_peak_ahead_alert_survives_a_restart_with_its_hours(site_id: str, clock: FixedClock) -> None:
    """A new engine on the same store takes the open peak back and still ends it at 13:00."""
    h, forecast = busy_11_to_13(site_id, clock)
    run_to(h, utc(3, 30))
    [fired] = h.fired("peak_forecast")
    forecast.hours[utc(3)] = 0.0
    again = Hall(h.cfg, clock, store=h.store, forecast=forecast)
    run_to(again, utc(4, 59))
    assert steps(again) == []
    run_to(again, utc(5, 1))
    [resolved] = again.events("peak_forecast", UpdateEvent.RESOLVED)
    assert resolved.alert.id == fired.alert.id


def test_a_resolved_surge_says_it_is_over(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("entrance", occupancy=1, entered_total=0, arrivals_total=0)
    h.run(20)
    h.zone("entrance", occupancy=1, entered_total=35, arrivals_total=35)
    [fired] = h.fired("peak_surge")
    assert "playbook" in render(fired.alert, "en")[1]
    h.run(900, step=10)
    [resolved] = h.events("peak_surge", UpdateEvent.RESOLVED)
    title, body = render(resolved.alert, "en", UpdateEvent.RESOLVED)
    assert title == "[Resolved] Arrivals surge over"
    assert body.startswith("The arrivals surge is over: under 21 arrivals in the last 10 min")
    title_zh, body_zh = render(resolved.alert, "zh-CN", UpdateEvent.RESOLVED)
    assert "客流激增已结束" in title_zh + body_zh
    assert "预案" not in body_zh
