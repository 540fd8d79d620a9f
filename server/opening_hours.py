"""A hall's opening hours as time: the UTC intervals it is open within a period, how much
opening time lies between two instants, and when a given amount of it will have passed.

The one implementation of opening time on the server: reports (availability), the forecast
(open hours) and the vendor service levels (targets counted within opening hours) use it.
Periods are the stored form, ``[{days: [mon, ...], open: "HH:MM", close: "HH:MM"}]``
(``sites.opening_hours``; :func:`config_periods` gives them for a hall configuration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lobbywatch.config.site import SiteConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval = tuple[datetime, datetime]
Periods = Sequence[Mapping[str, Any]]

SEARCH_DAYS = 400
"""How far ahead :func:`when_open_for` looks (a hall open less than this is never due)."""


def config_periods(cfg: SiteConfig) -> list[dict[str, Any]]:
    """The opening periods of a hall configuration, in the stored form."""
    from server.storage.repo import opening_hours_json

    periods: list[dict[str, Any]] = json.loads(opening_hours_json(cfg))
    return periods


def opening_intervals(timezone: str, periods: Periods, start: datetime, end: datetime) -> list[Interval]:
    """The opening hours within [start, end), as merged UTC intervals."""
    tz = ZoneInfo(timezone)
    out: list[Interval] = []
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        wd = WEEKDAYS[day.weekday()]
        for p in periods:
            if wd not in p["days"]:
                continue
            a = datetime.combine(day, time.fromisoformat(p["open"]), tz).astimezone(UTC)
            b = datetime.combine(day, time.fromisoformat(p["close"]), tz).astimezone(UTC)
            a, b = max(a, start), min(b, end)
            if a < b:
                out.append((a, b))
        day += timedelta(days=1)
    return merge(out)


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, overlapping or touching intervals joined."""
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def overlap(xs: list[Interval], ys: list[Interval]) -> float:
    """Seconds two sets of intervals share."""
    total = 0.0
    for a, b in xs:
        for c, d in ys:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                total += (hi - lo).total_seconds()
    return total


def length(xs: list[Interval]) -> float:
    """Total seconds of the intervals."""
    return sum((b - a).total_seconds() for a, b in xs)


def open_seconds(timezone: str, periods: Periods, start: datetime, end: datetime) -> float:
    """Seconds of opening time in [start, end) (0 when end is not after start)."""
    return length(opening_intervals(timezone, periods, start, end)) if end > start else 0.0


def when_open_for(timezone: str, periods: Periods, start: datetime, seconds: float) -> datetime | None:
    """The instant at which ``seconds`` of opening time will have passed since ``start``
    (None if not within :data:`SEARCH_DAYS`)."""
    left = seconds
    day_start = start
    for _ in range(SEARCH_DAYS):
        day_end = day_start + timedelta(days=1)
        for a, b in opening_intervals(timezone, periods, day_start, day_end):
            span = (b - a).total_seconds()
            if span >= left:
                return a + timedelta(seconds=left)
            left -= span
        day_start = day_end
    return None
